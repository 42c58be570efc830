package io.instructflow.pipelines.blend;

import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.dedup.ExactDedup;
import io.instructflow.filters.quality.LanguageFilter;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.stage.DecideGlobally;
import io.instructflow.pipelines.stage.Stage;
import io.instructflow.pipelines.stage.StageResult;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import io.instructflow.schemas.io.RecordConverter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.transforms.join.RawUnionValue;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionView;

/**
 * The records part of the {@code blend} command: every source's records in, the blend's rows and the
 * records it leaves out. The plan is decided over all records ({@link BlendPlanner}, from a light
 * description of each and per-source counts, spread over the workers) and joined back to the records
 * ({@link DecideGlobally#by}) in hash buckets of records ({@link BucketGroup}), not one shuffle group
 * per record. A selected record becomes one row per copy, keyed by its split (0 train, 1 validation)
 * and its position in the split, with {@code metadata.blend} and a kept {@value BlendPipeline#STEP}
 * step; a duplicate, or a record no quota reached, is filtered with its evidence. Each step's params are
 * {@link #params()} and the record's source and license.
 *
 * <p>Side effect: the planner writes the quota report to the plan path given.
 *
 * <pre>{@code
 * StageResult r = records.apply("Blend", BlendRecords.of(spec, run.sourceOfFile(), layout.file(BlendPipeline.PLAN)));
 * }</pre>
 */
public final class BlendRecords extends Stage {
  private static final long serialVersionUID = 1L;

  private final BlendSpec spec;
  private final ArrayList<Integer> sourceOf;
  private final String planPath;

  private BlendRecords(BlendSpec spec, List<Integer> sourceOf, String planPath) {
    super(BlendPipeline.STEP, BlendPipeline.VERSION);
    this.spec = Objects.requireNonNull(spec, "spec");
    this.sourceOf = new ArrayList<>(sourceOf);
    this.planPath = Objects.requireNonNull(planPath, "planPath");
  }

  /**
   * The blend of {@code spec}.
   *
   * @param sourceOf the spec source of each input file, by the file index in a record's {@link OrderKey}
   * @param planPath where the quota report ({@value BlendPipeline#PLAN}) goes
   */
  public static BlendRecords of(BlendSpec spec, List<Integer> sourceOf, String planPath) {
    return new BlendRecords(spec, sourceOf, planPath);
  }



  /** {@code blend} (the spec's name), {@code specSha256} and {@code seed}. */
  @Override
  public Map<String, Object> params() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("blend", spec.name());
    m.put("specSha256", BlendPipeline.specHash(spec));
    m.put("seed", spec.seed());
    return m;
  }

  @Override
  public StageResult expand(PCollection<KV<OrderKey, Example>> records) {
    PCollectionView<Long> count = records.apply("CountRecords", Count.globally()).apply("RecordsView", View.asSingleton());
    // each record meets its decision in a hash bucket of records, not in a shuffle group of its own
    BucketGroup<OrderKey, RawUnionValue, Long> buckets = BucketGroup.of(BlendPlanner::hash, count, n -> n);
    return records.apply("Plan", DecideGlobally.by(new Plan(spec, sourceOf, planPath, count), new Rows(spec, params()))
        .groupedBy(buckets));
  }

  /** The blend's decisions: each record's light description, planned over all of them. */
  static final class Plan extends PTransform<PCollection<KV<OrderKey, Example>>, PCollection<KV<OrderKey, BlendPlan.Decision>>> {
    private static final long serialVersionUID = 1L;
    private final BlendSpec spec;
    private final List<Integer> sourceOf;
    private final String planPath;
    private final PCollectionView<Long> count;

    Plan(BlendSpec spec, List<Integer> sourceOf, String planPath, PCollectionView<Long> count) {
      this.spec = spec;
      this.sourceOf = sourceOf;
      this.planPath = planPath;
      this.count = count;
    }

    @Override
    public PCollection<KV<OrderKey, BlendPlan.Decision>> expand(PCollection<KV<OrderKey, Example>> records) {
      return records
          .apply("PlanItems", ParDo.of(new ItemFn(sourceOf, spec.tagQuotas())))
          .setCoder(BlendPlan.ItemCoder.INSTANCE)
          .apply("Plan", new BlendPlanner(spec, planPath, count));
    }
  }

  /** The light description of a record the plan needs. */
  static final class ItemFn extends DoFn<KV<OrderKey, Example>, BlendPlan.Item> {
    private static final long serialVersionUID = 1L;
    private final List<Integer> sourceOf;
    private final TagQuotas tagQuotas;

    ItemFn(List<Integer> sourceOf, TagQuotas tagQuotas) {
      this.sourceOf = List.copyOf(sourceOf);
      this.tagQuotas = tagQuotas;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, OutputReceiver<BlendPlan.Item> out) {
      Example e = kv.getValue();
      // a preference pair is the same pair only with the same rejected answer too
      Object pref = e.metadata().get(RecordConverter.PREFERENCE_KEY);
      String text = GateInput.of(e).text() + (pref instanceof Map<?, ?> p ? "\n" + p.get("rejected") : "");
      out.output(new BlendPlan.Item(kv.getKey(), sourceOf.get(kv.getKey().source()), e.id(),
          e.provenance().origin().location(), ExactDedup.key(text), Tokens.of(e),
          tagQuotas == null ? -1 : tagQuotas.classOf(e)));
    }
  }

  /** Turns each record into its rows, or its filtered line. */
  static final class Rows extends DecideGlobally.Route<BlendPlan.Decision> {
    private static final long serialVersionUID = 1L;
    private final BlendSpec spec;

    Rows(BlendSpec spec, Map<String, Object> params) {
      super(BlendPipeline.STEP, BlendPipeline.VERSION, params);
      this.spec = spec;
    }

    @Override
    public void route(OrderKey key, Example e, BlendPlan.Decision d, DecideGlobally.Outputs out) {
      BlendSpec.Source src = spec.sources().get(BlendPlanner.sourceIndex(spec, d.source()));
      String license = src.license() != null ? src.license() : e.provenance().origin().license();
      Map<String, Object> params = params();
      params.put("source", src.name());
      params.put("license", license);
      Progress.add(Progress.DECIDED, 1);
      if (!d.selected()) {
        out.filtered(key, e.withStep(Step.of(id(), version(), params, new Verdict.Dropped(id(), d.reason(), d.evidence()),
            null)));
        return;
      }
      int split = BlendPlan.SPLITS.indexOf(d.split());
      String language = LanguageFilter.identify(GateInput.of(e).text());
      for (int copy = 0; copy < d.rows().size(); copy++) {
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("source", src.name());
        meta.put("license", license);
        meta.put("split", d.split());
        meta.put("copy", copy);
        meta.put("language", language);
        Example row = e.withMetadata(BlendPipeline.NAMESPACE, meta).withStep(Step.of(id(), version(), params, Verdict.KEPT, null));
        out.kept(new OrderKey(split, d.rows().get(copy), 0), row);
      }
    }
  }
}
