package io.instructflow.pipelines.blend;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.runtime.Versions;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.beam.sdk.io.FileSystems;

/**
 * The dataset card written beside a blend ({@code README.md}): a Hugging Face YAML header (license,
 * languages, size category, task category, the data files of each split) and a body with the
 * composition by source, license, generator model and language, the filters the data went through with
 * their drop counts, and how to reproduce it. Every number is counted from the rows written in
 * {@code data/} and the run's own summary, never from the plan alone.
 */
public final class DatasetCard {
  private DatasetCard() {}

  /** What the card counts over the written rows. */
  static final class Counts {
    final Map<String, Long> bySource = new TreeMap<>();
    final Map<String, Long> byLicense = new TreeMap<>();
    final Map<String, Long> byOriginLicense = new TreeMap<>();
    final Map<String, Long> byModel = new TreeMap<>();
    final Map<String, Long> byLanguage = new TreeMap<>();
    final Map<String, Long> bySplit = new TreeMap<>();
    final Map<String, Long> bySteps = new TreeMap<>();
    long rows;
    long tokens;
  }

  /** Counts the rows of {@code data/}. */
  static Counts count(OutputLayout layout) throws IOException {
    Counts c = new Counts();
    for (String f : layout.shardFiles(OutputLayout.Kind.DATA)) {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(
          Channels.newInputStream(FileSystems.open(FileSystems.matchNewResource(f, false))), StandardCharsets.UTF_8))) {
        String line;
        while ((line = in.readLine()) != null) {
          JsonNode r = Json.mapper().readTree(line);
          JsonNode b = r.path("metadata").path(BlendPipeline.NAMESPACE);
          c.rows++;
          c.bySource.merge(b.path("source").asText(), 1L, Long::sum);
          c.byLicense.merge(b.path("license").asText(), 1L, Long::sum);
          c.bySplit.merge(b.path("split").asText(), 1L, Long::sum);
          c.byLanguage.merge(b.path("language").asText("und"), 1L, Long::sum);
          c.byOriginLicense.merge(r.path("provenance").path("origin").path("license").asText("unknown"), 1L, Long::sum);
          TreeSet<String> models = new TreeSet<>();
          TreeSet<String> steps = new TreeSet<>();
          for (JsonNode st : r.path("provenance").path("steps")) {
            String name = st.path("name").asText();
            steps.add(name);
            if (st.path("model").isObject() && !name.startsWith("filter")) {
              models.add(st.path("model").path("id").asText());
            }
          }
          c.byModel.merge(models.isEmpty() ? "(none: not model-generated)" : String.join(" + ", models), 1L, Long::sum);
          steps.forEach(s -> c.bySteps.merge(s, 1L, Long::sum));
          c.tokens += Tokens.of(Json.mapper().treeToValue(r, io.instructflow.schemas.Example.class));
        }
      }
    }
    return c;
  }

  static String sizeCategory(long n) {
    if (n < 1_000) {
      return "n<1K";
    }
    if (n < 10_000) {
      return "1K<n<10K";
    }
    if (n < 100_000) {
      return "10K<n<100K";
    }
    if (n < 1_000_000) {
      return "100K<n<1M";
    }
    return n < 10_000_000 ? "1M<n<10M" : "10M<n<100M";
  }

  /** Hugging Face license ids are lower case SPDX ids. */
  static String hfLicense(String spdx) {
    return spdx.toLowerCase(Locale.ROOT);
  }

  private static String pct(long part, long whole) {
    return whole == 0 ? "0%" : String.format(Locale.ROOT, "%.1f%%", 100.0 * part / whole);
  }

  private static void table(StringBuilder b, String what, Map<String, Long> m, long total) {
    b.append("| ").append(what).append(" | rows | share |\n| --- | ---: | ---: |\n");
    m.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
        .forEach(e -> b.append("| ").append(e.getKey()).append(" | ").append(String.format(Locale.ROOT, "%,d", e.getValue()))
            .append(" | ").append(pct(e.getValue(), total)).append(" |\n"));
    b.append('\n');
  }

  /** Writes {@code README.md} into the blend's output folder. */
  static void write(OutputLayout layout, BlendSpec spec, BlendReport plan, RunSummary summary, PrintStream console)
      throws IOException {
    layout.writeFile("README.md", render(layout, spec, plan, summary, count(layout)));
    io.instructflow.pipelines.io.FaultPoint.reach("blend.card-written");
    io.instructflow.pipelines.runtime.Manifest.write(layout, "blend");
    console.println("  card: " + layout.file("README.md"));
  }

  static String render(OutputLayout layout, BlendSpec spec, BlendReport plan, RunSummary summary, Counts c) throws IOException {
    StringBuilder b = new StringBuilder();
    b.append("---\n");
    if (c.byLicense.size() == 1) {
      b.append("license: ").append(hfLicense(c.byLicense.keySet().iterator().next())).append('\n');
    } else {
      b.append("license: other\nlicense_name: mixed\nlicense_details: \"rows carry the licenses listed under Composition\"\n");
    }
    List<String> langs = new ArrayList<>();
    c.byLanguage.forEach((l, n) -> {
      if (!l.equals("und") && n * 100 >= c.rows) {
        langs.add(l);
      }
    });
    if (!langs.isEmpty()) {
      b.append("language:\n");
      langs.forEach(l -> b.append("- ").append(l).append('\n'));
    }
    b.append("size_categories:\n- ").append(sizeCategory(c.rows)).append('\n');
    b.append("task_categories:\n- text-generation\n");
    b.append("pretty_name: ").append(Json.line(spec.name())).append('\n');
    b.append("tags:\n- instructflow\n- sft\n");
    String fmt = spec.formats().contains("parquet") ? "parquet" : spec.formats().get(0);
    b.append("configs:\n- config_name: default\n  data_files:\n");
    for (String split : BlendPlan.SPLITS) {
      if (c.bySplit.getOrDefault(split, 0L) > 0) {
        b.append("  - split: ").append(split).append("\n    path: ").append(BlendPipeline.EXPORT).append('/').append(fmt)
            .append('/').append(split).append("-*.").append(Exports.extension(fmt)).append('\n');
      }
    }
    b.append("---\n\n");
    b.append("# ").append(spec.name()).append("\n\n");
    b.append(String.format(Locale.ROOT, "A blend of %d source(s) made by instructflow %s: %,d rows (%s), about %,d tokens "
        + "(estimate: one per CJK character, one per four other characters).%n%n", spec.sources().size(),
        Versions.instructflow(), c.rows, splitText(c.bySplit), c.tokens));
    b.append("## Composition\n\n");
    b.append("| source | license | read | duplicates dropped | available | share | rows | limited by | distinct rows | "
        + "copies per record | validation records |\n");
    b.append("| --- | --- | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: |\n");
    for (int i = 0; i < spec.sources().size(); i++) {
      BlendSpec.Source s = spec.sources().get(i);
      BlendReport.SourceReport r = plan.sources().get(i);
      String share = s.count() != null ? "count " + s.count() : s.fraction() != null ? "fraction " + s.fraction()
          : String.format(Locale.ROOT, "weight %s", r.weight() == null ? "?" : trim(r.weight()));
      b.append(String.format(Locale.ROOT, "| %s | %s | %,d | %,d | %,d | %s | %,d | %s | %,d | %s | %,d |%n", s.name(),
          s.license() == null ? "(each record's)" : s.license(), r.read(), r.duplicates(), r.available(), share, c.bySource.getOrDefault(s.name(), 0L),
          r.limitedBy() == null ? "" : r.limitedBy(), r.selected(),
          r.fullCopies() > 0 ? r.fullCopies() + " (+1 for some)" : "1", r.validation()));
    }
    b.append('\n');
    table(b, "license (the spec's for the source, else the record's origin license)", c.byLicense, c.rows);
    table(b, "origin license (in each record's provenance)", c.byOriginLicense, c.rows);
    table(b, "generator model", c.byModel, c.rows);
    table(b, "language (Lingua, per row)", c.byLanguage, c.rows);
    for (String n : plan.notes()) {
      b.append("Note: ").append(n).append("\n\n");
    }
    if (plan.tagQuotas() != null) {
      // tag quotas (issue 22): each capped value, its cap in rows and the sources' shares of it; with
      // minimums or several tags, each value's cap and minimum, its rows and the sources' rows of it
      for (Map<String, Object> t : plan.tagQuotas()) {
        if (t.containsKey("rows")) {
          List<String> rows = new ArrayList<>();
          if (t.get("sourceRows") instanceof Map<?, ?> m) {
            m.forEach((k, v) -> rows.add(k + " " + v));
          }
          List<String> quota = new ArrayList<>();
          if (t.get("quota") instanceof Map<?, ?> m) {
            m.forEach((k, v) -> quota.add(k + " " + v));
          }
          List<String> bounds = new ArrayList<>();
          if (t.containsKey("minimum")) {
            bounds.add("at least " + t.get("minimum"));
          }
          if (t.containsKey("cap")) {
            bounds.add("at most " + t.get("cap"));
          }
          b.append(String.format(Locale.ROOT, "Tag quota: %s = %s %s rows: %s in the blend (%s; by source: %s).%n%n",
              t.get("tag"), t.get("value"), String.join(", ", bounds), t.get("rows"), String.join(", ", quota),
              String.join(", ", rows)));
          continue;
        }
        List<String> shares = new ArrayList<>();
        if (t.get("sourceCaps") instanceof Map<?, ?> m) {
          m.forEach((k, v) -> shares.add(k + " " + v));
        }
        List<String> quota = new ArrayList<>();
        if (t.get("quota") instanceof Map<?, ?> m) {
          m.forEach((k, v) -> quota.add(k + " " + v));
        }
        b.append(String.format(Locale.ROOT, "Tag quota: %s = %s at most %s rows (%s; by source: %s).%n%n", t.get("tag"),
            t.get("value"), t.get("cap"), String.join(", ", quota), String.join(", ", shares)));
      }
    }
    b.append("## Filters and steps\n\n");
    b.append("Steps in the rows' provenance (rows that went through each):\n\n");
    table(b, "step", c.bySteps, c.rows);
    for (BlendSpec.Source s : spec.sources()) {
      byte[] sum = readIfExists((s.path().endsWith("/") ? s.path() : s.path() + "/") + OutputLayout.SUMMARY);
      if (sum == null) {
        continue;
      }
      RunSummary rs = Json.mapper().readValue(sum, RunSummary.class);
      b.append(String.format(Locale.ROOT, "Source `%s` was written by `%s`: read %,d, kept %,d, filtered %,d, rejected %,d.%n",
          s.name(), rs.command(), rs.counts().read(), rs.counts().kept(), rs.counts().filtered(), rs.counts().rejected()));
      rs.filtered().forEach((step, reasons) -> reasons.forEach((reason, n) ->
          b.append(String.format(Locale.ROOT, "- `%s` dropped %,d as `%s`%n", step, n, reason))));
      b.append('\n');
    }
    b.append("This blend dropped:\n\n");
    summary.filtered().getOrDefault(BlendPipeline.STEP, Map.of()).forEach((reason, n) ->
        b.append(String.format(Locale.ROOT, "- %,d as `%s`%n", n, reason)));
    b.append(String.format(Locale.ROOT, "- %,d unreadable input records (see `rejects/`)%n%n", summary.counts().rejected()));
    b.append("## Reproduce\n\n");
    String specFile = BlendPipeline.specFileName(spec);
    b.append("The spec is `").append(specFile).append("` (SHA-256 `")
        .append(Ids.sha256Hex(spec.specText().getBytes(StandardCharsets.UTF_8))).append("`). With the same inputs:\n\n");
    b.append("```bash\nbin/instructflow blend --spec ").append(specFile).append(" --out OUT\n```\n\n");
    b.append("Same spec, same inputs: the same rows in the same order on any runner. Input files:\n\n");
    b.append("| file | bytes | sha256 |\n| --- | ---: | --- |\n");
    for (String in : summary.inputs()) {
      byte[] bytes = readIfExists(in);
      if (bytes != null) {
        b.append(String.format(Locale.ROOT, "| %s | %,d | `%s` |%n", in.substring(in.lastIndexOf('/') + 1), bytes.length,
            Ids.sha256Hex(bytes)));
      }
    }
    b.append("\n## Files\n\n");
    b.append("- `data/`: the rows as instructflow records (train rows, then validation rows), provenance included\n");
    for (String f : spec.formats()) {
      b.append("- `").append(BlendPipeline.EXPORT).append('/').append(f).append("/`: ").append(describe(f)).append('\n');
    }
    b.append("- `filtered/`: records left out, each with its reason; `rejects/`: unreadable input\n");
    b.append("- `").append(BlendPipeline.PLAN).append("`: the quota computation; `run-summary.json`: counts and timings\n");
    return b.toString();
  }

  private static String describe(String format) {
    return switch (format) {
      case "jsonl" -> "instructflow records, one JSON object per line";
      case "alpaca" -> "JSON arrays of instruction / input / output";
      case "messages" -> "JSON lines with chat `messages` (role, content)";
      case "sharegpt" -> "JSON lines with ShareGPT `conversations` (from, value)";
      case "dpo" -> "JSON lines of DPO pairs: prompt, chosen, rejected (text and chat turns), scores, margin";
      case "parquet" -> "Parquet (id, split, source, license, instruction, input, output, messages, provenance)";
      default -> format;
    };
  }

  private static String splitText(Map<String, Long> splits) {
    List<String> parts = new ArrayList<>();
    for (String s : BlendPlan.SPLITS) {
      if (splits.getOrDefault(s, 0L) > 0) {
        parts.add(String.format(Locale.ROOT, "%,d %s", splits.get(s), s));
      }
    }
    return String.join(", ", parts);
  }

  private static String trim(double d) {
    return java.math.BigDecimal.valueOf(d).round(new java.math.MathContext(6)).stripTrailingZeros().toPlainString();
  }

  /** The bytes of {@code file} on any file system Beam knows (hdfs:// included), or null when it is not there. */
  static byte[] readIfExists(String file) throws IOException {
    org.apache.beam.sdk.io.fs.MatchResult m;
    try {
      m = org.apache.beam.sdk.io.FileSystems.match(file, org.apache.beam.sdk.io.fs.EmptyMatchTreatment.ALLOW);
    } catch (IllegalArgumentException e) {
      return null;
    }
    if (m.status() != org.apache.beam.sdk.io.fs.MatchResult.Status.OK || m.metadata().isEmpty()
        || m.metadata().get(0).resourceId().isDirectory()) {
      return null;
    }
    try (java.io.InputStream is = Channels.newInputStream(org.apache.beam.sdk.io.FileSystems.open(m.metadata().get(0).resourceId()))) {
      return is.readAllBytes();
    }
  }
}
