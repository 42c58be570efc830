package io.instructflow.pipelines.stage;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * The per-record filters of a {@link FilterChain}, one record at a time (a streaming stage: it fuses with
 * its neighbours). A record a filter drops goes to filtered with the {@code filter} step and the drop
 * verdict. A record that passes goes on: with its {@code filter} step and the kept verdict when the
 * chain has nothing after its per-record filters, unchanged when order-dependent rules or a judge still
 * have to decide it (they add the step).
 */
public final class ApplyFilters extends Stage {
  private static final long serialVersionUID = 1L;
  /** Provenance step name. */
  public static final String STEP = "filter";
  /** Its version. */
  public static final String STEP_VERSION = "1";

  private static final TupleTag<KV<OrderKey, Example>> PASSED = new TupleTag<>() {};
  private static final TupleTag<KV<OrderKey, Example>> DROPPED = new TupleTag<>() {};

  private final FilterChain chain;
  private final LinkedHashMap<String, Object> params;

  private ApplyFilters(FilterChain chain, Map<String, Object> params) {
    super(STEP, STEP_VERSION);
    this.chain = Objects.requireNonNull(chain, "chain");
    this.params = new LinkedHashMap<>(params);
  }

  /** The chain's per-record filters, with its own settings as the step's params. */
  public static ApplyFilters of(FilterChain chain) {
    return new ApplyFilters(chain, chain.asMap());
  }

  /** The record with the {@code filter} step of {@code params} and verdict {@code v} added. */
  public static Example withVerdict(Example e, Map<String, Object> params, Verdict v) {
    return e.withStep(Step.of(STEP, STEP_VERSION, params, v, null));
  }



  @Override
  public Map<String, Object> params() {
    return new LinkedHashMap<>(params);
  }

  /** Whether a passing record is final here (nothing after the per-record filters decides it). */
  public boolean stampsPassing() {
    return !chain.ordered() && chain.judge() == null;
  }

  @Override
  public StageResult expand(PCollection<KV<OrderKey, Example>> records) {
    PCollectionTuple t = records.apply("RecordFilters",
        ParDo.of(new RecordFiltersFn(chain, params, stampsPassing())).withOutputTags(PASSED, TupleTagList.of(DROPPED)));
    return StageResult.of(t.get(PASSED), t.get(DROPPED), records.getPipeline().apply("NoRejects",
        org.apache.beam.sdk.transforms.Create.empty(StageResult.REJECTS)));
  }

  /** Runs the chain's per-record filters on one record and routes it. */
  static final class RecordFiltersFn extends DoFn<KV<OrderKey, Example>, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final FilterChain chain;
    private final LinkedHashMap<String, Object> params;
    private final boolean stampPassing;

    RecordFiltersFn(FilterChain chain, LinkedHashMap<String, Object> params, boolean stampPassing) {
      this.chain = chain;
      this.params = params;
      this.stampPassing = stampPassing;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, MultiOutputReceiver out) {
      FilterChain.Result r = chain.run(kv.getValue());
      Verdict v = r.verdict();
      if (v instanceof Verdict.Dropped) {
        Progress.add(Progress.DECIDED, 1);
        out.get(DROPPED).output(KV.of(kv.getKey(), withVerdict(r.record(), params, v)));
      } else if (stampPassing) {
        Progress.add(Progress.DECIDED, 1);
        out.get(PASSED).output(KV.of(kv.getKey(), withVerdict(r.record(), params, v)));
      } else {
        out.get(PASSED).output(KV.of(kv.getKey(), r.record()));
      }
    }
  }
}
