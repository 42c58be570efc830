package io.instructflow.pipelines.importer;

import io.instructflow.pipelines.io.InputFile;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.io.WriteOrdered;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.RunReport;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import io.instructflow.pipelines.io.ReadOptions;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * The {@code import} command: any supported input shape to our records, with rejects.
 *
 * <p>Reads {@link Config#in} in defined order, converts every record, writes {@code data/} and
 * {@code rejects/} in input order (byte-identical on every run and runner) and the run summary.
 */
public final class ImportPipeline {
  private ImportPipeline() {}

  /**
   * Settings of an import.
   *
   * @param read what to read and how
   * @param out the output folder
   * @param shardSize records per output shard
   * @param maxRejectRatio allowed share of rejects, or null
   * @param runner where to run
   */
  public record Config(ReadOptions read, String out, long shardSize, Double maxRejectRatio, Runner runner) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(runner, "runner");
      if (shardSize < 1) {
        throw new IllegalArgumentException("--shard-size must be positive, got " + shardSize);
      }
      if (maxRejectRatio != null && (maxRejectRatio < 0 || maxRejectRatio > 1)) {
        throw new IllegalArgumentException("--max-reject-ratio must be within [0, 1], got " + maxRejectRatio);
      }
    }

    /** The settings as they go into the run summary. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.put("out", out);
      m.put("shardSize", shardSize);
      if (maxRejectRatio != null) {
        m.put("maxRejectRatio", maxRejectRatio);
      }
      m.put("runner", runner.describe());
      return m;
    }
  }

  /** Runs the import and returns its summary; a bad {@code --in} throws before anything runs. */
  public static RunSummary run(Config c, PrintStream console) throws InputFiles.InputException, IOException {
    PipelineOptions options = c.runner().options("import");
    FileSystems.setDefaultPipelineOptions(options);
    List<InputFile> files = InputFiles.expand(c.read().in(), c.read().datasetName());
    OutputLayout layout = new OutputLayout(c.out());
    layout.prepare();
    List<String> paths = new ArrayList<>();
    files.forEach(f -> paths.add(f.path()));
    RunReport report = new RunReport("import", c.runner().describe(), c.asMap(), paths);
    console.printf("import: %d input file(s) from %s -> %s (%s)%n", files.size(), c.read().in(), layout.root(), c.runner().describe());

    Pipeline p = Pipeline.create(options);
    ReadRecords.Result r = p.apply("Read", c.read().reader(files).withCountsDir(layout.countsDir()));
    r.examples()
        .apply("ExamplesAsJson", WriteOrdered.asJsonLines())
        .apply("WriteData", WriteOrdered.to(layout.staging(OutputLayout.Kind.DATA)));
    r.rejects()
        .apply("RejectsAsJson", WriteOrdered.asJsonLines())
        .apply("WriteRejects", WriteOrdered.to(layout.staging(OutputLayout.Kind.REJECTS)));

    long t0 = System.nanoTime();
    PipelineResult result;
    try (Progress.Ticker t = Progress.start("import", Progress.READ, console)) {
      result = p.run();
      result.waitUntilFinish();
    }
    report.stage("read+convert+write", (System.nanoTime() - t0) / 1_000_000);
    long t1 = System.nanoTime();
    for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
      layout.publish(k, c.shardSize());
    }
    long[] readCounts = layout.takeReadCounts();
    if (readCounts[2] != files.size()) {
      report.note("read counts came back from " + readCounts[2] + " of " + files.size() + " input files");
    }
    long readCount = readCounts[0];
    long blank = readCounts[1];
    report.stage("publish+summarize", (System.nanoTime() - t1) / 1_000_000);
    RunSummary s = report.finish(layout, readCount, blank, null, c.maxRejectRatio());
    RunReport.print(s, layout, console);
    return s;
  }
}
