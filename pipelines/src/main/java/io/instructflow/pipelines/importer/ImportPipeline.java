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
import io.instructflow.schemas.io.InputShape;
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
   * @param in a file, a folder or a glob
   * @param out the output folder
   * @param format the shape to force, or null to detect per file
   * @param datasetName dataset name for every record, or null for the default
   * @param license SPDX id for every record
   * @param maxLineBytes longest accepted record, in bytes
   * @param shardSize records per output shard
   * @param maxRejectRatio allowed share of rejects, or null
   * @param runner where to run
   */
  public record Config(
      String in, String out, InputShape format, String datasetName, String license, int maxLineBytes, long shardSize,
      Double maxRejectRatio, Runner runner) {
    public Config {
      Objects.requireNonNull(in, "in");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(license, "license");
      Objects.requireNonNull(runner, "runner");
      if (maxLineBytes < 16) {
        throw new IllegalArgumentException("--max-line-bytes must be at least 16, got " + maxLineBytes);
      }
      if (shardSize < 1) {
        throw new IllegalArgumentException("--shard-size must be positive, got " + shardSize);
      }
      if (maxRejectRatio != null && (maxRejectRatio < 0 || maxRejectRatio > 1)) {
        throw new IllegalArgumentException("--max-reject-ratio must be within [0, 1], got " + maxRejectRatio);
      }
    }

    /** The settings as they go into the run summary. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("in", in);
      m.put("out", out);
      m.put("format", format == null ? "detect" : format.code());
      m.put("datasetName", datasetName == null ? "(default)" : datasetName);
      m.put("license", license);
      m.put("maxLineBytes", maxLineBytes);
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
    List<InputFile> files = InputFiles.expand(c.in(), c.datasetName());
    OutputLayout layout = new OutputLayout(c.out());
    layout.prepare();
    List<String> paths = new ArrayList<>();
    files.forEach(f -> paths.add(f.path()));
    RunReport report = new RunReport("import", c.runner().describe(), c.asMap(), paths);
    console.printf("import: %d input file(s) from %s -> %s (%s)%n", files.size(), c.in(), layout.root(), c.runner().describe());

    Pipeline p = Pipeline.create(options);
    ReadRecords read = ReadRecords.of(files).withLicense(c.license()).withMaxRecordBytes(c.maxLineBytes());
    if (c.format() != null) {
      read = read.withFormat(c.format());
    }
    ReadRecords.Result r = p.apply("Read", read);
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
    long readCount = RunReport.counter(result, ReadRecords.NAMESPACE, ReadRecords.READ);
    long blank = RunReport.counter(result, ReadRecords.NAMESPACE, ReadRecords.BLANK);
    report.stage("publish+summarize", (System.nanoTime() - t1) / 1_000_000);
    RunSummary s = report.finish(layout, readCount, blank, null, c.maxRejectRatio());
    RunReport.print(s, layout, console);
    return s;
  }
}
