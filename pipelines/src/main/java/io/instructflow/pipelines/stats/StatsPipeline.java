package io.instructflow.pipelines.stats;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import io.instructflow.pipelines.io.ReadOptions;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Values;

/**
 * The {@code stats} command: counts, composition by dataset / license / format, and per-field length
 * distributions of any supported input, written to {@code OUT/stats.json} and printed.
 */
public final class StatsPipeline {
  /** Name of the statistics file in the output folder. */
  public static final String STATS_FILE = "stats.json";

  private StatsPipeline() {}

  /**
   * Settings of a stats run.
   *
   * @param read what to read and how
   * @param out the output folder
   * @param runner where to run
   */
  public record Config(ReadOptions read, String out, Runner runner) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(runner, "runner");
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.put("out", out);
      m.put("runner", runner.describe());
      return m;
    }
  }

  /** Runs the statistics; returns the run summary (the statistics are in {@code OUT/stats.json}). */
  public static RunSummary run(Config c, PrintStream console) throws InputFiles.InputException, IOException {
    PipelineRun run = PipelineRun.start("stats", c.runner(), c.read(), c.out(), c.asMap(), console);
    run.report().note("stats writes no records: 'kept' counts the records analysed");
    ReadRecords.Result r = run.read();
    r.examples()
        .apply("Records", Values.create())
        .apply("Stats", Combine.globally(new StatsFn()))
        .setCoder(SerializableCoder.of(DatasetStats.class))
        .apply("WriteStats", ParDo.of(new WriteStatsFn(run.layout().file(STATS_FILE))));
    run.write(r.rejects(), OutputLayout.Kind.REJECTS, "Rejects");
    run.execute("read+analyse", Progress.READ);
    JsonNode stats;
    try (InputStream in = Channels.newInputStream(
        FileSystems.open(FileSystems.matchNewResource(run.layout().file(STATS_FILE), false)))) {
      stats = Json.mapper().readTree(in);
    }
    print(stats, console);
    return run.finish(50_000, stats.path("records").asLong(), null);
  }


  /** Prints the statistics as a few short tables. */
  static void print(JsonNode s, PrintStream out) {
    out.printf(Locale.ROOT, "%nrecords: %,d (chat: %,d)%n", s.path("records").asLong(), s.path("chatRecords").asLong());
    for (String group : List.of("byDataset", "byLicense", "byFormat")) {
      out.println(group.substring(2).toLowerCase(Locale.ROOT) + ":");
      Iterator<Map.Entry<String, JsonNode>> it = s.path(group).fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> e = it.next();
        out.printf(Locale.ROOT, "  %-40s %,10d%n", e.getKey(), e.getValue().asLong());
      }
    }
    out.printf(Locale.ROOT, "%-12s %-6s %9s %6s %6s %7s %7s %9s %9s%n", "field", "unit", "present", "min", "p50", "p90", "p99", "max", "mean");
    Iterator<Map.Entry<String, JsonNode>> it = s.path("fields").fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> e = it.next();
      for (String unit : List.of("chars", "words")) {
        JsonNode d = e.getValue().path(unit);
        out.printf(Locale.ROOT, "%-12s %-6s %,9d %6d %6d %7d %7d %9d %9.1f%n", e.getKey(), unit,
            e.getValue().path("present").asLong(), d.path("min").asLong(), d.path("p50").asLong(), d.path("p90").asLong(),
            d.path("p99").asLong(), d.path("max").asLong(), d.path("mean").asDouble());
      }
    }
  }

  /** Merges records into one {@link DatasetStats}. */
  static final class StatsFn extends Combine.CombineFn<Example, DatasetStats, DatasetStats> {
    private static final long serialVersionUID = 1L;

    @Override
    public DatasetStats createAccumulator() {
      return new DatasetStats();
    }

    @Override
    public DatasetStats addInput(DatasetStats acc, Example e) {
      acc.add(e);
      return acc;
    }

    @Override
    public DatasetStats mergeAccumulators(Iterable<DatasetStats> accs) {
      DatasetStats out = new DatasetStats();
      for (DatasetStats a : accs) {
        out.merge(a);
      }
      return out;
    }

    @Override
    public DatasetStats extractOutput(DatasetStats acc) {
      return acc;
    }

    @Override
    public org.apache.beam.sdk.coders.Coder<DatasetStats> getAccumulatorCoder(
        org.apache.beam.sdk.coders.CoderRegistry r, org.apache.beam.sdk.coders.Coder<Example> in) {
      return SerializableCoder.of(DatasetStats.class);
    }
  }

  /** Writes the one statistics element as pretty JSON. */
  static final class WriteStatsFn extends DoFn<DatasetStats, Void> {
    private static final long serialVersionUID = 1L;
    private final String path;

    WriteStatsFn(String path) {
      this.path = path;
    }

    @ProcessElement
    public void process(@Element DatasetStats stats) throws IOException {
      try (OutputStream os = Channels.newOutputStream(
          FileSystems.create(FileSystems.matchNewResource(path, false), "application/json"))) {
        os.write((Json.pretty(stats.toMap()) + "\n").getBytes(StandardCharsets.UTF_8));
      }
    }
  }
}
