package io.instructflow.pipelines.dedup;

import io.instructflow.filters.chain.KeptRefs;
import io.instructflow.filters.rouge.DedupText;
import io.instructflow.filters.rouge.RougeGate;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OrderedPass;
import io.instructflow.pipelines.stage.DecideGlobally;
import io.instructflow.pipelines.stage.Stage;
import io.instructflow.pipelines.stage.StageResult;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;

/**
 * The records part of the {@code dedup} command: the Self-Instruct ROUGE-L rule. In input order (or
 * {@link #withOrderBy}), a record whose ROUGE-L F against an earlier kept record is above the
 * threshold is filtered with a verdict naming that record and the score; the others are kept; each
 * gets the {@value #STEP} step, whose params are {@link #params()}.
 *
 * <p>The {@code sequential} strategy (the default) decides after the pipeline, as an
 * {@link OrderedPass} with an incremental index of the kept records ({@link #needsOrderedPass()}; the
 * result's kept records are then pending). The {@code components} strategy decides inside the
 * pipeline: the pair search spreads over the workers and the rule runs per connected component
 * ({@link FindRougeComponents}), joined back to the records ({@link DecideGlobally#by}). Both give
 * exactly the sequential reference result.
 *
 * <pre>{@code
 * StageResult r = records.apply("Dedup", DedupRecords.of(0.7, DedupText.INSTRUCTION, "rouge", false).withStrategy("components"));
 * }</pre>
 */
public final class DedupRecords extends Stage {
  private static final long serialVersionUID = 1L;
  /** Step name written into provenance. */
  public static final String STEP = "dedup.rouge_l";
  /** Version of the step's logic. */
  public static final String STEP_VERSION = "1";

  private final double threshold;
  private final DedupText field;
  private final String tokenizer;
  private final boolean stem;
  private final String orderBy;
  private final String strategy;

  private DedupRecords(double threshold, DedupText field, String tokenizer, boolean stem, String orderBy, String strategy) {
    super(STEP, STEP_VERSION);
    this.threshold = threshold;
    this.field = Objects.requireNonNull(field, "field");
    this.tokenizer = tokenizer;
    this.stem = stem;
    this.orderBy = orderBy;
    this.strategy = strategy;
  }

  /**
   * The rule in input order with the {@code sequential} strategy.
   *
   * @param threshold drop above this ROUGE-L F, in (0, 1]
   * @param field the compared text
   * @param tokenizer {@code rouge} (rouge_score-compatible) or {@code unicode}
   * @param stem Porter-stem tokens longer than three characters
   */
  public static DedupRecords of(double threshold, DedupText field, String tokenizer, boolean stem) {
    if (!(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("--threshold must be in (0, 1], got " + threshold);
    }
    Tokenizer.named(tokenizer, stem);
    return new DedupRecords(threshold, field, tokenizer, stem, null, "sequential");
  }

  /**
   * The same with {@code strategy}: {@code sequential} (an incremental index of kept records, after the
   * pipeline) or {@code components} (all similar pairs in parallel, then the rule per connected
   * component); same result.
   */
  public DedupRecords withStrategy(String strategy) {
    if (!"sequential".equals(strategy) && !"components".equals(strategy)) {
      throw new IllegalArgumentException("--strategy must be sequential or components, got '" + strategy + "'");
    }
    return new DedupRecords(threshold, field, tokenizer, stem, orderBy, strategy);
  }

  /** The same in the order of field {@code orderBy} instead of input order (null: input order). */
  public DedupRecords withOrderBy(String orderBy) {
    if (orderBy != null && orderBy.isBlank()) {
      throw new IllegalArgumentException("--order-by must name a field");
    }
    return new DedupRecords(threshold, field, tokenizer, stem, orderBy, strategy);
  }



  /** {@code threshold}, {@code field}, {@code tokenizer} (with its stemming) and {@code order}. */
  @Override
  public Map<String, Object> params() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("threshold", threshold);
    m.put("field", field.code());
    m.put("tokenizer", Tokenizer.named(tokenizer, stem).id());
    m.put("order", orderBy == null ? "input" : orderBy);
    return m;
  }

  /** The strategy, {@code sequential} or {@code components}. */
  public String strategy() {
    return strategy;
  }

  /** True for the {@code sequential} strategy. */
  @Override
  public boolean needsOrderedPass() {
    return strategy.equals("sequential");
  }

  @Override
  public RougeDedupGate orderedPass() {
    if (!needsOrderedPass()) {
      throw new UnsupportedOperationException("dedup --strategy " + strategy + " decides inside the pipeline");
    }
    return new RougeDedupGate(this);
  }

  @Override
  public StageResult expand(PCollection<KV<OrderKey, Example>> records) {
    if (needsOrderedPass()) {
      Pipeline p = records.getPipeline();
      return StageResult.of(records, p.apply("NoneDecided", Create.empty(StageResult.RECORDS)),
          p.apply("NoRejects", Create.empty(StageResult.REJECTS))).pendingOrderedPass();
    }
    // the pair search spread over the workers, then the rule per connected component (issue 23)
    return records.apply("RougeComponents", DecideGlobally.by(FindRougeComponents.of(threshold, field, tokenizer, stem, orderBy),
        new RougeRoute(params())));
  }

  /** A decision's verdict: kept, or dropped naming the kept record it matched. */
  static Verdict verdict(DedupDecision d, Map<String, Object> params) {
    return d.kept() ? Verdict.KEPT : dropped(d.matchedId(), d.matchedLocation(), d.score(), params);
  }

  static Verdict.Dropped dropped(String matchedId, String matchedLocation, double score, Map<String, Object> params) {
    Map<String, Object> details = new LinkedHashMap<>();
    details.put("matched_id", matchedId);
    details.put("matched_location", matchedLocation);
    details.put("score", score);
    details.put("threshold", params.get("threshold"));
    return new Verdict.Dropped(RougeGate.FILTER, RougeGate.REASON, details);
  }

  /** {@code e} with the dedup step of {@code params} and verdict {@code v}. */
  static Example stamp(Example e, Verdict v, Map<String, Object> params) {
    return e.withStep(Step.of(STEP, STEP_VERSION, params, v, null));
  }

  /** Routes a record by its {@link DedupDecision}, with the dedup step. */
  static final class RougeRoute extends DecideGlobally.Route<DedupDecision> {
    private static final long serialVersionUID = 1L;
    private final LinkedHashMap<String, Object> params;
    private final DecideGlobally.Verdicts verdicts;

    RougeRoute(Map<String, Object> params) {
      super(STEP, STEP_VERSION, params);
      this.params = new LinkedHashMap<>(params);
      verdicts = DecideGlobally.Verdicts.of(STEP, STEP_VERSION, params);
    }

    @Override
    public void route(OrderKey key, Example e, DedupDecision d, DecideGlobally.Outputs out) {
      verdicts.route(key, e, verdict(d, params), out);
    }
  }

  /** The rule in input order as a pass over the staged records: an incremental index of the kept ones. */
  static final class RougeDedupGate implements OrderedPass.Gate<List<String>> {
    private final DedupText field;
    private final Tokenizer tokenizer;
    private final Map<String, Object> parameters;
    final RougeGate.Stream stream;
    private final KeptRefs kept = new KeptRefs();

    RougeDedupGate(DedupRecords stage) {
      field = stage.field;
      tokenizer = Tokenizer.named(stage.tokenizer, stage.stem);
      parameters = stage.params();
      stream = new RougeGate(stage.threshold, tokenizer).open(List.of());
    }

    @Override
    public List<String> prepare(Example e) {
      return List.copyOf(tokenizer.tokens(field.of(e)));
    }

    @Override
    public Verdict decide(Example e, List<String> tokens) {
      RougeGate.Drop d = stream.decide(tokens);
      if (d == null) {
        kept.add(e.id(), e.provenance().origin().location());
        return Verdict.KEPT;
      }
      return dropped(kept.id(d.matched()), kept.location(d.matched()), d.score(), parameters);
    }

    @Override
    public Example stamp(Example e, Verdict v) {
      return DedupRecords.stamp(e, v, parameters);
    }

    @Override
    public void close() {
      stream.close();
    }
  }
}
