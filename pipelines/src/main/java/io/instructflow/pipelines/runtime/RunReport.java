package io.instructflow.pipelines.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.io.FileSystems;

/**
 * Collects what a command run did and turns it into its {@link RunSummary}: stage timings as they
 * happen, then counts taken from the files actually written, so the summary describes the output on
 * disk rather than what the code meant to write.
 */
public final class RunReport {
  /** Exit status of a completed run. */
  public static final int EXIT_OK = 0;
  /** Exit status when the run failed or its counts do not reconcile. */
  public static final int EXIT_FAILED = 1;
  /** Exit status when the share of rejects exceeds {@code --max-reject-ratio}. */
  public static final int EXIT_REJECT_RATIO = 3;

  private final String command;
  private final String runner;
  private final Instant started = Instant.now().truncatedTo(ChronoUnit.MILLIS);
  private final List<RunSummary.StageTime> stages = new ArrayList<>();
  private final Map<String, Object> config;
  private List<String> inputs;
  private final List<String> notes = new ArrayList<>();
  private final Map<String, Object> metrics = new TreeMap<>();

  /** The recipe and stage a run belongs to, when a recipe runs it ({@code instructflow run}); else null. */
  private static final InheritableThreadLocal<Map<String, Object>> RECIPE = new InheritableThreadLocal<>();

  /**
   * Names the recipe (name, hash) and stage that the runs started on this thread belong to; their summaries
   * carry it as {@code config.recipe}. Null clears it.
   */
  public static void inRecipe(Map<String, Object> recipe) {
    if (recipe == null) {
      RECIPE.remove();
    } else {
      RECIPE.set(new TreeMap<>(recipe));
    }
  }

  /**
   * @param command the command name
   * @param runner description of the runner
   * @param config the effective configuration (copied into the summary)
   * @param inputs the input files in reading order
   */
  public RunReport(String command, String runner, Map<String, ?> config, List<String> inputs) {
    this.command = command;
    this.runner = runner;
    this.config = new TreeMap<>(config);
    Map<String, Object> recipe = RECIPE.get();
    if (recipe != null) {
      this.config.put("recipe", recipe);
    }
    this.inputs = List.copyOf(inputs);
  }

  /**
   * This JVM's peak heap use so far against its maximum: the sum of the heap pools' peaks, an upper
   * bound (the pools peak at different times). With an embedded master the JVM is the whole run.
   */
  static String memoryNote() {
    long peak = 0;
    for (java.lang.management.MemoryPoolMXBean p : java.lang.management.ManagementFactory.getMemoryPoolMXBeans()) {
      if (p.getType() == java.lang.management.MemoryType.HEAP && p.getPeakUsage() != null) {
        peak += p.getPeakUsage().getUsed();
      }
    }
    return String.format(Locale.ROOT, "memory: peak heap at most %,d MiB of %,d MiB (this JVM)", peak >> 20,
        Runtime.getRuntime().maxMemory() >> 20);
  }

  /** Sets the input files, in reading order, when they are known only after the run started (a fused run). */
  public void inputs(List<String> inputs) {
    this.inputs = List.copyOf(inputs);
  }

  /** Records how long stage {@code name} took. */
  public void stage(String name, long millis) {
    stages.add(new RunSummary.StageTime(name, millis));
  }

  /** Records what step {@code step} measured (see {@link RunSummary#metrics}). */
  public void metrics(String step, Map<String, ?> values) {
    metrics.put(step, new TreeMap<>(values));
  }

  /** Adds a note for the person reading the summary. */
  public void note(String note) {
    notes.add(note);
  }

  /**
   * Builds the summary from the published output, writes {@code run-summary.json}, and returns it.
   *
   * @param layout the output
   * @param read records read (from the reader's per-file counts)
   * @param blankLines blank lines skipped
   * @param keptOverride when non-null, the kept count to report instead of counting {@code data/}
   *     (commands that analyse rather than write records)
   * @param maxRejectRatio the allowed share of rejects, or null for no limit
   */
  public RunSummary finish(OutputLayout layout, long read, long blankLines, Long keptOverride, Double maxRejectRatio)
      throws IOException {
    long kept = keptOverride != null ? keptOverride : layout.countLines(OutputLayout.Kind.DATA);
    long filtered = layout.countLines(OutputLayout.Kind.FILTERED);
    long rejected = layout.countLines(OutputLayout.Kind.REJECTS);
    RunSummary.Counts counts = new RunSummary.Counts(read, kept, filtered, rejected);
    Filtered byStep = filteredByStep(layout);
    String status = "ok";
    if (!counts.reconciles()) {
      status = "failed";
      notes.add(String.format(Locale.ROOT,
          "counts do not reconcile: read %d != kept %d + filtered %d + rejected %d", read, kept, filtered, rejected));
    } else if (maxRejectRatio != null && read > 0 && (double) rejected / read > maxRejectRatio) {
      status = "reject_ratio_exceeded";
      notes.add(String.format(Locale.ROOT,
          "rejected %d of %d records (%.4f), over --max-reject-ratio %s", rejected, read, (double) rejected / read, maxRejectRatio));
    }
    notes.add(memoryNote());
    Map<String, Object> outputs = new LinkedHashMap<>();
    for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
      outputs.put(k.dir(), layout.shardFiles(k).size() + " shard(s) in " + layout.dir(k));
    }
    outputs.put("summary", layout.file(OutputLayout.SUMMARY));
    RunSummary s =
        new RunSummary(
            command, status, runner, started.toString(), stages, counts, byStep.counts, byStep.examples,
            layout.countBy(OutputLayout.Kind.REJECTS, "reason"), counts.reconciles(), blankLines, inputs, outputs,
            config, Versions.all(), metrics, notes);
    layout.writeFile(OutputLayout.SUMMARY, Json.pretty(s) + "\n");
    io.instructflow.pipelines.io.FaultPoint.reach("summary.written");
    Manifest.write(layout, command);
    return s;
  }

  /** Examples kept per step and reason in the summary. */
  static final int EXAMPLES = 3;
  /** Characters of an example's instruction in the summary. */
  static final int EXCERPT = 120;

  /** Filtered counts and the first examples, by the step that dropped each record, then by reason. */
  private record Filtered(Map<String, Map<String, Long>> counts, Map<String, Map<String, List<Map<String, Object>>>> examples) {}

  private static Filtered filteredByStep(OutputLayout layout) throws IOException {
    Map<String, Map<String, Long>> out = new TreeMap<>();
    Map<String, Map<String, List<Map<String, Object>>>> examples = new TreeMap<>();
    for (String f : layout.shardFiles(OutputLayout.Kind.FILTERED)) {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(
          Channels.newInputStream(FileSystems.open(FileSystems.matchNewResource(f, false))), StandardCharsets.UTF_8))) {
        String line;
        while ((line = in.readLine()) != null) {
          JsonNode rec = Json.mapper().readTree(line);
          JsonNode steps = rec.path("provenance").path("steps");
          String step = "(unknown)";
          String reason = "(unknown)";
          JsonNode evidence = null;
          for (JsonNode st : steps) {
            if ("dropped".equals(st.path("verdict").path("outcome").asText())) {
              step = st.path("name").asText();
              reason = st.path("verdict").path("reason").asText();
              evidence = st.path("verdict").path("details");
            }
          }
          out.computeIfAbsent(step, k -> new TreeMap<>()).merge(reason, 1L, Long::sum);
          List<Map<String, Object>> ex = examples.computeIfAbsent(step, k -> new TreeMap<>())
              .computeIfAbsent(reason, k -> new ArrayList<>());
          if (ex.size() < EXAMPLES) {
            ex.add(example(rec, evidence));
          }
        }
      }
    }
    return new Filtered(out, examples);
  }

  private static Map<String, Object> example(JsonNode rec, JsonNode evidence) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", rec.path("id").asText());
    JsonNode loc = rec.path("provenance").path("origin").path("location");
    m.put("location", loc.isTextual() ? loc.asText() : null);
    String text = rec.path("instruction").asText("");
    if (text.isEmpty()) {
      for (JsonNode msg : rec.path("messages")) {
        if (msg.path("role").asText().equals("user")) {
          text = msg.path("content").asText("");
          break;
        }
      }
    }
    m.put("text", excerpt(text, EXCERPT));
    m.put("evidence", evidence == null || !evidence.isObject() ? Map.of() : Json.mapper().convertValue(evidence, Map.class));
    return m;
  }

  /** The start of {@code s} on one line, at most {@code max} code points, with an ellipsis when cut. */
  static String excerpt(String s, int max) {
    String one = s.replaceAll("\\s+", " ").strip();
    if (one.codePointCount(0, one.length()) <= max) {
      return one;
    }
    return one.substring(0, one.offsetByCodePoints(0, max)) + "…";
  }

  /** Exit status for a finished summary. */
  public static int exitCode(RunSummary s) {
    return switch (s.status()) {
      case "ok" -> EXIT_OK;
      case "reject_ratio_exceeded" -> EXIT_REJECT_RATIO;
      default -> EXIT_FAILED;
    };
  }

  /** Prints the short end-of-run summary. */
  public static void print(RunSummary s, OutputLayout layout, PrintStream out) {
    RunSummary.Counts c = s.counts();
    long total = 0;
    for (RunSummary.StageTime t : s.stages()) {
      total += t.millis();
    }
    out.printf(Locale.ROOT, "%n== %s: %s on %s, %.1f s ==%n", s.command(), s.status(), s.runner(), total / 1000.0);
    out.printf(Locale.ROOT, "  read %,d = kept %,d + filtered %,d + rejected %,d  (%s)%n",
        c.read(), c.kept(), c.filtered(), c.rejected(), s.reconciled() ? "reconciled" : "DOES NOT RECONCILE");
    if (s.blankLines() > 0) {
      out.printf(Locale.ROOT, "  blank lines skipped: %,d%n", s.blankLines());
    }
    s.filtered().forEach((step, reasons) -> reasons.forEach((r, n) -> {
      out.printf(Locale.ROOT, "  filtered %-28s %,d%n", r, n);
      List<Map<String, Object>> ex = s.filteredExamples().getOrDefault(step, Map.of()).getOrDefault(r, List.of());
      if (!ex.isEmpty()) {
        Map<String, Object> e = ex.get(0);
        out.printf(Locale.ROOT, "      e.g. %s \"%s\" %s%n", e.get("location"), excerpt(String.valueOf(e.get("text")), 60),
            excerpt(Json.line(e.get("evidence")), 100));
      }
    }));
    s.rejected().forEach((r, n) -> out.printf(Locale.ROOT, "  rejected %-28s %,d%n", r, n));
    for (RunSummary.StageTime t : s.stages()) {
      out.printf(Locale.ROOT, "  stage %-20s %8.1f s%n", t.name(), t.millis() / 1000.0);
    }
    for (String n : s.notes()) {
      out.println("  note: " + n);
    }
    out.println("  output: " + layout.root() + "  (data/, filtered/, rejects/, " + OutputLayout.SUMMARY + ")");
  }
}
