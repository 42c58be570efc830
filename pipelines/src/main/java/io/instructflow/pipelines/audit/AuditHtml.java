package io.instructflow.pipelines.audit;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The audit's HTML page ({@value #FILE}): one self-contained file, charts as inline SVG, no script, no
 * network. It is well-formed XML (XHTML), so the test suite checks its DOM with the JDK's parser, and a
 * browser shows it as is. Sections: the verdict for the intended use, the flags, composition by
 * dataset, license, generator, step and language, the drop funnel of each audited output and of a
 * blend's sources (read, then each step's drops by reason, then kept), the lineage-depth distribution,
 * and the first flagged records.
 */
public final class AuditHtml {
  private AuditHtml() {}

  /** The page's file name in the report folder. */
  public static final String FILE = "audit.html";
  static final int BAR_WIDTH = 420;

  static String esc(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '&' -> b.append("&amp;");
        case '"' -> b.append("&quot;");
        case '\'' -> b.append("&#39;");
        default -> {
          if (c < 0x20 && c != '\n' && c != '\t') {
            b.append(' ');
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.toString();
  }

  /** A horizontal bar chart of {@code values} (largest first, at most {@code max} bars) as inline SVG. */
  static String bars(String title, Map<String, Long> values, int max, String color) {
    List<Map.Entry<String, Long>> l = new ArrayList<>(values.entrySet());
    l.sort(Map.Entry.<String, Long>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()));
    return chart(title, l.size() > max ? l.subList(0, max) : l, 40, k -> color);
  }

  /** The drop funnel of one output: read, each step's drops by reason, rejects, kept. */
  static Map<String, Long> funnel(JsonNode summary) {
    Map<String, Long> m = new LinkedHashMap<>();
    JsonNode c = summary.path("counts");
    m.put("read", c.path("read").asLong());
    summary.path("filtered").fields().forEachRemaining(step -> step.getValue().fields().forEachRemaining(r ->
        m.put("− " + step.getKey() + ": " + r.getKey(), r.getValue().asLong())));
    m.put("− rejected", c.path("rejected").asLong());
    m.put("kept", c.path("kept").asLong());
    return m;
  }

  /** Funnel charts keep their order (a funnel reads top-down), so they are drawn without sorting. */
  static String funnelChart(String title, Map<String, Long> f) {
    return chart(title, new ArrayList<>(f.entrySet()), 44,
        k -> k.startsWith("−") ? "#c0504d" : k.equals("kept") ? "#4f9d69" : "#5b7db1");
  }

  /** The bars of {@code rows} in their order, labels cut to {@code labelMax} characters, each bar coloured by its key. */
  private static String chart(String title, List<Map.Entry<String, Long>> rows, int labelMax,
      java.util.function.Function<String, String> color) {
    long top = Math.max(1, rows.stream().mapToLong(Map.Entry::getValue).max().orElse(1));
    StringBuilder b = new StringBuilder();
    b.append("<figure><figcaption>").append(esc(title)).append("</figcaption>\n");
    b.append("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"").append(260 + BAR_WIDTH + 90).append("\" height=\"")
        .append(22 * rows.size() + 8).append("\" role=\"img\" aria-label=\"").append(esc(title)).append("\">\n");
    int y = 4;
    for (Map.Entry<String, Long> e : rows) {
      int w = (int) Math.max(1, Math.round((double) e.getValue() / top * BAR_WIDTH));
      String label = e.getKey().length() > labelMax ? e.getKey().substring(0, labelMax - 1) + "…" : e.getKey();
      b.append(String.format(Locale.ROOT, "<text x=\"254\" y=\"%d\" text-anchor=\"end\">%s</text>", y + 14, esc(label)));
      b.append(String.format(Locale.ROOT, "<rect x=\"260\" y=\"%d\" width=\"%d\" height=\"16\" fill=\"%s\"><title>%s: %,d</title></rect>",
          y, w, color.apply(e.getKey()), esc(e.getKey()), e.getValue()));
      b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">%,d</text>%n", 266 + w, y + 14, e.getValue()));
      y += 22;
    }
    b.append("</svg></figure>\n");
    return b.toString();
  }

  @SuppressWarnings("unchecked")
  static Map<String, Long> longs(Object o) {
    Map<String, Long> m = new LinkedHashMap<>();
    ((Map<String, Object>) o).forEach((k, v) -> m.put(k, ((Number) v).longValue()));
    return m;
  }

  /** Renders the page for a report and the audited outputs. */
  @SuppressWarnings("unchecked")
  public static String render(Map<String, Object> report, List<String> inputs) throws IOException {
    StringBuilder b = new StringBuilder();
    b.append("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n");
    b.append("<title>instructflow audit</title>\n<style>\n");
    b.append("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}h1{font-size:1.5em}"
        + "h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}table{border-collapse:collapse}"
        + "td,th{border:1px solid #ddd;padding:3px 8px;font-size:.9em;text-align:left}.flag{color:#a33}"
        + ".ok{color:#363}figure{margin:1em 0}figcaption{font-weight:600;margin-bottom:.3em}"
        + "svg.chart text{font-size:12px;fill:#333}\n");
    b.append("</style>\n</head>\n<body>\n");
    long rows = ((Number) report.get("rows")).longValue();
    long flagged = ((Number) report.get("flaggedRows")).longValue();
    b.append("<h1>Audit for ").append(esc(String.valueOf(report.get("intendedUse")))).append(" use</h1>\n");
    b.append("<p id=\"verdict\" class=\"").append(flagged == 0 ? "ok" : "flag").append("\">")
        .append(String.format(Locale.ROOT, "%,d of %,d rows conflict with %s use.", flagged, rows, report.get("intendedUse")))
        .append("</p>\n<p>Audited: ");
    for (String in : inputs) {
      b.append("<code>").append(esc(in)).append("</code> ");
    }
    b.append("</p>\n<h2>Flags</h2>\n<table id=\"flags\"><tr><th>flag</th><th>rows</th></tr>\n");
    longs(report.get("flags")).forEach((f, n) -> b.append("<tr><td class=\"flag\">").append(esc(f)).append("</td><td>")
        .append(String.format(Locale.ROOT, "%,d", n)).append("</td></tr>\n"));
    b.append("</table>\n<h2>Composition</h2>\n");
    Map<String, Object> comp = (Map<String, Object>) report.get("composition");
    String[][] charts = {{"dataset", "Rows by origin dataset", "#5b7db1"}, {"license", "Rows by license", "#8064a2"},
        {"generator", "Rows by generator model", "#4bacc6"}, {"step", "Rows by pipeline step", "#9bbb59"},
        {"language", "Rows by language", "#f79646"}};
    for (String[] c : charts) {
      b.append(bars(c[1], longs(comp.get(c[0])), 15, c[2]));
    }
    b.append("<h2>Drop funnel</h2>\n");
    for (String in : inputs) {
      Path dir = Paths.get(in);
      Path sum = dir.resolve(OutputLayout.SUMMARY);
      if (Files.isRegularFile(sum)) {
        JsonNode s = Json.mapper().readTree(sum.toFile());
        b.append(funnelChart(s.path("command").asText() + " → " + dir.getFileName(), funnel(s)));
      }
      for (String spec : List.of("blend-spec.json")) {
        Path sp = dir.resolve(spec);
        if (!Files.isRegularFile(sp)) {
          continue;
        }
        for (JsonNode src : Json.mapper().readTree(sp.toFile()).path("sources")) {
          // the spec's paths are relative to where the spec was; the demo and most users keep it beside the output
          Path srcSum = dir.resolve(src.path("path").asText()).resolve(OutputLayout.SUMMARY);
          if (!Files.isRegularFile(srcSum) && dir.toAbsolutePath().getParent() != null) {
            srcSum = dir.toAbsolutePath().getParent().resolve(src.path("path").asText()).resolve(OutputLayout.SUMMARY);
          }
          if (Files.isRegularFile(srcSum)) {
            JsonNode s = Json.mapper().readTree(srcSum.toFile());
            b.append(funnelChart("source " + src.path("name").asText(src.path("path").asText()) + ": " + s.path("command").asText(),
                funnel(s)));
          }
        }
      }
    }
    Map<String, Object> derived = (Map<String, Object>) report.get("derivedFrom");
    if (derived != null && ((Number) derived.get("generatedRows")).longValue() > 0) {
      b.append("<h2>Generated rows by root</h2>\n");
      Map<String, Long> roots = new LinkedHashMap<>();
      ((Map<String, Object>) derived.get("rowsByRootDataset")).forEach((k, v) -> roots.put(k, Math.round(((Number) v).doubleValue())));
      b.append(bars(String.format(Locale.ROOT, "%,d generated rows, each split equally among its parents down to the roots",
          ((Number) derived.get("generatedRows")).longValue()), roots, 15, "#4f9d69"));
    }
    b.append("<h2>Lineage depth</h2>\n");
    b.append(bars("Rows by number of derivation steps (0: as imported)", longs(report.get("lineageDepth")), 20, "#7f7f7f"));
    b.append("<h2>Flagged records</h2>\n<table id=\"flagged\"><tr><th>id</th><th>location</th><th>flags</th></tr>\n");
    List<Map<String, Object>> fr = (List<Map<String, Object>>) report.get("flaggedRecords");
    for (Map<String, Object> r : fr.subList(0, Math.min(200, fr.size()))) {
      b.append("<tr><td><code>").append(esc(String.valueOf(r.get("id")))).append("</code></td><td>")
          .append(esc(String.valueOf(r.get("location")))).append("</td><td class=\"flag\">")
          .append(esc(String.join("; ", (List<String>) r.get("flags")))).append("</td></tr>\n");
    }
    b.append("</table>\n<p>").append(String.format(Locale.ROOT, "%,d of %,d flagged records shown; all are in data/ and audit.json.",
        Math.min(200, fr.size()), flagged)).append("</p>\n</body>\n</html>\n");
    return b.toString();
  }
}
