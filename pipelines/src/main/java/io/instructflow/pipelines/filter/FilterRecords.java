package io.instructflow.pipelines.filter;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.chain.OrderedGate;
import io.instructflow.filters.dedup.MinHashComponents;
import io.instructflow.filters.dedup.SemanticComponents;
import io.instructflow.pipelines.io.InputNames;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OrderedPass;
import io.instructflow.pipelines.stage.ApplyFilters;
import io.instructflow.pipelines.stage.DecideGlobally;
import io.instructflow.pipelines.stage.Stage;
import io.instructflow.pipelines.stage.StageResult;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;

/**
 * The records part of the {@code filter} command: a {@link FilterChain} over keyed records, every
 * record ending kept or filtered with the {@value ApplyFilters#STEP} step, or rejected when the judge
 * could not judge it. In order:
 * <ol>
 *   <li>the per-record filters ({@link ApplyFilters});
 *   <li>the {@code llm_judge}, when the chain has one ({@link JudgeStage});
 *   <li>a leading {@code minhash_dedup} or {@code semantic_dedup} in {@code components} mode, as a
 *       distributed decision joined back ({@link DecideGlobally#by}, {@link FindMinHashComponents},
 *       {@link FindSemanticComponents});
 *   <li>the order-dependent rules after it (the dedup rules and ROUGE-L against the {@code --pool}):
 *       as an {@link OrderedPass} after the pipeline when they all stream ({@link #needsOrderedPass()}:
 *       the result's kept records are then pending), else over every record in one place
 *       ({@link DecideGlobally#once} with the chain's {@link FilterChain#gate}).
 * </ol>
 * The step's params are the chain's ({@link FilterChain#asMap}): its name, hash and filters.
 *
 * <pre>{@code
 * StageResult r = records.apply("Filter", FilterRecords.of(FilterChain.preset("sft-default")));
 * }</pre>
 */
public final class FilterRecords extends Stage {
  private static final long serialVersionUID = 1L;

  private final FilterChain chain;
  private final ArrayList<String> pool;
  private final JudgeStage.Settings judging;
  private final boolean chat;
  private final InputNames inputs;

  private FilterRecords(FilterChain chain, List<String> pool, JudgeStage.Settings judging, boolean chat, InputNames inputs) {
    super(ApplyFilters.STEP, ApplyFilters.STEP_VERSION);
    this.chain = Objects.requireNonNull(chain, "chain");
    this.pool = new ArrayList<>(pool);
    this.judging = judging;
    this.chat = chat;
    this.inputs = Objects.requireNonNull(inputs, "inputs");
    if (!pool.isEmpty() && chain.rouge() == null) {
      throw new IllegalArgumentException("--pool only matters to a chain that ends with rouge_l; " + chain.name() + " does not");
    }
  }

  /** {@code chain} without a pool; a chain with an {@code llm_judge} also needs {@link #withJudge}. */
  public static FilterRecords of(FilterChain chain) {
    return new FilterRecords(chain, List.of(), null, false, InputNames.of(List.of()));
  }

  /** The same with {@code pool}: texts the ROUGE-L rule counts as kept before the first record. */
  public FilterRecords withPool(List<String> pool) {
    return new FilterRecords(chain, pool, judging, chat, inputs);
  }

  /**
   * The same with the judge's model and rubric settings, chat or text requests, and the input files
   * (a failed request's reject names its file).
   */
  public FilterRecords withJudge(JudgeStage.Settings judging, boolean chat, InputNames inputs) {
    if (chain.judge() == null) {
      throw new IllegalArgumentException("a judge model was given but chain " + chain.name() + " has no llm_judge");
    }
    return new FilterRecords(chain, pool, Objects.requireNonNull(judging, "judging"), chat, inputs);
  }



  @Override
  public Map<String, Object> params() {
    return chain.asMap();
  }

  /** The rules after the components stage, if any. */
  private FilterChain rest() {
    return chain.afterComponents();
  }

  /** True when the chain's order-dependent rules all stream: they run as a pass over the staged records. */
  @Override
  public boolean needsOrderedPass() {
    return rest().ordered() && OrderedGate.supports(rest());
  }

  @Override
  public OrderedPass.Gate<?> orderedPass() {
    if (!needsOrderedPass()) {
      return super.orderedPass();
    }
    return new ChainGate(new OrderedGate(rest(), pool), params());
  }

  @Override
  public StageResult expand(PCollection<KV<OrderKey, Example>> records) {
    if (chain.judge() != null && judging == null) {
      throw new IllegalStateException("chain " + chain.name() + " has an llm_judge: give its settings with withJudge");
    }
    Map<String, Object> params = params();
    StageResult r = records.apply("ApplyRecordFilters", ApplyFilters.of(chain));
    if (chain.judge() != null) {
      r = r.then("Judge", new Judge(chain, judging, chat, inputs));
    }
    DecideGlobally.Verdicts verdicts = DecideGlobally.Verdicts.of(id(), version(), params);
    if (chain.components().isPresent()) {
      // minhash_dedup or semantic_dedup with mode components: a distributed stage of its own, before the ordered rules
      PTransform<PCollection<KV<OrderKey, Example>>, PCollection<KV<OrderKey, Verdict>>> drops =
          chain.components().get() instanceof SemanticComponents sem ? FindSemanticComponents.of(sem)
              : FindMinHashComponents.of((MinHashComponents) chain.components().get());
      r = r.then("Components", DecideGlobally.by(drops, rest().ordered() ? verdicts.passingUnstamped() : verdicts)
          .withPartialDecisions());
    }
    if (needsOrderedPass()) {
      // staged in input order and decided by a pass over the stage after the pipeline (bounded memory)
      return r.pendingOrderedPass();
    }
    if (!rest().ordered()) {
      return r;
    }
    return r.then("OrderedRules", DecideGlobally.once(new GateRule(rest(), pool), SerializableCoder.of(GateInput.class),
        JsonCoder.of(Verdict.class), verdicts));
  }

  /** The {@code llm_judge} over the records that passed the per-record filters. */
  static final class Judge extends PTransform<PCollection<KV<OrderKey, Example>>, StageResult> {
    private static final long serialVersionUID = 1L;
    private final FilterChain chain;
    private final JudgeStage.Settings judging;
    private final boolean chat;
    private final InputNames inputs;

    Judge(FilterChain chain, JudgeStage.Settings judging, boolean chat, InputNames inputs) {
      this.chain = chain;
      this.judging = judging;
      this.chat = chat;
      this.inputs = inputs;
    }

    @Override
    public StageResult expand(PCollection<KV<OrderKey, Example>> passed) {
      PCollectionTuple judged = JudgeStage.apply(passed, chain.judge(), judging, chain.asMap(), !chain.ordered(), inputs, chat);
      return StageResult.of(judged.get(JudgeStage.JUDGED), judged.get(JudgeStage.FILTERED), judged.get(JudgeStage.FAILED));
    }
  }

  /** The chain's order-dependent rules over every passing record in input order: one verdict each. */
  static final class GateRule implements DecideGlobally.Rule<GateInput, Verdict> {
    private static final long serialVersionUID = 1L;
    private final FilterChain chain;
    private final ArrayList<String> pool;

    GateRule(FilterChain chain, List<String> pool) {
      this.chain = chain;
      this.pool = new ArrayList<>(pool);
    }

    @Override
    public GateInput item(OrderKey key, Example e) {
      return GateInput.of(e);
    }

    @Override
    public List<Verdict> decide(List<GateInput> items) {
      return chain.gate(items, pool);
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
      return ApplyFilters.withVerdict(e, params, v);
    }

    @Override
    public void close() {
      gate.close();
    }
  }
}
