package io.instructflow.pipelines.runtime;

import io.instructflow.pipelines.io.HandOff;
import io.instructflow.pipelines.io.InputFile;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.InputNames;
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
  private List<InputFile> files;
  /** For a run over several sources: each source's options and its files (global indexes). */
  private List<ReadOptions> sourceReads = List.of();
  private List<List<InputFile>> sourceFiles = List.of();
  private final OutputLayout layout;
  private final RunReport report;
  private final Pipeline pipeline;
  private final PrintStream console;
  private PipelineResult result;
  private long pipelineMillis;
  /** In a fused run: the run whose kept records this one reads in the same pipeline, else null. */
  private PipelineRun after;
  /** In a fused run: whether this run hands its kept records on, and, once written, what it hands on. */
  private boolean handsOn;
  private HandOff handOff;
  /** The shard size {@link #finish} publishes with, given before {@link #write}: the next run in a fused run numbers shards with it. */
  private long shardSize = Long.MAX_VALUE;

  /**
   * How a run shares its pipeline in a fused recipe run (issue 20): {@code after}, the run whose kept
   * records it reads in the same pipeline instead of its {@code --in} (null: it reads its input), and
   * {@code handsOn}, whether it hands its own kept records on to the next run.
   */
  public record Fusion(PipelineRun after, boolean handsOn) {
    /** A run alone: it reads its input and runs its own pipeline. */
    public static final Fusion NONE = new Fusion(null, false);
  }

  /** A command's pipeline, built, and what finishes the command once the pipeline ran. */
  @FunctionalInterface
  public interface Finish {
    /** Runs what comes after the pipeline (ordered passes, notes) and publishes; returns the summary. */
    RunSummary after(PipelineResult result) throws IOException;
  }

  /**
   * A command built into a run: {@link #runAlone} runs and finishes it; a fused run runs several parts'
   * shared pipeline once and then finishes each in order.
   *
   * @param run the run
   * @param stage how the run's summary names the pipeline's time
   * @param counters the progress counters to show while it runs
   * @param finish what comes after the pipeline
   */
  public record Part(PipelineRun run, String stage, List<String> counters, Finish finish) {
    public Part {
      counters = List.copyOf(counters);
    }

    /** Runs the pipeline with progress, then finishes. */
    public RunSummary runAlone() throws IOException {
      return finish.after(run.execute(stage, counters.toArray(String[]::new)));
    }
  }

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
    return start(command, runner, read, out, config, console, Fusion.NONE);
  }

  /**
   * {@link #start}, or in a fused run ({@code fusion.after()} non-null) a run that reads the kept records
   * of that run in its pipeline: nothing is listed, since they are published only after the pipeline
   * ({@link #readFrom} checks them then).
   */
  public static PipelineRun start(String command, Runner runner, ReadOptions read, String out, Map<String, ?> config,
      PrintStream console, Fusion fusion) throws InputFiles.InputException, IOException {
    if (fusion.after() != null) {
      Storage.require("--out", out);
      PipelineRun first = fusion.after();
      OutputLayout layout = new OutputLayout(out);
      layout.lock(command);
      layout.prepare();
      RunReport report = new RunReport(command, runner.describe(), config, List.of());
      console.printf("%s: the records %s keeps, in the same pipeline (fused) -> %s (%s)%n", command,
          first.layout.root(), layout.root(), runner.describe());
      PipelineRun run = new PipelineRun(command, read, List.of(), layout, report, first.pipeline, console);
      run.after = first;
      run.handsOn = fusion.handsOn();
      return run;
    }
    return start(command, runner, read, out, config, console, fusion.handsOn());
  }

  private static PipelineRun start(String command, Runner runner, ReadOptions read, String out, Map<String, ?> config,
      PrintStream console, boolean handsOn) throws InputFiles.InputException, IOException {
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
    PipelineRun run = new PipelineRun(command, read, files, layout, report, Pipeline.create(options), console);
    run.handsOn = handsOn;
    return run;
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

  /**
   * What names a record's input file by its source index, for rejects made after reading: the listed
   * files, or in a fused run the shards the run before will publish.
   */
  public InputNames inputNames() {
    return after == null ? InputNames.of(inputPaths()) : InputNames.shardsOf(after.layout.root(), read.datasetName());
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

  /**
   * Adds the reader of the input to the pipeline: of the input files, or in a fused run of the records
   * the run before hands on ({@link HandOff}).
   */
  public ReadRecords.Result read() {
    if (after != null) {
      if (after.handOff == null) {
        throw new IllegalStateException(after.command + " hands nothing on: it wrote no data/ in the pipeline");
      }
      return pipeline.apply(name("Read"), after.handOff.reader(read, layout.countsDir()));
    }
    return pipeline.apply(name("Read"), read.reader(files).withCountsDir(layout.countsDir()));
  }

  /**
   * Writes keyed records as JSON lines, in input order, into the output folder {@code kind}; in a fused
   * run that hands on, {@code data/}'s records are also handed to the next run.
   */
  public <T> void write(PCollection<KV<OrderKey, T>> records, OutputLayout.Kind kind, String name) {
    PCollection<KV<OrderKey, String>> lines = records.apply(name(name + "AsJson"), WriteOrdered.<T>asJsonLines());
    if (handsOn && kind == OutputLayout.Kind.DATA) {
      if (handOff != null) {
        throw new IllegalStateException(command + " writes data/ twice: a fused run hands on one set of records");
      }
      handOff = HandOff.of(lines.apply(name("Write" + name), WriteOrdered.handingOn(layout.staging(kind))), layout,
          shardSize);
    } else {
      lines.apply(name("Write" + name), WriteOrdered.to(layout.staging(kind)));
    }
  }

  /** Sets the shard size {@link #finish} will publish with, before {@link #write}: a run that hands on needs it. */
  public PipelineRun shardSize(long shardSize) {
    this.shardSize = shardSize;
    return this;
  }

  /** A transform name, prefixed with the command's in a fused run, where several commands share the pipeline. */
  private String name(String name) {
    return after == null && !handsOn ? name : command + "." + name;
  }

  /**
   * In a fused run, after the run before has published: lists its {@code data/} as {@code --in} would and
   * checks that the hand-off named the same files; they become this run's inputs in its summary.
   *
   * @throws InputFiles.InputException as reading that output would (e.g. it kept no records)
   * @throws IllegalStateException when the hand-off named other files than were published (a defect)
   */
  public void readFrom() throws InputFiles.InputException {
    if (after == null) {
      return;
    }
    List<InputFile> published = InputFiles.expand(InputFiles.resolve(read.in()), read.datasetName());
    for (InputFile f : published) {
      InputFile named = InputFiles.publishedShard(after.layout, f.index(), read.datasetName());
      if (!named.equals(f)) {
        throw new IllegalStateException("the fused run named " + named + " but --in " + read.in() + " lists " + f);
      }
    }
    files = published;
    List<String> paths = new ArrayList<>();
    files.forEach(f -> paths.add(f.path()));
    report.inputs(paths);
  }

  /** Runs the pipeline to completion, showing progress of {@code counters}, timed as {@code stage}. */
  public PipelineResult execute(String stage, String... counters) {
    long t0 = System.nanoTime();
    try (Progress.Ticker t = Progress.start(command, counters, console)) {
      result = pipeline.run();
      result.waitUntilFinish();
    }
    pipelineMillis = (System.nanoTime() - t0) / 1_000_000;
    report.stage(stage, pipelineMillis);
    return result;
  }

  /** How long the pipeline ran, in milliseconds (in a fused run, the one shared pipeline); 0 before it ran. */
  public long pipelineMillis() {
    return pipelineMillis;
  }

  /**
   * Runs the one pipeline that {@code parts} share (a fused run, the first part's), with progress of all
   * their counters under {@code label}, and records its time in each part's summary as
   * {@code <stage> (fused: <label>)}.
   */
  public static PipelineResult executeFused(List<Part> parts, String label, PrintStream console) {
    java.util.Set<String> counters = new java.util.LinkedHashSet<>();
    parts.forEach(p -> counters.addAll(p.counters()));
    Pipeline shared = parts.get(0).run().pipeline;
    for (Part p : parts) {
      if (p.run().pipeline != shared) {
        throw new IllegalArgumentException(p.run().command + " is not in the pipeline of " + parts.get(0).run().command);
      }
    }
    long t0 = System.nanoTime();
    PipelineResult result;
    try (Progress.Ticker t = Progress.start(label, counters.toArray(String[]::new), console)) {
      result = shared.run();
      result.waitUntilFinish();
    }
    long ms = (System.nanoTime() - t0) / 1_000_000;
    for (Part p : parts) {
      p.run().result = result;
      p.run().pipelineMillis = ms;
      p.run().report.stage(p.stage() + " (fused: " + label + ")", ms);
    }
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
    if (handOff != null && shardSize != this.shardSize) {
      throw new IllegalStateException("handed on for shards of " + this.shardSize + " lines, published with " + shardSize);
    }
    long t1 = System.nanoTime();
    io.instructflow.pipelines.io.FaultPoint.reach("publish.start");
    for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
      layout.publish(k, shardSize);
    }
    long[] readCounts = layout.takeReadCounts();
    if (after != null && readCounts[2] != files.size()) {
      // every shard the hand-off numbered holds records, so it wrote counts: another number is a defect
      throw new IllegalStateException("the fused run read " + readCounts[2] + " shard(s) of " + after.layout.root()
          + " but it published " + files.size());
    }
    if (readCounts[2] != files.size()) {
      report.note("read counts came back from " + readCounts[2] + " of " + files.size() + " input files");
    }
    report.stage("publish+summarize", (System.nanoTime() - t1) / 1_000_000);
    RunSummary s = report.finish(layout, readCounts[0], readCounts[1], keptOverride, maxRejectRatio);
    RunReport.print(s, layout, console);
    return s;
  }
}
