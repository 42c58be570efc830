package io.instructflow.pipelines.filter;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.chain.OrderedGate;
import io.instructflow.filters.dedup.MinHashComponents;
import io.instructflow.filters.dedup.SemanticComponents;
import io.instructflow.filters.judge.JudgeRule;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OrderedPass;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stage.ApplyFilters;
import io.instructflow.pipelines.stage.StageResult;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.transforms.join.CoGbkResult;
import org.apache.beam.sdk.transforms.join.CoGroupByKey;
import org.apache.beam.sdk.transforms.join.KeyedPCollectionTuple;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PCollectionView;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * The {@code filter} command: a {@link FilterChain} over a dataset. The per-record filters run in
 * parallel; the ROUGE-L rule, when the chain ends with it, sees the records that passed them in input
 * order, in one place, against the records kept before each one and the {@code --pool} texts. Every
 * record gets a {@value #STEP} step with the chain's name and hash and its verdict; dropped records go
 * to {@code filtered/} with the filter, the reason and the evidence (for ROUGE-L the matched record's
 * id and location, or the pool text). A chain whose first dedup rule is {@code minhash_dedup} with
 * {@code "mode": "components"} (or {@code semantic_dedup} with it) runs that rule first as a distributed
 * stage ({@link FindMinHashComponents}, {@link FindSemanticComponents}),
 * and the ordered rules after it see its survivors.
 */
public final class FilterPipeline {
  private FilterPipeline() {}

  /** Provenance step name. */
  public static final String STEP = ApplyFilters.STEP;

  /**
   * Settings of a filter run.
   *
   * @param read what to read
   * @param out output folder
   * @param chain the chain
   * @param pool texts that count as already kept by the ROUGE-L rule
   * @param poolSource where the pool came from, for the summary (null without a pool)
   * @param shardSize records per output shard
   * @param runner where to run
   * @param judging the judge model and rubric, exactly when the chain has an {@code llm_judge}
   */
  public record Config(ReadOptions read, String out, FilterChain chain, List<String> pool, String poolSource,
      long shardSize, Runner runner, JudgeStage.Settings judging) {
    /** A run of a chain without an {@code llm_judge}. */
    public Config(ReadOptions read, String out, FilterChain chain, List<String> pool, String poolSource, long shardSize,
        Runner runner) {
      this(read, out, chain, pool, poolSource, shardSize, runner, null);
    }

    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(chain, "chain");
      Objects.requireNonNull(runner, "runner");
      pool = List.copyOf(pool);
      if (!pool.isEmpty() && chain.rouge() == null) {
        throw new IllegalArgumentException("--pool only matters to a chain that ends with rouge_l; " + chain.name() + " does not");
      }
      if (shardSize < 1) {
        throw new IllegalArgumentException("--shard-size must be positive, got " + shardSize);
      }
      if (chain.judge() != null && judging == null) {
        throw new IllegalArgumentException("chain " + chain.name() + " has an llm_judge: give the judge with --model GGUF or "
            + "--endpoint URL --model-name NAME");
      }
      if (chain.judge() == null && judging != null) {
        throw new IllegalArgumentException("a judge model was given but chain " + chain.name() + " has no llm_judge");
      }
      if (chain.judge() != null && (chain.judge().systemTemplate() == null) != (judging.system() == null)) {
        throw new IllegalArgumentException("the llm_judge rubric " + chain.judge().rubric().code() + " "
            + (judging.system() == null ? "needs its system template " + chain.judge().systemTemplate() : "has no system template"));
      }
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.putAll(chain.asMap());
      m.put("pool", poolSource == null ? "none" : poolSource + " (" + pool.size() + " texts)");
      m.put("out", out);
      m.put("shardSize", shardSize);
      m.put("runner", runner.describe());
      if (judging != null) {
        m.putAll(judging.asMap());
      }
      return m;
    }

    /** Settings for the judge model and a rubric without a system message. */
    public static JudgeStage.Settings judging(ModelSpec model, PromptTemplate template, long seed, int batchSize) {
      return new JudgeStage.Settings(model, template, null, seed, batchSize);
    }

    /**
     * Settings for the judge model and the rubric of {@code rule}: its template and, for a rubric that has
     * one, its system template, each built in or overridden from {@code templates}.
     */
    public static JudgeStage.Settings judging(ModelSpec model, JudgeRule rule, java.nio.file.Path templates, long seed,
        int batchSize) throws IOException {
      return new JudgeStage.Settings(model, PromptTemplate.load(rule.template(), templates),
          rule.systemTemplate() == null ? null : PromptTemplate.load(rule.systemTemplate(), templates), seed, batchSize);
    }
  }

  static final TupleTag<KV<OrderKey, Example>> PASSED = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Example>> FILTERED = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Example>> KEPT = new TupleTag<>() {};

  /** What the order-dependent rules need of a record, with its place in the input. */
  record GateItem(OrderKey key, GateInput input) implements Serializable {
    private static final long serialVersionUID = 1L;
  }

  /**
   * Runs the chain and returns the summary; configuration problems throw before anything runs.
   *
   * @throws InvalidModelException when the judge's model file is missing or not GGUF
   */
  public static RunSummary run(Config c, PrintStream console)
      throws InputFiles.InputException, IOException, InvalidModelException {
    boolean chat = false;
    Map<String, Object> settings = c.asMap();
    if (c.judging() != null) {
      io.instructflow.inference.llama.GgufMetadata meta = c.judging().model().check();
      Boolean asked = c.chain().judge().chat();
      chat = asked != null ? asked : PromptFormat.AUTO.resolve(c.judging().model().isRemote(),
          meta != null && meta.chatTemplate().isPresent()) == PromptFormat.CHAT;
      settings.put("judgeFormat", (chat ? "chat" : "text") + (asked == null ? " (auto)" : ""));
    }
    PipelineRun run = PipelineRun.start("filter", c.runner(), c.read(), c.out(), settings, console);
    console.printf(Locale.ROOT, "filter: chain %s (%s)%s%n", c.chain().name(), String.join(", ",
        castList(c.chain().asMap().get("filters"))), c.pool().isEmpty() ? "" : ", pool of " + c.pool().size() + " texts");
    Pipeline p = run.pipeline();
    ReadRecords.Result r = run.read();
    Map<String, Object> params = c.chain().asMap();
    KvCoder<OrderKey, Example> coder = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class));
    StageResult tested = r.examples().apply("ApplyRecordFilters", ApplyFilters.of(c.chain()));
    PCollection<KV<OrderKey, Example>> passed = tested.kept();
    PCollection<KV<OrderKey, Example>> kept = null;
    PCollectionList<KV<OrderKey, Example>> filtered = PCollectionList.of(tested.filtered());
    PCollectionList<KV<OrderKey, Reject>> rejects = PCollectionList.of(r.rejects()).and(tested.rejects());
    if (c.chain().judge() != null) {
      console.printf(Locale.ROOT, "filter: llm_judge %s, rubric %s, %s requests, threshold %s%n",
          c.judging().model().ref().id(), c.chain().judge().rubric().code(), chat ? "chat" : "text",
          c.chain().judge().threshold());
      PCollectionTuple judged = JudgeStage.apply(passed, c.chain().judge(), c.judging(), params, !c.chain().ordered(),
          run.inputPaths(), chat);
      passed = judged.get(JudgeStage.JUDGED);
      filtered = filtered.and(judged.get(JudgeStage.FILTERED));
      rejects = rejects.and(judged.get(JudgeStage.FAILED));
    }
    FilterChain rest = c.chain().afterComponents();
    if (c.chain().components().isPresent()) {
      // minhash_dedup or semantic_dedup with mode components: a distributed stage of its own, before the ordered rules
      PCollection<KV<OrderKey, Verdict>> drops = c.chain().components().get() instanceof SemanticComponents sem
          ? passed.apply("SemanticComponents", FindSemanticComponents.of(sem))
          : passed.apply("MinHashComponents", FindMinHashComponents.of((MinHashComponents) c.chain().components().get()));
      TupleTag<Example> exTag = new TupleTag<>() {};
      TupleTag<Verdict> dropTag = new TupleTag<>() {};
      PCollectionTuple out = KeyedPCollectionTuple.of(exTag, passed).and(dropTag, drops)
          .apply("JoinComponentDrops", CoGroupByKey.create())
          .apply("ApplyComponentDrops", ParDo.of(new ComponentsFn(exTag, dropTag, params, rest.ordered()))
              .withOutputTags(PASSED, TupleTagList.of(FILTERED)));
      passed = out.get(PASSED).setCoder(coder);
      filtered = filtered.and(out.get(FILTERED).setCoder(coder));
    }
    boolean streamed = rest.ordered() && OrderedGate.supports(rest);
    if (streamed) {
      // staged in input order and decided by a pass over the stage after the pipeline (bounded memory)
      OrderedPass.stage(run.layout(), passed, filtered.apply("AllFiltered", Flatten.pCollections()), "Ordered");
    } else if (!rest.ordered()) {
      kept = passed;
    } else {
      PCollectionView<List<GateItem>> items = passed
          .apply("GateItems", ParDo.of(new ToItemFn()))
          .setCoder(SerializableCoder.of(GateItem.class))
          .apply("AllItems", View.asList());
      PCollection<KV<OrderKey, Verdict>> decisions = p.apply("Once", Create.of(0).withCoder(VarIntCoder.of()))
          .apply("OrderedRules", ParDo.of(new GateFn(items, rest, c.pool())).withSideInputs(items))
          .setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Verdict.class)));
      TupleTag<Example> exTag = new TupleTag<>() {};
      TupleTag<Verdict> decTag = new TupleTag<>() {};
      PCollectionTuple out = KeyedPCollectionTuple.of(exTag, passed).and(decTag, decisions)
          .apply("JoinDecisions", CoGroupByKey.create())
          .apply("ApplyDecisions", ParDo.of(new ApplyFn(exTag, decTag, params))
              .withOutputTags(KEPT, TupleTagList.of(FILTERED)));
      kept = out.get(KEPT).setCoder(coder);
      filtered = filtered.and(out.get(FILTERED).setCoder(coder));
    }
    if (!streamed) {
      run.write(kept, OutputLayout.Kind.DATA, "Data");
      run.write(filtered.apply("AllFiltered", Flatten.pCollections()), OutputLayout.Kind.FILTERED, "Filtered");
    }
    run.write(rejects.apply("AllRejects", Flatten.pCollections()), OutputLayout.Kind.REJECTS, "Rejects");
    PipelineResult result = c.judging() == null ? run.execute("read+filter+write", Progress.READ, Progress.DECIDED)
        : run.execute("read+filter+judge+write", Progress.READ, Progress.DECIDED, Progress.GENERATED, Progress.TOKENS);
    if (streamed) {
      try (ChainGate gate = new ChainGate(new OrderedGate(rest, c.pool()), params)) {
        run.pass("ordered rules", gate);
      }
    }
    if (c.chain().components().isPresent() && c.chain().components().get() instanceof MinHashComponents) {
      String ns = FindMinHashComponents.NAMESPACE;
      run.report().note(String.format(Locale.ROOT,
          "work: %,d band buckets of two or more records (%,d distinct member lists), %,d shingle sets sent to them, "
              + "%,d links, %,d components",
          PipelineRun.counter(result, ns, "shared_buckets"), PipelineRun.counter(result, ns, "distinct_buckets"),
          PipelineRun.counter(result, ns, "shingle_sets_sent"), PipelineRun.counter(result, ns, "edges"),
          PipelineRun.counter(result, ns, "components")));
    }
    if (c.judging() != null) {
      Map<String, Object> m = new LinkedHashMap<>();
      for (String name : List.of("requests", "cache_hits", "failures", "completion_tokens")) {
        m.put(name, PipelineRun.counter(result, JudgeStage.NAMESPACE, name));
      }
      run.report().metrics(JudgeStage.NAMESPACE, m);
      console.printf(Locale.ROOT, "filter: judge %s made %,d requests (%,d from the cache, %,d failed)%n",
          c.judging().model().ref().id(), m.get("requests"), m.get("cache_hits"), m.get("failures"));
    }
    return run.finish(c.shardSize(), null, null);
  }

  @SuppressWarnings("unchecked")
  private static List<String> castList(Object o) {
    return (List<String>) o;
  }

  static Example withVerdict(Example e, Map<String, Object> params, Verdict v) {
    return ApplyFilters.withVerdict(e, params, v);
  }

  /** What the order-dependent rules compare. */
  static final class ToItemFn extends DoFn<KV<OrderKey, Example>, GateItem> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, OutputReceiver<GateItem> out) {
      out.output(new GateItem(kv.getKey(), GateInput.of(kv.getValue())));
    }
  }

  /** The order-dependent rules over every passing record in input order: one verdict per record. */
  static final class GateFn extends DoFn<Integer, KV<OrderKey, Verdict>> {
    private static final long serialVersionUID = 1L;
    private final PCollectionView<List<GateItem>> items;
    private final FilterChain chain;
    private final List<String> pool;

    GateFn(PCollectionView<List<GateItem>> items, FilterChain chain, List<String> pool) {
      this.items = items;
      this.chain = chain;
      this.pool = new ArrayList<>(pool);
    }

    @ProcessElement
    public void process(ProcessContext c) {
      List<GateItem> all = new ArrayList<>(c.sideInput(items));
      all.sort(Comparator.comparing(GateItem::key));
      List<GateInput> inputs = new ArrayList<>(all.size());
      all.forEach(i -> inputs.add(i.input()));
      List<Verdict> verdicts = chain.gate(inputs, pool);
      for (int i = 0; i < all.size(); i++) {
        c.output(KV.of(all.get(i).key(), verdicts.get(i)));
      }
      Progress.add(Progress.DECIDED, all.size());
    }
  }

  /** The chain's ordered rules as a pass over the staged records ({@link OrderedPass}). */
  static final class ChainGate implements OrderedPass.Gate<ChainGate.Item> {
    private final OrderedGate gate;
    private final Map<String, Object> params;

    record Item(GateInput input, OrderedGate.Prepared prepared) {}

    ChainGate(OrderedGate gate, Map<String, Object> params) {
      this.gate = gate;
      this.params = params;
    }

    @Override
    public Item prepare(Example e) {
      GateInput in = GateInput.of(e);
      return new Item(in, gate.prepare(in));
    }

    @Override
    public Verdict decide(Example e, Item item) {
      return gate.decide(item.input(), item.prepared());
    }

    @Override
    public Example stamp(Example e, Verdict v) {
      return withVerdict(e, params, v);
    }

    @Override
    public void close() {
      gate.close();
    }
  }

  /**
   * Routes each record after the MinHash components stage: one with a drop verdict to filtered, with
   * its step; the others on to the ordered rules, or (when none follow) to kept with their step.
   */
  static final class ComponentsFn extends DoFn<KV<OrderKey, CoGbkResult>, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final TupleTag<Example> exTag;
    private final TupleTag<Verdict> dropTag;
    private final Map<String, Object> params;
    private final boolean moreRules;

    ComponentsFn(TupleTag<Example> exTag, TupleTag<Verdict> dropTag, Map<String, Object> params, boolean moreRules) {
      this.exTag = exTag;
      this.dropTag = dropTag;
      this.params = new LinkedHashMap<>(params);
      this.moreRules = moreRules;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, CoGbkResult> kv, MultiOutputReceiver out) {
      Example e = kv.getValue().getOnly(exTag);
      Verdict v = kv.getValue().getOnly(dropTag, null);
      if (v != null) {
        Progress.add(Progress.DECIDED, 1);
        out.get(FILTERED).output(KV.of(kv.getKey(), withVerdict(e, params, v)));
      } else if (moreRules) {
        out.get(PASSED).output(KV.of(kv.getKey(), e));
      } else {
        Progress.add(Progress.DECIDED, 1);
        out.get(PASSED).output(KV.of(kv.getKey(), withVerdict(e, params, Verdict.KEPT)));
      }
    }
  }

  /** Adds the step to each passing record and routes it. */
  static final class ApplyFn extends DoFn<KV<OrderKey, CoGbkResult>, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final TupleTag<Example> exTag;
    private final TupleTag<Verdict> decTag;
    private final Map<String, Object> params;

    ApplyFn(TupleTag<Example> exTag, TupleTag<Verdict> decTag, Map<String, Object> params) {
      this.exTag = exTag;
      this.decTag = decTag;
      this.params = new LinkedHashMap<>(params);
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, CoGbkResult> kv, MultiOutputReceiver out) {
      Verdict v = kv.getValue().getOnly(decTag);
      Example e = withVerdict(kv.getValue().getOnly(exTag), params, v);
      out.get(v instanceof Verdict.Kept ? KEPT : FILTERED).output(KV.of(kv.getKey(), e));
    }
  }
}
