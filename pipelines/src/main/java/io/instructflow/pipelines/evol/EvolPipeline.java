package io.instructflow.pipelines.evol;

import io.instructflow.generators.evol.Evol;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.Seeds;
import io.instructflow.inference.llama.GgufMetadata;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.pipelines.generate.GenerateRequests;
import io.instructflow.pipelines.io.InputFile;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.ModelCounters;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.RunReport;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stage.ConfigChecks;
import io.instructflow.pipelines.stage.RoundLoop;
import io.instructflow.pipelines.stage.CallModel;
import io.instructflow.pipelines.stage.ModelBatchFn;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RunSummary;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * The {@code evol} command: Evol-Instruct epochs over a dataset, one Beam pipeline per epoch.
 *
 * <p>Epoch 0 reads the input (bad lines to rejects) into the first pool, one lineage per record in
 * input order. Each epoch then sends the pool in batches (formed by key, so every runner makes the same
 * requests) through {@link Evol#evolve}: surviving evolutions go to the epoch's {@code data/} and
 * replace their parents in the next pool; eliminated ones go to {@code filtered/} with the rule and
 * its evidence, and failed requests to {@code rejects/}, their parents staying in the pool. Each epoch
 * folder ({@code OUT/epochs/epoch-NNNN/}) is finished by a {@code done.json} written last; a rerun with
 * the same settings continues after the last finished epoch, and the model calls of an unfinished one
 * come back from the response cache. The final {@code data/} holds every epoch's surviving evolutions
 * (and, with {@code keepOriginal}, the input records first) in epoch order, or with {@link Mix#WIZARDLM}
 * the input records and every epoch's evolutions in one seeded shuffle; {@code filtered/} every
 * elimination, {@code rejects/} bad input lines and failed requests. The claim, the resume,
 * {@code --stop-after-epoch} and the assembly are {@link RoundLoop}'s; this class has the epochs' work.
 *
 * <p>The settings' {@link PromptFormat#AUTO} is resolved first: chat for an endpoint or a GGUF file with
 * a chat template, else text; the resolved format is part of the run's configuration.
 */
public final class EvolPipeline {
  private EvolPipeline() {}

  /** Metrics namespace. */
  public static final String NAMESPACE = "evol";
  static final String NEXT = "next";

  /** How the final {@code data/} is assembled from the epochs. */
  public enum Mix {
    /** Each epoch's surviving evolutions in epoch and lineage order (the input records first with keepOriginal). */
    EPOCHS,
    /**
     * WizardLM's training mix: the input records plus every epoch's surviving evolutions, in one shuffle
     * seeded by the run seed.
     */
    WIZARDLM;

    /** The name on the command line. */
    public String code() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** The mix called {@code name}. */
    public static Mix parse(String name) {
      for (Mix m : values()) {
        if (m.code().equalsIgnoreCase(name == null ? "" : name.trim())) {
          return m;
        }
      }
      throw new IllegalArgumentException("--mix: expected epochs or wizardlm, got '" + name + "'");
    }
  }

  /**
   * Settings of a run.
   *
   * @param read the input
   * @param out output folder
   * @param model the model and its response cache
   * @param settings the evolution settings
   * @param templates folder of prompt-template overrides, or null
   * @param epochs how many epochs
   * @param keepOriginal put the input records into {@code data/} too
   * @param batchSize members per model call
   * @param shardSize records per output shard
   * @param runner where to run
   * @param stopAfterEpoch stop (as if killed) after this epoch, 0 for never: for resume tests
   * @param mix how the final {@code data/} is assembled
   */
  public record Config(ReadOptions read, String out, ModelSpec model, Evol.Settings settings, Path templates, int epochs,
      boolean keepOriginal, int batchSize, long shardSize, Runner runner, int stopAfterEpoch, Mix mix) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(settings, "settings");
      Objects.requireNonNull(mix, "mix");
      ConfigChecks.positive("--epochs", epochs);
      ConfigChecks.modelCall(model, batchSize);
      ConfigChecks.output(out, shardSize, runner);
    }

    /** A run whose data/ is each epoch's evolutions in order ({@link Mix#EPOCHS}). */
    public Config(ReadOptions read, String out, ModelSpec model, Evol.Settings settings, Path templates, int epochs,
        boolean keepOriginal, int batchSize, long shardSize, Runner runner, int stopAfterEpoch) {
      this(read, out, model, settings, templates, epochs, keepOriginal, batchSize, shardSize, runner, stopAfterEpoch,
          Mix.EPOCHS);
    }

    /** A copy with other evolution settings. */
    public Config withSettings(Evol.Settings s) {
      return new Config(read, out, model, s, templates, epochs, keepOriginal, batchSize, shardSize, runner, stopAfterEpoch,
          mix);
    }

    /** A copy with another final mix. */
    public Config withMix(Mix m) {
      return new Config(read, out, model, settings, templates, epochs, keepOriginal, batchSize, shardSize, runner,
          stopAfterEpoch, m);
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.putAll(model.asMap());
      m.put("evol", settings.asMap());
      m.put("templates", templates == null ? "builtin" : templates.toString());
      m.put("epochs", epochs);
      m.put("keepOriginal", keepOriginal);
      m.put("mix", mix.code());
      m.put("batchSize", batchSize);
      m.put("shardSize", shardSize);
      m.put("out", out);
      m.put("runner", runner.describe());
      return m;
    }
  }

  /**
   * What a finished epoch recorded: its pool size, records by folder, the records its steps emitted
   * (counted as they were emitted, for the summary's reconciliation) and the model counters. Epoch 0
   * counts the input instead: lines read, blank lines, usable records (as kept) and rejects.
   */
  record EpochDone(int epoch, long read, long blankLines, long pool, long kept, long filtered, long rejected,
      long records, long requests, long cacheHits, long completionTokens, long millis) implements RoundLoop.ModelCalls {}

  /**
   * Runs the epochs and returns the summary.
   *
   * @throws InvalidModelException when the model file is missing or not GGUF (before anything runs)
   * @throws IllegalStateException when OUT holds epochs of a run with another configuration
   * @throws IllegalArgumentException when a token limit leaves no room for a prompt in the embedded
   *     engine's context per sequence (before anything runs)
   */
  public static RunSummary run(Config c, PrintStream console)
      throws IOException, InvalidModelException, InputFiles.InputException {
    OutputLayout.requireLocal(c.out(), "evol --out");
    GgufMetadata meta = c.model().check();
    c = c.withSettings(c.settings().withFormat(c.settings().format().resolve(c.model().isRemote(),
        meta != null && meta.chatTemplate().isPresent())));
    checkContext(c, meta);
    ModelRef ref = c.model().ref();
    Evol evol;
    try {
      evol = new Evol(c.settings(), c.templates());
    } catch (IllegalArgumentException e) {
      // a template override without the placeholders its prompt needs: a setting, found before the run
      throw io.instructflow.pipelines.runtime.SettingsException.of(e);
    }
    InputFiles.Input input = InputFiles.resolve(c.read().in());
    List<InputFile> files = InputFiles.expand(input, c.read().datasetName());
    if (input.output()) {
      console.println(input.note("evol", "--in"));
    }
    Path out = Paths.get(c.out());
    RoundLoop<EpochDone> loop = RoundLoop.of("evol", "epoch", out, EpochDone.class, c.epochs()).withInputRound()
        .withStopAfter(c.stopAfterEpoch());
    String identity = c.model().identity();
    OutputLayout layout = loop.claim(resumeParams(c, files), evol.templates(), identity, c.settings().asMap(),
        "input, model, templates or evolution settings");
    List<String> inputs = new ArrayList<>();
    files.forEach(f -> inputs.add(f.path()));
    RunReport report = new RunReport("evol", c.runner().describe(), c.asMap(), inputs);
    console.printf(Locale.ROOT, "evol: %d input file(s) from %s, model %s, %d epoch(s), operations %s, prompts as %s "
            + "-> %s (%s)%n", files.size(), c.read().in(), ref.id(), c.epochs(), weights(c.settings()),
        evol.chat() ? "chat messages" : "raw text", out, c.runner().describe());

    RoundLoop.Outcome<EpochDone> epochs = loop.run(new Epochs(c, evol, files, console), report, console);
    List<EpochDone> done = epochs.finished();
    EpochDone d0 = done.get(0);

    long t1 = System.nanoTime();
    boolean originals = c.keepOriginal() || c.mix() == Mix.WIZARDLM;
    long read = d0.rejected() + (originals ? d0.kept() : 0);
    for (EpochDone d : done.subList(1, done.size())) {
      read += d.records();
    }
    if (c.mix() == Mix.WIZARDLM) {
      layout.stageShuffled(loop.layouts(epochs.last()), OutputLayout.Kind.DATA,
          Seeds.derive(c.settings().seed(), "evol/mix-wizardlm"), c.shardSize());
    }
    // the input records (epoch 0's data) only with keepOriginal; with the WizardLM mix data/ is the shuffle
    boolean shuffled = c.mix() == Mix.WIZARDLM;
    boolean keepOriginal = c.keepOriginal();
    loop.assemble(layout, epochs.last(), (k, kind) -> !(kind == OutputLayout.Kind.DATA && shuffled)
        && (k > 0 || kind == OutputLayout.Kind.REJECTS || keepOriginal), c.shardSize());
    report.stage("assemble", (System.nanoTime() - t1) / 1_000_000);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("input_read", d0.read());
    m.put("input_records", d0.kept());
    m.put("epochs", epochs.last());
    long evolved = 0;
    long eliminated = 0;
    for (EpochDone d : done.subList(1, done.size())) {
      evolved += d.kept();
      eliminated += d.filtered();
    }
    m.put("evolved", evolved);
    m.put("eliminated", eliminated);
    RoundLoop.putModelTotals(m, done.subList(1, done.size()));
    report.metrics(NAMESPACE, m);
    if (epochs.last() < c.epochs()) {
      report.note(String.format(Locale.ROOT, "stopped after %d of %d epoch(s); rerun to continue", epochs.last(), c.epochs()));
    }
    report.note("for evol, 'read' counts the records the run produced (every evolution attempt, failed requests) plus "
        + "bad input lines" + (originals ? " and the input records kept (--keep-original or --mix wizardlm)" : "")
        + "; the input records are otherwise consumed, not output");
    if (c.mix() == Mix.WIZARDLM) {
      report.note("data/ is WizardLM's mix: the input records and every epoch's evolutions, shuffled (seeded by --seed)");
    }
    RunSummary s = report.finish(layout, read, d0.blankLines(), null, null);
    RunReport.print(s, layout, console);
    return s;
  }

  /**
   * Refuses token limits that leave no room for a prompt in the embedded engine's context per sequence
   * (every request would fail as too long): the reference's 2,048 tokens need {@code --ctx-per-slot}
   * above 2,048 plus the prompt.
   */
  static void checkContext(Config c, GgufMetadata meta) {
    if (meta == null || !(c.model() instanceof ModelSpec.Local local)) {
      return;
    }
    long ctx = local.contextPerSlot() > 0 ? local.contextPerSlot()
        : Math.min(meta.contextLength().orElse((long) LlamaCppModel.DEFAULT_CONTEXT_PER_SLOT),
            LlamaCppModel.DEFAULT_CONTEXT_PER_SLOT);
    int rewrite = c.settings().evolveParams().maxTokens();
    int response = c.settings().responseParams().maxTokens();
    if (Math.max(rewrite, response) >= ctx) {
      throw new io.instructflow.pipelines.runtime.SettingsException(String.format(Locale.ROOT,
          "--max-tokens %d and --response-max-tokens %d leave "
          + "no room for the prompt in the %d-token context per sequence of %s: give --ctx-per-slot above the prompt "
          + "plus the larger limit (e.g. %d), or smaller limits", rewrite, response, ctx, local.path(),
          Math.max(rewrite, response) + 2048));
    }
  }

  private static String weights(Evol.Settings s) {
    StringBuilder b = new StringBuilder();
    s.weights().forEach((o, w) -> {
      if (w > 0) {
        b.append(b.length() == 0 ? "" : ",").append(o.code()).append('=').append(w);
      }
    });
    return b.toString();
  }

  /**
   * What decides the output besides the templates and the model, except the number of epochs and
   * keep-original: the evolution settings, the read settings and the input files' content.
   */
  static Map<String, Object> resumeParams(Config c, List<InputFile> files) throws IOException {
    Map<String, Object> m = new TreeMap<>();
    m.put("evol", c.settings().asMap());
    m.put("read", c.read().asMap());
    List<String> inputs = new ArrayList<>();
    for (InputFile f : files) {
      Path p = Paths.get(f.path());
      inputs.add(Files.isRegularFile(p) ? Ids.sha256Hex(Files.readAllBytes(p)) : f.path());
    }
    m.put("inputs", inputs);
    return m;
  }

  /** Epoch 0: the input read into the first pool ({@code data/}) and its bad lines ({@code rejects/}). */
  private static EpochDone readInput(Config c, List<InputFile> files, Path dir) throws IOException {
    long t0 = System.nanoTime();
    OutputLayout layout = new OutputLayout(dir.toString());
    layout.prepare();
    Pipeline p = Pipeline.create(c.runner().options("evol-read"));
    ReadRecords.Result r = p.apply("Read", c.read().reader(files).withCountsDir(layout.countsDir()));
    RoundLoop.write(r.examples(), layout, OutputLayout.Kind.DATA, "Pool");
    RoundLoop.write(r.rejects(), layout, OutputLayout.Kind.REJECTS, "Rejects");
    p.run().waitUntilFinish();
    for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
      layout.publish(k, Long.MAX_VALUE);
    }
    long[] counts = layout.takeReadCounts();
    long records = layout.countLines(OutputLayout.Kind.DATA);
    EpochDone d = new EpochDone(0, counts[0], counts[1], records, records, 0, layout.countLines(OutputLayout.Kind.REJECTS),
        0, 0, 0, 0, (System.nanoTime() - t0) / 1_000_000);
    return d;
  }

  /** The pool a layout's {@code data/} holds: one member per line, lineage = line index. */
  static List<Evol.Member> pool(OutputLayout layout) throws IOException {
    List<Evol.Member> out = new ArrayList<>();
    for (String shard : layout.shardFiles(OutputLayout.Kind.DATA)) {
      for (String line : Files.readAllLines(Paths.get(shard), StandardCharsets.UTF_8)) {
        out.add(new Evol.Member(out.size(), Json.mapper().readValue(line, Example.class)));
      }
    }
    return out;
  }

  static final TupleTag<KV<OrderKey, Example>> KEPT = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Example>> FILTERED = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Reject>> FAILED = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Example>> POOL = new TupleTag<>() {};

  /**
   * The epochs of one run, for {@link RoundLoop}: epoch 0 reads the input into the first pool, each
   * later epoch evolves the pool the epoch before it left ({@code next/}).
   */
  private static final class Epochs implements RoundLoop.Round<EpochDone> {
    private final Config c;
    private final Evol evol;
    private final List<InputFile> files;
    private final PrintStream console;
    private List<Evol.Member> pool = List.of();

    Epochs(Config c, Evol evol, List<InputFile> files, PrintStream console) {
      this.c = c;
      this.evol = evol;
      this.files = files;
      this.console = console;
    }

    @Override
    public EpochDone run(int epoch, Path dir) throws IOException {
      return epoch == 0 ? readInput(c, files, dir) : runEpoch(c, evol, epoch, pool, dir, console);
    }

    @Override
    public void finished(int epoch, Path dir, EpochDone d, boolean resumed) throws IOException {
      if (epoch == 0) {
        console.printf(Locale.ROOT, "epoch 0: read %d record(s), %d rejected; pool %d%n", d.read(), d.rejected(), d.pool());
        pool = pool(new OutputLayout(dir.toString()));
        return;
      }
      if (!resumed) {
        console.printf(Locale.ROOT, "epoch %d: %d instruction(s) -> %d evolved, %d eliminated, %d rejected; %d request(s), "
            + "%d from the cache; %.1f s%n", epoch, d.pool(), d.kept(), d.filtered(), d.rejected(), d.requests(),
            d.cacheHits(), d.millis() / 1000.0);
      }
      pool = pool(new OutputLayout(dir.resolve(NEXT).toString()));
    }
  }

  private static EpochDone runEpoch(Config c, Evol evol, int epoch, List<Evol.Member> pool, Path dir, PrintStream console)
      throws IOException {
    long t0 = System.nanoTime();
    OutputLayout layout = new OutputLayout(dir.toString());
    OutputLayout next = new OutputLayout(dir.resolve(NEXT).toString());
    layout.prepare();
    next.prepare();
    Pipeline p = Pipeline.create(c.runner().options("evol-epoch-" + epoch));
    List<KV<Integer, Evol.Member>> keyed = new ArrayList<>();
    for (Evol.Member m : pool) {
      keyed.add(KV.of(m.lineage() / c.batchSize(), m));
    }
    KvCoder<OrderKey, Example> exampleCoder = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class));
    PCollectionTuple evolved = p
        .apply("Pool", Create.of(keyed).withCoder(KvCoder.of(VarIntCoder.of(), JsonCoder.of(Evol.Member.class))))
        .apply("Batches", GroupByKey.create())
        .apply("Evolve", ParDo.of(new EvolveFn(evol, c.model(), epoch))
            .withOutputTags(KEPT, TupleTagList.of(FILTERED).and(FAILED).and(POOL)));
    RoundLoop.write(evolved.get(KEPT).setCoder(exampleCoder), layout, OutputLayout.Kind.DATA, "Data");
    RoundLoop.write(evolved.get(FILTERED).setCoder(exampleCoder), layout, OutputLayout.Kind.FILTERED, "Filtered");
    RoundLoop.write(evolved.get(FAILED).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class))), layout,
        OutputLayout.Kind.REJECTS, "Rejects");
    RoundLoop.write(evolved.get(POOL).setCoder(exampleCoder), next, OutputLayout.Kind.DATA, "NextPool");
    PipelineResult result = RoundLoop.runPipeline(p, "epoch " + epoch, console, layout, next);
    EpochDone d = new EpochDone(epoch, 0, 0, pool.size(), layout.countLines(OutputLayout.Kind.DATA),
        layout.countLines(OutputLayout.Kind.FILTERED), layout.countLines(OutputLayout.Kind.REJECTS),
        counter(result, "records"), counter(result, "requests"), counter(result, "cache_hits"),
        counter(result, "completion_tokens"), (System.nanoTime() - t0) / 1_000_000);
    if (next.countLines(OutputLayout.Kind.DATA) != pool.size()) {
      throw new IllegalStateException(String.format("epoch %d: the next pool has %d members, expected %d", epoch,
          next.countLines(OutputLayout.Kind.DATA), pool.size()));
    }
    return d;
  }

  private static long counter(PipelineResult r, String name) {
    return PipelineRun.counter(r, NAMESPACE, name);
  }

  /** One batch of the pool through {@link Evol#evolve}; every member goes on to the next pool. */
  static final class EvolveFn extends ModelBatchFn<Integer, Evol.Member, KV<OrderKey, Example>> {
    private final Evol evol;
    private final int epoch;

    EvolveFn(Evol evol, ModelSpec spec, int epoch) {
      super(NAMESPACE, CallModel.ModelSource.of(spec));
      this.evol = evol;
      this.epoch = epoch;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      List<Evol.Member> batch = sorted(c.element().getValue(), Comparator.comparingInt(Evol.Member::lineage));
      ModelCounters counters = counters();
      Evol.BatchResult r = evol.evolve(epoch, batch, model());
      for (int i = 0; i < batch.size(); i++) {
        Evol.Member m = batch.get(i);
        Evol.Outcome o = r.outcomes().get(i);
        OrderKey key = new OrderKey(epoch, m.lineage(), 0);
        if (o != null) {
          counters.record();
          c.output(o.survived() ? KEPT : FILTERED, KV.of(key, o.record()));
        }
        c.output(POOL, KV.of(new OrderKey(0, m.lineage(), 0), o == null ? m.current() : o.next().current()));
      }
      for (Evol.Failure f : r.failures()) {
        counters.record();
        c.output(FAILED, KV.of(new OrderKey(epoch, f.member().lineage(), 0), GenerateRequests.failedRequest("evol",
            "epoch-" + epoch + "/lineage-" + f.member().lineage(), f.result(), stepOf(f.request().id()), f.member().current())));
      }
    }

    private static String stepOf(String requestId) {
      return requestId.startsWith("judge/") ? Evol.STEP_JUDGE
          : requestId.startsWith("respond/") ? Evol.STEP_RESPOND : Evol.STEP_EVOLVE;
    }
  }
}
