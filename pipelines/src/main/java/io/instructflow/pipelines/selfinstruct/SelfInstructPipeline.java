package io.instructflow.pipelines.selfinstruct;

import io.instructflow.generators.selfinstruct.Candidate;
import io.instructflow.generators.selfinstruct.PoolEntry;
import io.instructflow.generators.selfinstruct.PromptSpec;
import io.instructflow.generators.selfinstruct.Rounds;
import io.instructflow.generators.selfinstruct.SeedTasks;
import io.instructflow.generators.selfinstruct.SelfInstruct;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.generate.GenerateRequests;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.ModelCounters;
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
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * The {@code self-instruct} command: rounds of Self-Instruct (or Alpaca) generation until the target
 * number of tasks is kept, one Beam pipeline per round.
 *
 * <p>A round's pipeline: the prompts (planned on the driver from the pool) go to the model in batches
 * ({@code GenerateInstructions}); the responses are parsed and tested by the cheap rules; all of the
 * round's candidates meet in one place for the order-dependent ROUGE-L gate ({@code Gate}); the
 * survivors are batched again for the classification check and instances ({@code CompleteTasks}).
 * Batches are formed by key, not by bundle, so every runner makes the same requests.
 *
 * <p>Every task the gate keeps joins the pool (the machine-task list) at once, whatever becomes of its
 * instances, as in the reference; {@code target} counts those tasks.
 *
 * <p>Each finished round leaves {@code OUT/rounds/round-<k>/} with its records (data/, filtered/,
 * rejects/ shards), the tasks it added to the pool ({@code added/}) and {@code done.json} (those tasks
 * and its counts), written last.
 * A rerun with the same configuration continues after the last finished round, and the model calls of
 * an unfinished round come back from the response cache, so a run killed at any point and rerun ends
 * with the same bytes as one that was never stopped. The final {@code data/}, {@code filtered/} and
 * {@code rejects/} are the rounds' shards concatenated in round order (bad seed lines first). The
 * claim, the resume, {@code --stop-after-round} and that assembly are {@link RoundLoop}'s; this class
 * has the rounds' work.
 */
public final class SelfInstructPipeline {
  private SelfInstructPipeline() {}

  /** Metrics namespace. */
  public static final String NAMESPACE = "self_instruct";
  static final String ADDED = "added";

  /**
   * Settings of a run.
   *
   * @param seeds the seed task file
   * @param out output folder
   * @param model the model and its response cache
   * @param settings the generator settings
   * @param templates folder of prompt-template overrides, or null
   * @param target stop once the pool holds this many generated tasks (tasks the ROUGE-L gate kept)
   * @param maxRounds stop after this many rounds even below the target
   * @param batchSize requests per model call
   * @param shardSize records per output shard
   * @param runner where to run
   * @param stopAfterRound stop (as if killed) after this round, 0 for never: for resume tests
   */
  public record Config(Path seeds, String out, ModelSpec model, SelfInstruct.Settings settings, Path templates,
      int target, int maxRounds, int batchSize, long shardSize, Runner runner, int stopAfterRound) {
    public Config {
      Objects.requireNonNull(seeds, "seeds");
      Objects.requireNonNull(settings, "settings");
      ConfigChecks.positive("--target", target);
      ConfigChecks.positive("--max-rounds", maxRounds);
      ConfigChecks.modelCall(model, batchSize);
      ConfigChecks.output(out, shardSize, runner);
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("seeds", seeds.toString());
      m.putAll(model.asMap());
      m.put("generator", settings.asMap());
      m.put("templates", templates == null ? "builtin" : templates.toString());
      m.put("target", target);
      m.put("maxRounds", maxRounds);
      m.put("batchSize", batchSize);
      m.put("shardSize", shardSize);
      m.put("out", out);
      m.put("runner", runner.describe());
      return m;
    }
  }

  /** What a finished round recorded in its {@code done.json}. */
  record RoundDone(int round, List<PoolEntry> added, long prompts, long candidates, long records, long kept,
      long filtered, long rejected, long requests, long cacheHits, long completionTokens, long millis)
      implements RoundLoop.ModelCalls {}

  /**
   * Runs rounds until the target or the round limit and returns the summary.
   *
   * @throws InvalidModelException when the model file is missing or not GGUF (before anything runs)
   * @throws IllegalStateException when OUT holds rounds of a run with another configuration
   */
  public static RunSummary run(Config c, PrintStream console) throws IOException, InvalidModelException {
    OutputLayout.requireLocal(c.out(), "self-instruct --out");
    c.model().check();
    ModelRef ref = c.model().ref();
    SeedTasks.Result seeds = SeedTasks.read(c.seeds());
    SelfInstruct gen;
    try {
      gen = SelfInstruct.of(c.settings(), seeds.tasks(), c.templates());
    } catch (IllegalArgumentException e) {
      // a template override without the placeholders its prompt needs: a setting, found before the run
      throw io.instructflow.pipelines.runtime.SettingsException.of(e);
    }
    Path out = Paths.get(c.out());
    RoundLoop<RoundDone> loop = RoundLoop.of("self-instruct", "round", out, RoundDone.class, c.maxRounds())
        .withStopAfter(c.stopAfterRound());
    String identity = c.model().identity();
    OutputLayout layout = loop.claim(resumeParams(c), gen.templates(), identity, c.settings().asMap(),
        "seeds, model, templates or generator settings");
    RunReport report = new RunReport("self-instruct", c.runner().describe(), c.asMap(), List.of(c.seeds().toString()));
    console.printf(Locale.ROOT, "self-instruct: %s preset, %d seed task(s) from %s (%d bad line(s)), model %s, target %d, "
            + "%d prompt(s) per round -> %s (%s)%n", c.settings().preset().id(), seeds.tasks().size(), c.seeds(),
        seeds.problems().size(), ref.id(), c.target(), c.settings().promptsPerRound(), out, c.runner().describe());
    writeSeedRejects(loop.layout(0), c.seeds(), seeds);
    java.util.Optional<String> unlabeled = gen.classificationWarning(seeds.unlabeled());
    unlabeled.ifPresent(w -> {
      console.println("self-instruct: warning: " + w);
      report.note("seeds: " + w);
    });

    Generation generation = new Generation(c, gen, console);
    RoundLoop.Outcome<RoundDone> rounds = loop.run(generation, report, console);
    List<RoundDone> done = rounds.finished();
    int tasks = generation.machine.size();
    if (tasks < c.target()) {
      report.note(String.format(Locale.ROOT, "stopped at %d round(s) (--max-rounds %d or a stop) with %d of %d target tasks",
          done.size(), c.maxRounds(), tasks, c.target()));
    }
    long t1 = System.nanoTime();
    // round 0 holds the bad seed lines: they come first
    loop.assemble(layout, rounds.last(), (k, kind) -> true, c.shardSize());
    long produced = seeds.problems().size() + done.stream().mapToLong(RoundDone::records).sum();
    report.stage("assemble", (System.nanoTime() - t1) / 1_000_000);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("seeds_read", seeds.read());
    m.put("seeds_used", seeds.tasks().size());
    m.put("rounds", done.size());
    m.put("target", c.target());
    m.put("tasks_kept", tasks);
    m.put("prompts", done.stream().mapToLong(RoundDone::prompts).sum());
    m.put("candidates", done.stream().mapToLong(RoundDone::candidates).sum());
    RoundLoop.putModelTotals(m, done);
    report.metrics(NAMESPACE, m);
    report.note("for self-instruct, 'read' counts the records the run produced (generated tasks and instances, "
        + "failed requests) plus bad seed lines; the " + seeds.tasks().size() + " usable seeds are inputs, not outputs");
    RunSummary s = report.finish(layout, produced, seeds.blankLines(), null, null);
    RunReport.print(s, layout, console);
    return s;
  }

  /**
   * What decides a run's output besides the templates and the model, except how far it goes (target,
   * rounds): the generator settings and the seed file's content.
   */
  static Map<String, Object> resumeParams(Config c) throws IOException {
    Map<String, Object> m = new TreeMap<>();
    m.put("generator", c.settings().asMap());
    m.put("seeds", Ids.sha256Hex(Files.readAllBytes(c.seeds())));
    return m;
  }

  /** Writes the bad seed lines as round 0's rejects (replacing an earlier run's). */
  private static void writeSeedRejects(OutputLayout round0, Path file, SeedTasks.Result seeds) throws IOException {
    round0.prepare();
    if (seeds.problems().isEmpty()) {
      return;
    }
    StringBuilder b = new StringBuilder();
    for (SeedTasks.Problem p : seeds.problems()) {
      byte[] raw = p.raw().getBytes(StandardCharsets.UTF_8);
      b.append(Json.line(Reject.of(file.toString(), p.location(), p.reason(), p.message(), "self_instruct.seeds", raw,
          raw.length))).append('\n');
    }
    Files.writeString(Paths.get(round0.dir(OutputLayout.Kind.REJECTS), "part-00000.jsonl"), b.toString(),
        StandardCharsets.UTF_8);
  }

  // ---- one round -----------------------------------------------------------------------------------

  static final TupleTag<KV<Integer, Candidate>> CANDIDATES = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Reject>> FAILED = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Example>> KEPT = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Example>> FILTERED = new TupleTag<>() {};
  static final TupleTag<KV<Integer, Candidate>> LIVE = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, PoolEntry>> JOINED = new TupleTag<>() {};

  /**
   * The rounds of one run, for {@link RoundLoop}: the pool's machine tasks (what the finished rounds
   * added, in round order) and the next round, which plans its prompts from them. Rounds go on while
   * the pool holds fewer machine tasks than the target.
   */
  private static final class Generation implements RoundLoop.Round<RoundDone> {
    private final Config c;
    private final SelfInstruct gen;
    private final PrintStream console;
    private final List<PoolEntry> machine = new ArrayList<>();

    Generation(Config c, SelfInstruct gen, PrintStream console) {
      this.c = c;
      this.gen = gen;
      this.console = console;
    }

    @Override
    public RoundDone run(int round, Path dir) throws IOException {
      return runRound(c, gen, round, machine, dir, console);
    }

    @Override
    public void finished(int round, Path dir, RoundDone d, boolean resumed) {
      machine.addAll(d.added());
      if (!resumed) {
        console.printf(Locale.ROOT, "round %d: %d prompt(s) -> %d task(s): %d joined the pool; %d record(s) kept, "
                + "%d filtered, %d rejected; pool %d/%d machine task(s); %d request(s), %d from the cache; %.1f s%n",
            round, d.prompts(), d.candidates(), d.added().size(), d.kept(), d.filtered(), d.rejected(), machine.size(),
            c.target(), d.requests(), d.cacheHits(), d.millis() / 1000.0);
      }
    }

    @Override
    public boolean wanted() {
      return machine.size() < c.target();
    }

    @Override
    public String progress() {
      return String.format(Locale.ROOT, " (%d task(s) in the pool from earlier rounds)", machine.size());
    }
  }

  private static RoundDone runRound(Config c, SelfInstruct gen, int round, List<PoolEntry> machine, Path dir,
      PrintStream console) throws IOException {
    long t0 = System.nanoTime();
    OutputLayout layout = new OutputLayout(dir.toString());
    OutputLayout addedLayout = new OutputLayout(dir.resolve(ADDED).toString());
    layout.prepare();
    addedLayout.prepare();
    List<PromptSpec> specs = gen.plan(round, machine);
    List<PoolEntry> pool = new ArrayList<>();
    gen.seeds().forEach(s -> pool.add(PoolEntry.of(s)));
    pool.addAll(machine);
    Pipeline p = Pipeline.create(c.runner().options("self-instruct-round-" + round));
    List<KV<Integer, PromptSpec>> keyed = new ArrayList<>();
    for (PromptSpec s : specs) {
      keyed.add(KV.of(s.index() / c.batchSize(), s));
    }
    PCollectionTuple generated = p
        .apply("Prompts", Create.of(keyed).withCoder(KvCoder.of(VarIntCoder.of(), JsonCoder.of(PromptSpec.class))))
        .apply("PromptBatches", GroupByKey.create())
        .apply("GenerateInstructions", ParDo.of(new GenerateInstructionsFn(gen, c.model()))
            .withOutputTags(CANDIDATES, TupleTagList.of(FAILED)));
    PCollectionTuple gated = generated.get(CANDIDATES)
        .setCoder(KvCoder.of(VarIntCoder.of(), JsonCoder.of(Candidate.class)))
        .apply("AllCandidates", GroupByKey.create())
        .apply("Gate", ParDo.of(new GateFn(gen, pool, c.model(), c.batchSize()))
            .withOutputTags(FILTERED, TupleTagList.of(LIVE).and(JOINED)));
    PCollectionTuple completed = gated.get(LIVE)
        .setCoder(KvCoder.of(VarIntCoder.of(), JsonCoder.of(Candidate.class)))
        .apply("TaskBatches", GroupByKey.create())
        .apply("CompleteTasks", ParDo.of(new CompleteFn(gen, c.model(), c.batchSize()))
            .withOutputTags(KEPT, TupleTagList.of(FILTERED).and(FAILED)));
    KvCoder<OrderKey, Example> exampleCoder = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class));
    KvCoder<OrderKey, Reject> rejectCoder = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class));
    RoundLoop.write(completed.get(KEPT).setCoder(exampleCoder), layout, OutputLayout.Kind.DATA, "Data");
    RoundLoop.write(PCollectionList.of(gated.get(FILTERED).setCoder(exampleCoder))
        .and(completed.get(FILTERED).setCoder(exampleCoder))
        .apply("AllFiltered", Flatten.pCollections()), layout, OutputLayout.Kind.FILTERED, "Filtered");
    RoundLoop.write(PCollectionList.of(generated.get(FAILED).setCoder(rejectCoder))
        .and(completed.get(FAILED).setCoder(rejectCoder))
        .apply("AllRejects", Flatten.pCollections()), layout, OutputLayout.Kind.REJECTS, "Rejects");
    RoundLoop.write(gated.get(JOINED).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(PoolEntry.class))),
        addedLayout, OutputLayout.Kind.DATA, "Added");
    PipelineResult result = RoundLoop.runPipeline(p, "round " + round, console, layout, addedLayout);
    List<PoolEntry> added = addedTasks(addedLayout);
    RoundDone d = new RoundDone(round, added, specs.size(), counter(result, "candidates"), counter(result, "records"),
        layout.countLines(OutputLayout.Kind.DATA), layout.countLines(OutputLayout.Kind.FILTERED),
        layout.countLines(OutputLayout.Kind.REJECTS), counter(result, "requests"), counter(result, "cache_hits"),
        counter(result, "completion_tokens"), (System.nanoTime() - t0) / 1_000_000);
    return d;
  }

  private static long counter(PipelineResult r, String name) {
    return PipelineRun.counter(r, NAMESPACE, name);
  }

  /** The tasks a finished round added to the pool, in gate order (what the Gate step wrote to {@code added/}). */
  static List<PoolEntry> addedTasks(OutputLayout added) throws IOException {
    List<PoolEntry> out = new ArrayList<>();
    for (String shard : added.shardFiles(OutputLayout.Kind.DATA)) {
      for (String line : Files.readAllLines(Paths.get(shard), StandardCharsets.UTF_8)) {
        out.add(Json.mapper().readValue(line, PoolEntry.class));
      }
    }
    return out;
  }

  /** The order of a record in the round: prompt, item, instance. */
  static OrderKey key(int round, int prompt, int item, int sub) {
    return new OrderKey(round, (long) prompt * 100_000L + item, sub);
  }

  static Reject reject(String location, GenerationResult res, String step, Object payload) {
    return GenerateRequests.failedRequest("self-instruct", location, res, step, payload);
  }

  /** Sends one batch of prompts and parses the responses into candidates (all under key 0). */
  static final class GenerateInstructionsFn extends ModelBatchFn<Integer, PromptSpec, KV<Integer, Candidate>> {
    private final SelfInstruct gen;
    private final Counter candidates = Metrics.counter(NAMESPACE, "candidates");

    GenerateInstructionsFn(SelfInstruct gen, ModelSpec spec) {
      super(NAMESPACE, CallModel.ModelSource.of(spec));
      this.gen = gen;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      List<PromptSpec> batch = sorted(c.element().getValue(), java.util.Comparator.comparingInt(PromptSpec::index));
      List<GenerationRequest> reqs = new ArrayList<>();
      batch.forEach(s -> reqs.add(gen.request(s)));
      List<GenerationResult> res = model().generate(reqs);
      for (int i = 0; i < batch.size(); i++) {
        PromptSpec s = batch.get(i);
        if (!res.get(i).ok()) {
          counters().record();
          c.output(FAILED, KV.of(key(s.round(), s.index(), 99_999, 0),
              reject(s.requestId(), res.get(i), SelfInstruct.STEP_GENERATE, s)));
          continue;
        }
        for (Candidate cand : gen.candidates(s, res.get(i))) {
          candidates.inc();
          c.output(KV.of(0, cand));
        }
      }
    }
  }

  /**
   * The ROUGE-L gate over all of a round's candidates; dropped ones become filtered records, the rest
   * join the pool ({@code JOINED}) and go on keyed by batch.
   */
  static final class GateFn extends DoFn<KV<Integer, Iterable<Candidate>>, KV<OrderKey, Example>> {
    private final SelfInstruct gen;
    private final List<PoolEntry> pool;
    private final ModelSpec spec;
    private final int batchSize;
    private final ModelCounters counters = new ModelCounters(NAMESPACE);
    private transient ModelRef ref;

    GateFn(SelfInstruct gen, List<PoolEntry> pool, ModelSpec spec, int batchSize) {
      this.gen = gen;
      this.pool = new ArrayList<>(pool);
      this.spec = spec;
      this.batchSize = batchSize;
    }

    @Setup
    public void setup() {
      ref = spec.ref();
    }

    @ProcessElement
    public void process(ProcessContext c) {
      List<Candidate> all = new ArrayList<>();
      c.element().getValue().forEach(all::add);
      int live = 0;
      for (Candidate cand : gen.gate(all, pool)) {
        if (cand.kept()) {
          c.output(JOINED, KV.of(key(cand.round(), cand.prompt(), cand.item(), 0), cand.poolEntry()));
          c.output(LIVE, KV.of(live++ / batchSize, cand));
        } else {
          Example e = gen.dropped(cand, ref).filtered().get(0);
          counters.record();
          c.output(KV.of(key(cand.round(), cand.prompt(), cand.item(), 0), e));
        }
      }
    }
  }

  /** Classification and instances for one batch of live candidates (Alpaca: keeps them as written). */
  static final class CompleteFn extends ModelBatchFn<Integer, Candidate, KV<OrderKey, Example>> {
    private final SelfInstruct gen;
    private final int batchSize;

    CompleteFn(SelfInstruct gen, ModelSpec spec, int batchSize) {
      super(NAMESPACE, CallModel.ModelSource.of(spec));
      this.gen = gen;
      this.batchSize = batchSize;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      List<Candidate> batch = sorted(c.element().getValue(),
          java.util.Comparator.comparingInt(Candidate::prompt).thenComparingInt(Candidate::item));
      ModelCounters counters = counters();
      List<SelfInstruct.Outcome> outcomes = new ArrayList<>();
      List<Rounds.Failure> failures = new ArrayList<>();
      outcomes.addAll(gen.completeAll(model(), model().ref(), batch, batchSize, failures));
      for (int i = 0; i < batch.size(); i++) {
        Candidate cand = batch.get(i);
        SelfInstruct.Outcome o = outcomes.get(i);
        if (o == null) {
          continue;
        }
        int sub = 0;
        for (Example e : o.kept()) {
          counters.record();
          c.output(KV.of(key(cand.round(), cand.prompt(), cand.item(), sub++), e));
        }
        for (Example e : o.filtered()) {
          counters.record();
          c.output(FILTERED, KV.of(key(cand.round(), cand.prompt(), cand.item(), sub++), e));
        }
      }
      for (Rounds.Failure f : failures) {
        counters.record();
        Candidate cand = f.candidate();
        c.output(FAILED, KV.of(key(cand.round(), cand.prompt(), cand.item(), 0),
            reject(f.location(), f.result(), f.requestId().startsWith("classify/") ? SelfInstruct.STEP_CLASSIFY
                : SelfInstruct.STEP_INSTANCES, cand)));
      }
    }
  }
}
