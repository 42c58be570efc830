package io.instructflow.pipelines.audit;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.schemas.Json;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * {@code audit trace ID}: a record's chain back to its roots. The record is looked up in the kept and
 * filtered records of the given output folders (and their round and epoch folders); its parents are
 * the ids its steps name ({@code parents}) and an evolution's {@code evol_parent_id}, looked up the same
 * way, until records without parents: the roots, each with its origin row.
 */
public final class AuditTrace {
  private AuditTrace() {}

  /** Reads every record of the folders into an index by id (the first occurrence wins). */
  public static Map<String, JsonNode> index(List<String> dirs) throws IOException {
    return index(dirs, null);
  }

  /** Like {@link #index(List)}, keeping only the records whose id is in {@code only} (null: all). */
  public static Map<String, JsonNode> index(List<String> dirs, Set<String> only) throws IOException {
    Map<String, JsonNode> out = new LinkedHashMap<>();
    for (String d : dirs) {
      Path root = Paths.get(d);
      List<Path> files = new ArrayList<>();
      if (Files.isRegularFile(root)) {
        files.add(root);
      } else if (Files.isDirectory(root)) {
        try (Stream<Path> w = Files.walk(root)) {
          w.filter(p -> p.getFileName().toString().matches("part-\\d+\\.jsonl")
              && (p.getParent().getFileName().toString().equals(OutputLayout.Kind.DATA.dir())
                  || p.getParent().getFileName().toString().equals(OutputLayout.Kind.FILTERED.dir())))
              .sorted().forEach(files::add);
        }
      }
      java.util.Set<Path> outputs = new java.util.TreeSet<>();
      files.forEach(f -> outputs.add(f.toAbsolutePath().getParent().getParent()));
      for (Path o : outputs) {
        // records of a run that did not finish are not traced (issue 21)
        OutputLayout.requireComplete(o.toString());
      }
      for (Path f : files) {
        try (BufferedReader in = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
          String line;
          while ((line = in.readLine()) != null) {
            JsonNode n = Json.mapper().readTree(line);
            if (n.path("id").isTextual() && (only == null || only.contains(n.get("id").asText()))) {
              out.putIfAbsent(n.get("id").asText(), n);
            }
          }
        }
      }
    }
    return out;
  }

  /** The parent ids of a record. */
  public static List<String> parents(JsonNode r) {
    Set<String> out = new java.util.LinkedHashSet<>();
    for (JsonNode s : r.path("provenance").path("steps")) {
      s.path("parents").forEach(p -> out.add(p.asText()));
    }
    if (r.path("metadata").path("evol_parent_id").isTextual()) {
      out.add(r.path("metadata").path("evol_parent_id").asText());
    }
    out.remove(r.path("id").asText());
    return new ArrayList<>(out);
  }

  /** The lineage of {@code id} as a tree: the record, and its parents' lineages. */
  public static Map<String, Object> trace(Map<String, JsonNode> index, String id) {
    return node(index, id, new HashSet<>());
  }

  private static Map<String, Object> node(Map<String, JsonNode> index, String id, Set<String> seen) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", id);
    JsonNode r = index.get(id);
    if (r == null) {
      m.put("found", false);
      return m;
    }
    m.put("found", true);
    m.put("origin", Json.mapper().convertValue(r.path("provenance").path("origin"), Map.class));
    String text = r.path("instruction").asText("");
    if (text.isEmpty() && r.path("messages").size() > 0) {
      text = r.path("messages").get(0).path("content").asText("");
    }
    m.put("text", text.length() > 160 ? text.substring(0, 160) + "…" : text);
    List<Map<String, Object>> steps = new ArrayList<>();
    for (JsonNode s : r.path("provenance").path("steps")) {
      Map<String, Object> st = new LinkedHashMap<>();
      st.put("name", s.path("name").asText());
      st.put("verdict", Json.mapper().convertValue(s.path("verdict"), Map.class));
      st.put("parameters", Json.mapper().convertValue(s.path("parameters"), Map.class));
      if (s.path("model").isObject()) {
        st.put("model", Json.mapper().convertValue(s.path("model"), Map.class));
      }
      if (s.path("prompt").isObject()) {
        st.put("prompt", Json.mapper().convertValue(s.path("prompt"), Map.class));
      }
      if (s.path("seed").isNumber()) {
        st.put("seed", s.path("seed").asLong());
      }
      steps.add(st);
    }
    m.put("steps", steps);
    List<Map<String, Object>> ps = new ArrayList<>();
    if (seen.add(id)) {
      for (String p : parents(r)) {
        ps.add(node(index, p, seen));
      }
    }
    m.put("parents", ps);
    return m;
  }

  /** The tree as indented text. */
  @SuppressWarnings("unchecked")
  public static String text(Map<String, Object> t) {
    StringBuilder b = new StringBuilder();
    write(b, t, "");
    return b.toString();
  }

  @SuppressWarnings("unchecked")
  private static void write(StringBuilder b, Map<String, Object> t, String pad) {
    if (!(Boolean) t.get("found")) {
      b.append(pad).append(t.get("id")).append("  (not in the given inputs)\n");
      return;
    }
    Map<String, Object> o = (Map<String, Object>) t.get("origin");
    b.append(pad).append(t.get("id")).append("  ").append(o.get("location")).append("  dataset ").append(o.get("dataset"))
        .append(", license ").append(o.get("license")).append(", ").append(o.get("format")).append('\n');
    b.append(pad).append("  \"").append(((String) t.get("text")).replace('\n', ' ')).append("\"\n");
    int i = 1;
    for (Map<String, Object> s : (List<Map<String, Object>>) t.get("steps")) {
      Map<String, Object> v = (Map<String, Object>) s.get("verdict");
      b.append(pad).append("  ").append(i++).append(". ").append(s.get("name")).append(": ").append(v.get("outcome"));
      if (v.get("reason") != null) {
        b.append(" (").append(v.get("reason")).append(')');
      }
      if (s.get("model") != null) {
        b.append("  model ").append(((Map<String, Object>) s.get("model")).get("id"));
      }
      if (s.get("prompt") != null) {
        b.append("  template ").append(((Map<String, Object>) s.get("prompt")).get("templateId"));
      }
      if (s.get("seed") != null) {
        b.append("  seed ").append(s.get("seed"));
      }
      b.append("  ").append(Json.line(s.get("parameters"))).append('\n');
    }
    List<Map<String, Object>> ps = (List<Map<String, Object>>) t.get("parents");
    if (ps.isEmpty()) {
      b.append(pad).append("  (root)\n");
    }
    for (Map<String, Object> p : ps) {
      b.append(pad).append("  parent:\n");
      write(b, p, pad + "    ");
    }
  }

  /**
   * How much of a record derives from each root: the record's weight (1) is split equally among its
   * parents, recursively, until records without parents (or parents not in the index, which count as
   * roots by id). Keys are the roots' datasets ({@code id:<id>} for roots outside the index).
   */
  public static Map<String, Double> rootShares(Map<String, JsonNode> index, JsonNode record) {
    Map<String, Double> out = new java.util.TreeMap<>();
    share(index, record, 1.0, out, new HashSet<>(), 0, false);
    return out;
  }

  /** Like {@link #rootShares}, by root record id instead of root dataset. */
  public static Map<String, Double> rootIdShares(Map<String, JsonNode> index, JsonNode record) {
    Map<String, Double> out = new java.util.TreeMap<>();
    share(index, record, 1.0, out, new HashSet<>(), 0, true);
    return out;
  }

  private static void share(Map<String, JsonNode> index, JsonNode r, double w, Map<String, Double> out, Set<String> path,
      int depth, boolean byId) {
    List<String> ps = parents(r);
    String id = r.path("id").asText();
    if (ps.isEmpty() || depth > 64 || !path.add(id)) {
      out.merge(byId ? id : r.path("provenance").path("origin").path("dataset").asText("(unknown)"), w, Double::sum);
      return;
    }
    for (String p : ps) {
      JsonNode pr = index.get(p);
      if (pr == null) {
        out.merge(byId ? p : "id:" + p, w / ps.size(), Double::sum);
      } else {
        share(index, pr, w / ps.size(), out, path, depth + 1, byId);
      }
    }
    path.remove(id);
  }
}
