package io.instructflow.pipelines.runtime;

import io.instructflow.pipelines.io.InputFile;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.io.WriteOrdered;
import io.instructflow.schemas.RunSummary;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;

/**
 * The life cycle every command shares: check the input and options before anything runs, prepare the
 * output folder, build a pipeline that reads the input, run it with progress, publish the shards,
 * and turn what was written into the run summary.
 *
 * <pre>{@code
 * PipelineRun run = PipelineRun.start("import", runner, read, out, config, console);
 * ReadRecords.Result r = run.read();
 * run.write(r.examples(), OutputLayout.Kind.DATA, "Data");
 * run.write(r.rejects(), OutputLayout.Kind.REJECTS, "Rejects");
 * run.execute("read+convert+write", Progress.READ);
 * RunSummary s = run.finish(shardSize, null, maxRejectRatio);
 * }</pre>
 */
public final class PipelineRun {
  private final String command;
  private final ReadOptions read;
  private final List<InputFile> files;
  /** For a run over several sources: each source's options and its files (global indexes). */
  private List<ReadOptions> sourceReads = List.of();
  private List<List<InputFile>> sourceFiles = List.of();
  private final OutputLayout layout;
  private final RunReport report;
  private final Pipeline pipeline;
  private final PrintStream console;
  private PipelineResult result;

  private PipelineRun(String command, ReadOptions read, List<InputFile> files, OutputLayout layout, RunReport report,
      Pipeline pipeline, PrintStream console) {
    this.command = command;
    this.read = read;
    this.files = files;
    this.layout = layout;
    this.report = report;
    this.pipeline = pipeline;
    this.console = console;
  }

  /**
   * Lists the input (a bad {@code --in} throws here, before any output is touched; an output folder of
   * ours is read as its {@code data/}, said on the console, see {@link InputFiles#resolve}), then clears
   * the outputs of an earlier run in {@code out} and creates an empty pipeline.
   */
  public static PipelineRun start(String command, Runner runner, ReadOptions read, String out, Map<String, ?> config,
      PrintStream console) throws InputFiles.InputException, IOException {
    Storage.require("--in", read.in());
    Storage.require("--out", out);
    PipelineOptions options = runner.options(command);
    FileSystems.setDefaultPipelineOptions(options);
    InputFiles.Input input = InputFiles.resolve(read.in());
    List<InputFile> files = InputFiles.expand(input, read.datasetName());
    if (input.output()) {
      console.println(input.note(command, "--in"));
    }
    OutputLayout layout = new OutputLayout(out);
    layout.lock(command);
    layout.prepare();
    List<String> paths = new ArrayList<>();
    files.forEach(f -> paths.add(f.path()));
    RunReport report = new RunReport(command, runner.describe(), config, paths);
    console.printf("%s: %d input file(s) from %s -> %s (%s)%n", command, files.size(), read.in(), layout.root(),
        runner.describe());
    return new PipelineRun(command, read, files, layout, report, Pipeline.create(options), console);
  }

  /**
   * Like {@link #start}, over several sources read with their own options (dataset name, license).
   * The files of all sources are numbered one after the other, so input positions never collide;
   * {@link #sourceOfFile} maps a file back to its source.
   */
  public static PipelineRun startMany(String command, Runner runner, List<ReadOptions> reads, String out,
      Map<String, ?> config, PrintStream console) throws InputFiles.InputException, IOException {
    for (ReadOptions r : reads) {
      Storage.require("source", r.in());
    }
    Storage.require("--out", out);
    PipelineOptions options = runner.options(command);
    FileSystems.setDefaultPipelineOptions(options);
    List<InputFile> all = new ArrayList<>();
    List<List<InputFile>> per = new ArrayList<>();
    for (ReadOptions r : reads) {
      List<InputFile> mine = new ArrayList<>();
      InputFiles.Input input = InputFiles.resolve(r.in());
      if (input.output()) {
        console.println(input.note(command, "source"));
      }
      for (InputFile f : InputFiles.expand(input, r.datasetName())) {
        InputFile g = f.at(all.size());
        all.add(g);
        mine.add(g);
      }
      per.add(mine);
    }
    OutputLayout layout = new OutputLayout(out);
    layout.lock(command);
    layout.prepare();
    List<String> paths = new ArrayList<>();
    all.forEach(f -> paths.add(f.path()));
    RunReport report = new RunReport(command, runner.describe(), config, paths);
    console.printf("%s: %d input file(s) from %d source(s) -> %s (%s)%n", command, all.size(), reads.size(), layout.root(),
        runner.describe());
    PipelineRun run = new PipelineRun(command, reads.get(0), all, layout, report, Pipeline.create(options), console);
    run.sourceReads = List.copyOf(reads);
    run.sourceFiles = per;
    return run;
  }

  /** For a run over several sources: the source of each input file, by file index. */
  public List<Integer> sourceOfFile() {
    List<Integer> out = new ArrayList<>();
    for (int s = 0; s < sourceFiles.size(); s++) {
      for (int k = 0; k < sourceFiles.get(s).size(); k++) {
        out.add(s);
      }
    }
    return out;
  }

  /** For a run over several sources: the files of source {@code s}. */
  public List<InputFile> filesOf(int s) {
    return sourceFiles.get(s);
  }

  /** For a run over several sources: every source's reader, their records and rejects flattened. */
  public ReadRecords.Result readAll() {
    org.apache.beam.sdk.values.PCollectionList<org.apache.beam.sdk.values.KV<io.instructflow.pipelines.io.OrderKey,
        io.instructflow.schemas.Example>> ex = org.apache.beam.sdk.values.PCollectionList.empty(pipeline);
    org.apache.beam.sdk.values.PCollectionList<org.apache.beam.sdk.values.KV<io.instructflow.pipelines.io.OrderKey,
        io.instructflow.schemas.Reject>> rej = org.apache.beam.sdk.values.PCollectionList.empty(pipeline);
    for (int s = 0; s < sourceReads.size(); s++) {
      if (sourceFiles.get(s).isEmpty()) {
        continue;
      }
      ReadRecords.Result r = pipeline.apply("Read" + s, sourceReads.get(s).reader(sourceFiles.get(s))
          .withCountsDir(layout.countsDir()));
      ex = ex.and(r.examples());
      rej = rej.and(r.rejects());
    }
    return new ReadRecords.Result(ex.apply("AllRecords", org.apache.beam.sdk.transforms.Flatten.pCollections()),
        rej.apply("AllReadRejects", org.apache.beam.sdk.transforms.Flatten.pCollections()));
  }

  /** The pipeline, for the command's own steps. */
  public Pipeline pipeline() {
    return pipeline;
  }

  /** The input files' paths, by source index. */
  public List<String> inputPaths() {
    List<String> out = new ArrayList<>();
    files.forEach(f -> out.add(f.path()));
    return out;
  }

  /** The output folder. */
  public OutputLayout layout() {
    return layout;
  }

  /** The report, for notes. */
  public RunReport report() {
    return report;
  }

  /** Adds the reader of the input to the pipeline. */
  public ReadRecords.Result read() {
    return pipeline.apply("Read", read.reader(files).withCountsDir(layout.countsDir()));
  }

  /** Writes keyed records as JSON lines, in input order, into the output folder {@code kind}. */
  public <T> void write(PCollection<KV<OrderKey, T>> records, OutputLayout.Kind kind, String name) {
    records
        .apply(name + "AsJson", WriteOrdered.<T>asJsonLines())
        .apply("Write" + name, WriteOrdered.to(layout.staging(kind)));
  }

  /** Runs the pipeline to completion, showing progress of {@code counters}, timed as {@code stage}. */
  public PipelineResult execute(String stage, String... counters) {
    long t0 = System.nanoTime();
    try (Progress.Ticker t = Progress.start(command, counters, console)) {
      result = pipeline.run();
      result.waitUntilFinish();
    }
    report.stage(stage, (System.nanoTime() - t0) / 1_000_000);
    return result;
  }

  /**
   * Runs an order-dependent decision over the records the pipeline staged with
   * {@link io.instructflow.pipelines.io.OrderedPass#stage}, with progress, timed as {@code stage}.
   */
  public io.instructflow.pipelines.io.OrderedPass.Counts pass(String stage, io.instructflow.pipelines.io.OrderedPass.Gate<?> gate)
      throws IOException {
    long t0 = System.nanoTime();
    io.instructflow.pipelines.io.OrderedPass.Counts c;
    try (Progress.Ticker t = Progress.start(command + " " + stage, new String[] {Progress.DECIDED}, console)) {
      c = io.instructflow.pipelines.io.OrderedPass.run(layout, gate);
    }
    report.stage(stage, (System.nanoTime() - t0) / 1_000_000);
    return c;
  }

  /** The attempted value of counter {@code namespace/name} of a finished pipeline, summed over steps. */
  public static long counter(PipelineResult result, String namespace, String name) {
    long sum = 0;
    for (org.apache.beam.sdk.metrics.MetricResult<Long> m : result.metrics().queryMetrics(
        org.apache.beam.sdk.metrics.MetricsFilter.builder()
            .addNameFilter(org.apache.beam.sdk.metrics.MetricNameFilter.named(namespace, name)).build()).getCounters()) {
      sum += m.getAttempted();
    }
    return sum;
  }

  /**
   * Publishes the shards, collects the exact read counts and writes and prints the run summary.
   *
   * @param shardSize records per output shard
   * @param keptOverride the kept count for commands that write no records, else null
   * @param maxRejectRatio the allowed share of rejects, or null
   */
  public RunSummary finish(long shardSize, Long keptOverride, Double maxRejectRatio) throws IOException {
    long t1 = System.nanoTime();
    io.instructflow.pipelines.io.FaultPoint.reach("publish.start");
    for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
      layout.publish(k, shardSize);
    }
    long[] readCounts = layout.takeReadCounts();
    if (readCounts[2] != files.size()) {
      report.note("read counts came back from " + readCounts[2] + " of " + files.size() + " input files");
    }
    report.stage("publish+summarize", (System.nanoTime() - t1) / 1_000_000);
    RunSummary s = report.finish(layout, readCounts[0], readCounts[1], keptOverride, maxRejectRatio);
    RunReport.print(s, layout, console);
    return s;
  }
}
