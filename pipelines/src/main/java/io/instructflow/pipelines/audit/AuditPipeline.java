package io.instructflow.pipelines.audit;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.blend.BlendPipeline;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;

/**
 * The {@code audit} command: every record of one or more datasets (our outputs, or foreign data) gets a
 * {@link RecordAudit} line in {@code REPORT/data/} (input order), in parallel; the report then counts
 * them into {@value #REPORT}: composition by origin dataset, license, generator model, pipeline step
 * (rows that went through it) and language, the lineage depth distribution, and the records that
 * conflict with the intended use, by kind of conflict; {@link AuditHtml} draws the same as one page.
 */
public final class AuditPipeline {
  private AuditPipeline() {}

  /** The report file, in the report folder. */
  public static final String REPORT = "audit.json";

  /**
   * An audit run.
   *
   * @param inputs output folders (their {@code data/} is read), files or globs
   * @param report the report folder
   * @param use {@code commercial} or {@code research}
   * @param terms the license and model-terms table
   * @param runner where to run
   */
  public record Config(List<String> inputs, String report, String use, AuditTerms terms, Runner runner) {
    public Config {
      inputs = List.copyOf(inputs);
      Objects.requireNonNull(report, "report");
      Objects.requireNonNull(terms, "terms");
      if (inputs.isEmpty()) {
        throw new IllegalArgumentException("give at least one --in");
      }
      if (!use.equals("commercial") && !use.equals("research")) {
        throw new IllegalArgumentException("--intended-use must be commercial or research, got '" + use + "'");
      }
    }
  }

  /** Runs the audit; returns the summary (the report is beside it). */
  public static RunSummary run(Config c, PrintStream console) throws InputFiles.InputException, IOException {
    List<ReadOptions> reads = new ArrayList<>();
    List<String> empty = new ArrayList<>();
    for (String in : c.inputs()) {
      OutputLayout.requireComplete(in);
      String path = BlendPipeline.readPath(in);
      java.nio.file.Path p = java.nio.file.Paths.get(path);
      if (java.nio.file.Files.isDirectory(p) && java.nio.file.Files.exists(p.getParent().resolve(OutputLayout.SUMMARY))) {
        try (java.util.stream.Stream<java.nio.file.Path> w = java.nio.file.Files.list(p)) {
          if (w.noneMatch(f -> f.getFileName().toString().endsWith(".jsonl"))) {
            empty.add(in);
            continue;
          }
        }
      }
      reads.add(new ReadOptions(path, null, null, "unknown", 1 << 20));
    }
    if (reads.isEmpty()) {
      throw new IllegalArgumentException("nothing to audit: " + c.inputs() + " hold no records");
    }
    Map<String, Object> cfg = new LinkedHashMap<>();
    cfg.put("inputs", c.inputs());
    cfg.put("intendedUse", c.use());
    cfg.put("report", c.report());
    cfg.put("runner", c.runner().describe());
    PipelineRun run = PipelineRun.startMany("audit", c.runner(), reads, c.report(), cfg, console);
    empty.forEach(e -> run.report().note("no records in " + e + " (its data/ is empty)"));
    ReadRecords.Result r = run.readAll();
    run.write(r.examples().apply("Audit", ParDo.of(new AuditFn(c.terms(), c.use())))
        .setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(RecordAudit.class))), OutputLayout.Kind.DATA, "Audits");
    run.write(r.rejects(), OutputLayout.Kind.REJECTS, "Rejects");
    run.execute("read+audit+write", Progress.READ, Progress.DECIDED);
    RunSummary s = run.finish(100_000, null, null);
    Map<String, Object> report = report(run.layout(), c);
    run.layout().writeFile(REPORT, Json.pretty(report) + "\n");
    run.layout().writeFile(AuditHtml.FILE, AuditHtml.render(report, c.inputs()));
    io.instructflow.pipelines.runtime.Manifest.write(run.layout(), "audit");
    print(report, console);
    console.println("  report: " + run.layout().file(AuditHtml.FILE) + " and " + run.layout().file(REPORT));
    return s;
  }

  /** One record's audit line. */
  static final class AuditFn extends DoFn<KV<OrderKey, Example>, KV<OrderKey, RecordAudit>> {
    private static final long serialVersionUID = 1L;
    private final AuditTerms terms;
    private final String use;

    AuditFn(AuditTerms terms, String use) {
      this.terms = terms;
      this.use = use;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, OutputReceiver<KV<OrderKey, RecordAudit>> out) {
      Progress.add(Progress.DECIDED, 1);
      out.output(KV.of(kv.getKey(), RecordAudit.of(kv.getValue(), terms, use)));
    }
  }

  /** Counts the audit lines into the report. */
  static Map<String, Object> report(OutputLayout layout, Config c) throws IOException {
    Map<String, Long> dataset = new TreeMap<>();
    Map<String, Long> license = new TreeMap<>();
    Map<String, Long> generator = new TreeMap<>();
    Map<String, Long> step = new TreeMap<>();
    Map<String, Long> language = new TreeMap<>();
    Map<String, Long> depth = new TreeMap<>();
    Map<String, Long> flagKinds = new TreeMap<>();
    Map<String, Long> flags = new TreeMap<>();
    List<Map<String, Object>> flagged = new ArrayList<>();
    long rows = 0;
    long flaggedRows = 0;
    for (String f : layout.shardFiles(OutputLayout.Kind.DATA)) {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(
          Channels.newInputStream(FileSystems.open(FileSystems.matchNewResource(f, false))), StandardCharsets.UTF_8))) {
        String line;
        while ((line = in.readLine()) != null) {
          JsonNode n = Json.mapper().readTree(line);
          rows++;
          dataset.merge(n.path("dataset").asText(), 1L, Long::sum);
          license.merge(join(n.path("licenses")), 1L, Long::sum);
          generator.merge(n.path("generators").isEmpty() ? "(none)" : join(n.path("generators")), 1L, Long::sum);
          java.util.Set<String> seenSteps = new java.util.TreeSet<>();
          n.path("steps").forEach(x -> seenSteps.add(x.asText()));
          seenSteps.forEach(x -> step.merge(x, 1L, Long::sum));
          language.merge(n.path("language").asText("und"), 1L, Long::sum);
          depth.merge(String.valueOf(n.path("depth").asInt()), 1L, Long::sum);
          if (!n.path("flags").isEmpty()) {
            flaggedRows++;
            java.util.Set<String> kinds = new java.util.TreeSet<>();
            n.path("flags").forEach(x -> {
              flags.merge(x.asText(), 1L, Long::sum);
              kinds.add(x.asText().substring(0, x.asText().indexOf(':')));
            });
            kinds.forEach(k -> flagKinds.merge(k, 1L, Long::sum));
            if (flagged.size() < 10_000) {
              Map<String, Object> m = new LinkedHashMap<>();
              m.put("id", n.path("id").asText());
              m.put("location", n.path("location").asText());
              m.put("flags", Json.mapper().convertValue(n.path("flags"), List.class));
              flagged.add(m);
            }
          }
        }
      }
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("intendedUse", c.use());
    out.put("inputs", c.inputs());
    out.put("rows", rows);
    out.put("flaggedRows", flaggedRows);
    out.put("flaggedByKind", flagKinds);
    out.put("flags", flags);
    Map<String, Object> comp = new LinkedHashMap<>();
    comp.put("dataset", dataset);
    comp.put("license", license);
    comp.put("generator", generator);
    comp.put("step", step);
    comp.put("language", language);
    out.put("composition", comp);
    out.put("lineageDepth", depth);
    out.put("derivedFrom", derivedShares(c.inputs()));
    out.put("flaggedRecords", flagged);
    out.put("flaggedRecordsListed", flagged.size() + " of " + flaggedRows + " (all flagged rows are in data/ with their flags)");
    return out;
  }

  /**
   * For the generated rows (those with parents) of the audited outputs: how many rows' worth derives from
   * each root dataset and from each root record (the 50 largest), each row's weight split equally among
   * its parents down to the roots. Parents are
   * looked up among the records of the audited outputs (their kept, filtered, round and epoch records);
   * a root outside them counts under {@code outside the audited inputs}.
   */
  static Map<String, Object> derivedShares(List<String> inputs) throws IOException {
    // the index holds the generated rows' ancestors only, found level by level: a million imported rows
    // with no parents need no index at all
    Set<String> wanted = new HashSet<>();
    forEachDataRecord(inputs, r -> wanted.addAll(AuditTrace.parents(r)));
    Map<String, JsonNode> index = new HashMap<>();
    for (int level = 0; !wanted.isEmpty() && level <= 64; level++) {
      index = AuditTrace.index(inputs, wanted);
      Set<String> more = new HashSet<>();
      for (JsonNode n : index.values()) {
        for (String parent : AuditTrace.parents(n)) {
          if (!wanted.contains(parent)) {
            more.add(parent);
          }
        }
      }
      if (more.isEmpty()) {
        break;
      }
      wanted.addAll(more);
    }
    Map<String, JsonNode> lineage = index;
    Map<String, Double> byRoot = new TreeMap<>();
    Map<String, Double> bySeed = new TreeMap<>();
    long[] generated = {0};
    forEachDataRecord(inputs, r -> {
      if (AuditTrace.parents(r).isEmpty()) {
        return;
      }
      generated[0]++;
      AuditTrace.rootShares(lineage, r).forEach((k, v) ->
          byRoot.merge(k.startsWith("id:") ? "(outside the audited inputs)" : k, v, Double::sum));
      AuditTrace.rootIdShares(lineage, r).forEach((k, v) -> bySeed.merge(k, v, Double::sum));
    });
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("generatedRows", generated[0]);
    Map<String, Double> rounded = new TreeMap<>();
    byRoot.forEach((k, v) -> rounded.put(k, Math.round(v * 100) / 100.0));
    out.put("rowsByRootDataset", rounded);
    List<Map<String, Object>> seeds = new ArrayList<>();
    bySeed.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()))
        .limit(50).forEach(e -> {
          Map<String, Object> m = new LinkedHashMap<>();
          m.put("id", e.getKey());
          m.put("rows", Math.round(e.getValue() * 100) / 100.0);
          JsonNode r = lineage.get(e.getKey());
          m.put("dataset", r == null ? "(outside the audited inputs)" : r.path("provenance").path("origin").path("dataset").asText());
          String t = r == null ? "" : r.path("instruction").asText("");
          m.put("text", t.length() > 100 ? t.substring(0, 100) + "…" : t);
          seeds.add(m);
        });
    out.put("topRoots", seeds);
    out.put("roots", bySeed.size());
    return out;
  }

  /** Every record of the audited outputs' {@code data/} folders, in order, read one line at a time. */
  private static void forEachDataRecord(List<String> inputs, java.util.function.Consumer<JsonNode> each) throws IOException {
    for (String in : inputs) {
      java.nio.file.Path data = java.nio.file.Paths.get(BlendPipeline.readPath(in));
      if (!java.nio.file.Files.isDirectory(data)) {
        continue;
      }
      try (java.util.stream.Stream<java.nio.file.Path> w = java.nio.file.Files.list(data)) {
        for (java.nio.file.Path f : w.filter(p -> p.getFileName().toString().endsWith(".jsonl")).sorted().toList()) {
          try (BufferedReader r = java.nio.file.Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null) {
              each.accept(Json.mapper().readTree(line));
            }
          }
        }
      }
    }
  }

  private static String join(JsonNode arr) {
    List<String> l = new ArrayList<>();
    arr.forEach(x -> l.add(x.asText()));
    return String.join(" + ", l);
  }

  @SuppressWarnings("unchecked")
  static void print(Map<String, Object> r, PrintStream out) {
    out.printf(Locale.ROOT, "%naudit (%s use): %,d rows, %,d flagged%n", r.get("intendedUse"), r.get("rows"), r.get("flaggedRows"));
    ((Map<String, Long>) r.get("flags")).forEach((f, n) -> out.printf(Locale.ROOT, "  flag %-60s %,d%n", f, n));
    Map<String, Object> comp = (Map<String, Object>) r.get("composition");
    for (String k : List.of("license", "generator", "dataset")) {
      out.printf("  by %s:%n", k);
      ((Map<String, Long>) comp.get(k)).entrySet().stream()
          .sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(10)
          .forEach(e -> out.printf(Locale.ROOT, "    %-58s %,d%n", e.getKey(), e.getValue()));
    }
  }
}
