package io.instructflow.pipelines.blend;

import io.instructflow.pipelines.blend.BlendPlan.Decision;
import io.instructflow.pipelines.blend.BlendPlan.Entry;
import io.instructflow.pipelines.blend.BlendPlan.Item;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.runtime.Progress;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.CoderRegistry;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.MapCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.FlatMapElements;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Sum;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PCollectionView;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptor;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Makes a blend's decisions by {@link BlendPlan}'s rules with no step that holds every record, or
 * every record's description, in one place. What one place holds is per-source counts and token sums,
 * the sizes of the hash buckets ({@link HashRank}), the records of one normalized text (dedup) and one
 * hash bucket at a time:
 *
 * <ol>
 *   <li>Dedup: records grouped by normalized-text hash; the earliest of each group (spec source, then
 *       input position) lives, the others are duplicates of it.
 *   <li>Quotas from the live records and estimated tokens counted per source.
 *   <li>Selection: each live record's rank in its source by the selection hash gives its copies.
 *   <li>Split: each selected record's rank in its source by the split hash, against the source's share
 *       of the validation count, gives its split; its copies become rows.
 *   <li>Order: each row's rank in its split by the order hash is its position.
 *   <li>The quota report ({@value BlendPipeline#PLAN}) is written from the counts.
 * </ol>
 *
 * <p>The output is one decision per record, the same decisions as sorting everything in one place.
 */
final class BlendPlanner extends PTransform<PCollection<Item>, PCollection<KV<OrderKey, Decision>>> {
  private static final long serialVersionUID = 1L;

  private static final TupleTag<Item> LIVE = new TupleTag<>() {};
  private static final TupleTag<KV<OrderKey, Decision>> DUPLICATE = new TupleTag<>() {};
  private static final TupleTag<Entry> SELECTED = new TupleTag<>() {};
  private static final TupleTag<KV<OrderKey, Decision>> MISSED = new TupleTag<>() {};
  private static final TupleTag<Item> ELIGIBLE = new TupleTag<>() {};
  private static final TupleTag<KV<OrderKey, Decision>> OVER_CAP = new TupleTag<>() {};

  private final BlendSpec spec;
  private final String planPath;
  private final PCollectionView<Long> count;

  /**
   * The planner.
   *
   * @param spec the blend
   * @param planPath where the quota report goes
   * @param count the number of records, which sizes the dedup's buckets
   */
  BlendPlanner(BlendSpec spec, String planPath, PCollectionView<Long> count) {
    this.spec = spec;
    this.planPath = planPath;
    this.count = count;
  }

  static KvCoder<OrderKey, Decision> decisionCoder() {
    return KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Decision.class));
  }

  @Override
  public PCollection<KV<OrderKey, Decision>> expand(PCollection<Item> in) {
    PCollection<Item> items = in;
    PCollection<Item> live;
    PCollection<KV<OrderKey, Decision>> duplicates;
    if (spec.dedup()) {
      PCollectionTuple d = items
          .apply("ByText", WithKeys.of(Item::dedupKey).withKeyType(TypeDescriptors.strings()))
          .setCoder(KvCoder.of(StringUtf8Coder.of(), BlendPlan.ItemCoder.INSTANCE))
          .apply("SameText", BucketGroup.of(BlendPlan::hash, count, n -> n))
          .apply("FirstOfText", ParDo.of(new DedupFn(spec)).withOutputTags(LIVE, TupleTagList.of(DUPLICATE)));
      live = d.get(LIVE).setCoder(BlendPlan.ItemCoder.INSTANCE);
      duplicates = d.get(DUPLICATE).setCoder(decisionCoder());
    } else {
      live = items;
      duplicates = in.getPipeline().apply("NoDuplicates", Create.empty(decisionCoder()));
    }
    BlendSpec sp = spec;
    PCollectionView<Map<Integer, Long>> stats = PCollectionList
        .of(live.apply("LiveStats", FlatMapElements.into(TypeDescriptors.kvs(TypeDescriptors.integers(), TypeDescriptors.longs()))
            .via((Item it) -> List.of(KV.of(stat(it.source(), LIVE_RECORDS), 1L), KV.of(stat(it.source(), TOKENS), (long) it.tokens())))))
        .and(duplicates.apply("DuplicateStats", MapElements.into(TypeDescriptors.kvs(TypeDescriptors.integers(), TypeDescriptors.longs()))
            .via((KV<OrderKey, Decision> kv) -> KV.of(stat(sourceIndex(sp, kv.getValue().source()), DUPLICATES), 1L))))
        .apply("AllStats", Flatten.pCollections())
        .apply("SumStats", Sum.longsPerKey())
        .apply("StatsView", View.asMap());
    long seed = spec.seed();
    PCollection<KV<Item, Long>> ranked = live
        .apply("RankToSelect", HashRank.by(new SelectKeys(seed)).sizedBy(stats, (m, g) -> get(m, g, LIVE_RECORDS)));
    PCollectionView<Map<Integer, Long>> eligible = null;
    PCollectionView<Map<Integer, Long>> tagStats = null;
    PCollection<KV<OrderKey, Decision>> overCap = null;
    if (spec.tagQuotas() != null) {
      // tag quotas (issue 22): count each value combination's records and demand per source, rank a
      // source's records of a combination among themselves, leave out those beyond what the rule gives the
      // combination, and rank the rest again for the selection (TagQuotas has the rules)
      int classes = spec.tagQuotas().combinations();
      tagStats = ranked
          .apply("TagStats", ParDo.of(new TagStatFn(spec, stats)).withSideInputs(stats))
          .setCoder(KvCoder.of(VarIntCoder.of(), VarLongCoder.of()))
          .apply("SumTagStats", Sum.longsPerKey())
          .apply("TagStatsView", View.asMap());
      PCollectionTuple capped = live
          .apply("RankInTagValue", HashRank.by(new ValueKeys(seed, classes))
              .sizedBy(tagStats, (m, g) -> m.getOrDefault(tagStat(g, AVAILABLE), 0L)))
          .apply("TagCaps", ParDo.of(new TagCapFn(spec, stats, tagStats)).withSideInputs(stats, tagStats)
              .withOutputTags(ELIGIBLE, TupleTagList.of(OVER_CAP)));
      PCollection<Item> ok = capped.get(ELIGIBLE).setCoder(BlendPlan.ItemCoder.INSTANCE);
      overCap = capped.get(OVER_CAP).setCoder(decisionCoder());
      eligible = ok
          .apply("EligibleStats", MapElements.into(TypeDescriptors.kvs(TypeDescriptors.integers(), TypeDescriptors.longs()))
              .via((Item it) -> KV.of(it.source(), 1L)))
          .apply("SumEligible", Sum.longsPerKey())
          .apply("EligibleView", View.asMap());
      ranked = ok.apply("RankEligibleToSelect", HashRank.by(new SelectKeys(seed))
          .sizedBy(eligible, (m, g) -> m.getOrDefault(g, 0L)));
    }
    List<PCollectionView<?>> sides = new ArrayList<>(List.of(stats));
    if (eligible != null) {
      sides.add(eligible);
      sides.add(tagStats);
    }
    PCollectionTuple selection = ranked
        .apply("Select", ParDo.of(new SelectFn(spec, stats)).withSideInputs(stats)
            .withOutputTags(SELECTED, TupleTagList.of(MISSED)));
    PCollection<Entry> rows = selection.get(SELECTED).setCoder(BlendPlan.EntryCoder.INSTANCE)
        .apply("RankToSplit", HashRank.by(new SplitKeys(seed)).sizedBy(stats, (m, g) -> BlendPlan.selected(quotas(sp, m))[g]))
        .apply("Split", ParDo.of(new SplitFn(spec, stats, eligible)).withSideInputs(sides))
        .setCoder(BlendPlan.EntryCoder.INSTANCE);
    PCollection<KV<OrderKey, Decision>> placed = rows
        .apply("RankToOrder", HashRank.by(new OrderKeys(seed)).sizedBy(stats, (m, g) -> quotas(sp, m).total()))
        .apply("ByRecord", MapElements.into(new TypeDescriptor<KV<OrderKey, KV<Entry, Long>>>() {})
            .via((KV<Entry, Long> kv) -> KV.of(kv.getKey().item().key(), kv)))
        .setCoder(KvCoder.of(OrderKey.Coder.of(), KvCoder.of(BlendPlan.EntryCoder.INSTANCE, VarLongCoder.of())))
        .apply("Copies", BucketGroup.of(BlendPlanner::hash, stats, m -> quotas(sp, m).total()))
        .apply("Place", ParDo.of(new PlaceFn(spec)))
        .setCoder(decisionCoder());

    rows.apply("RowSplits", MapElements.into(TypeDescriptors.integers()).via((Entry e) -> e.split()))
        .apply("RowsPerSplit", Combine.globally(new CountSplits()))
        .apply("WriteReport", ParDo.of(new ReportFn(spec, planPath, stats, eligible, tagStats)).withSideInputs(sides));

    PCollectionList<KV<OrderKey, Decision>> all = PCollectionList.of(duplicates)
        .and(selection.get(MISSED).setCoder(decisionCoder())).and(placed);
    return (overCap == null ? all : all.and(overCap)).apply("Decisions", Flatten.pCollections());
  }

  /** A 64-bit hash of an input position. */
  static long hash(OrderKey k) {
    return BlendPlan.mix(BlendPlan.mix(BlendPlan.mix(k.source()) ^ k.position()) ^ k.sub());
  }

  /** Kinds of per-source counts in the stats side input. */
  static final int LIVE_RECORDS = 0;
  static final int TOKENS = 1;
  static final int DUPLICATES = 2;

  /** The stats key of a source's count of a kind. */
  static int stat(int source, int kind) {
    return source * 3 + kind;
  }

  static int sourceIndex(BlendSpec spec, String name) {
    for (int s = 0; s < spec.sources().size(); s++) {
      if (spec.sources().get(s).name().equals(name)) {
        return s;
      }
    }
    throw new IllegalArgumentException("no source named " + name);
  }

  static long get(Map<Integer, Long> stats, int source, int kind) {
    return stats.getOrDefault(stat(source, kind), 0L);
  }

  /** One kind of count for every source of the spec. */
  static long[] all(BlendSpec spec, Map<Integer, Long> stats, int kind) {
    long[] out = new long[spec.sources().size()];
    for (int s = 0; s < out.length; s++) {
      out[s] = get(stats, s, kind);
    }
    return out;
  }

  static Quotas.Result quotas(BlendSpec spec, Map<Integer, Long> stats) {
    return BlendPlan.quotas(spec, all(spec, stats, LIVE_RECORDS), all(spec, stats, TOKENS));
  }

  /** Rows per split index. */
  static final class CountSplits extends Combine.CombineFn<Integer, Map<Integer, Long>, Map<Integer, Long>> {
    private static final long serialVersionUID = 1L;

    @Override
    public Map<Integer, Long> createAccumulator() {
      return new HashMap<>();
    }

    @Override
    public Map<Integer, Long> addInput(Map<Integer, Long> acc, Integer split) {
      acc.merge(split, 1L, Long::sum);
      return acc;
    }

    @Override
    public Map<Integer, Long> mergeAccumulators(Iterable<Map<Integer, Long>> accs) {
      Map<Integer, Long> out = new HashMap<>();
      accs.forEach(a -> a.forEach((k, v) -> out.merge(k, v, Long::sum)));
      return out;
    }

    @Override
    public Map<Integer, Long> extractOutput(Map<Integer, Long> acc) {
      return acc;
    }

    @Override
    public Coder<Map<Integer, Long>> getAccumulatorCoder(CoderRegistry registry, Coder<Integer> input) {
      return MapCoder.of(VarIntCoder.of(), VarLongCoder.of());
    }

    @Override
    public Coder<Map<Integer, Long>> getDefaultOutputCoder(CoderRegistry registry, Coder<Integer> input) {
      return MapCoder.of(VarIntCoder.of(), VarLongCoder.of());
    }
  }

  /** The earliest record of a normalized text lives; the rest are its duplicates. */
  static final class DedupFn extends DoFn<KV<String, Iterable<Item>>, Item> {
    private static final long serialVersionUID = 1L;
    private final BlendSpec spec;

    DedupFn(BlendSpec spec) {
      this.spec = spec;
    }

    @ProcessElement
    public void process(@Element KV<String, Iterable<Item>> group, MultiOutputReceiver out) {
      List<Item> same = new ArrayList<>();
      group.getValue().forEach(same::add);
      Item first = Collections.min(same, Comparator.comparingInt(Item::source).thenComparing(Item::key));
      out.get(LIVE).output(first);
      Progress.add(Progress.PLANNED, same.size() - 1);
      if (same.size() == 1) {
        return;
      }
      Map<String, Object> ev = BlendPlan.duplicateOf(spec, first);
      for (Item it : same) {
        if (it != first) {
          out.get(DUPLICATE).output(KV.of(it.key(), new Decision(Decision.DUPLICATE, spec.sources().get(it.source()).name(),
              null, List.of(), ev)));
        }
      }
    }
  }

  /** Quotas computed once per worker from the per-source counts. */
  abstract static class QuotaFn<I, O> extends DoFn<I, O> {
    private static final long serialVersionUID = 1L;
    final BlendSpec spec;
    final PCollectionView<Map<Integer, Long>> stats;
    /** Records per source left after tag quotas, or null without tag quotas. */
    final PCollectionView<Map<Integer, Long>> eligible;
    private transient Quotas.Result quotas;

    QuotaFn(BlendSpec spec, PCollectionView<Map<Integer, Long>> stats) {
      this(spec, stats, null);
    }

    QuotaFn(BlendSpec spec, PCollectionView<Map<Integer, Long>> stats, PCollectionView<Map<Integer, Long>> eligible) {
      this.spec = spec;
      this.stats = stats;
      this.eligible = eligible;
    }

    Quotas.Result quotas(ProcessContext c) {
      if (quotas == null) {
        quotas = BlendPlanner.quotas(spec, c.sideInput(stats));
      }
      return quotas;
    }

    /**
     * Distinct records selected per source: the quotas' ({@link BlendPlan#selected}), each held at the
     * records that tag quotas left it.
     */
    long[] selected(ProcessContext c) {
      long[] out = BlendPlan.selected(quotas(c));
      if (eligible != null) {
        Map<Integer, Long> left = c.sideInput(eligible);
        for (int s = 0; s < out.length; s++) {
          out[s] = Math.min(out[s], left.getOrDefault(s, 0L));
        }
      }
      return out;
    }
  }

  /** Kinds of per-(source, tag class) counts in the tag stats side input. */
  static final int AVAILABLE = 0;
  static final int DEMAND = 1;

  /** The tag stats key of a (source, tag class) group's count of a kind. */
  static int tagStat(int group, int kind) {
    return group * 2 + kind;
  }

  /** The (source, tag class) group of an item: class 0 is no capped value, class v + 1 the v-th capped value. */
  static int tagGroup(Item it, int classes) {
    return it.source() * classes + it.tagClass() + 1;
  }

  /**
   * Per (source, tag class): its records ({@code AVAILABLE}), and those ranked within the source's quota by
   * the selection hash ({@code DEMAND}: what the selection would take without tag quotas).
   */
  static final class TagStatFn extends QuotaFn<KV<Item, Long>, KV<Integer, Long>> {
    private static final long serialVersionUID = 1L;

    TagStatFn(BlendSpec spec, PCollectionView<Map<Integer, Long>> stats) {
      super(spec, stats);
    }

    @ProcessElement
    public void process(ProcessContext c) {
      Item it = c.element().getKey();
      int g = tagGroup(it, spec.tagQuotas().combinations());
      c.output(KV.of(tagStat(g, AVAILABLE), 1L));
      if (c.element().getValue() < quotas(c).quotas().get(it.source()).rows()) {
        c.output(KV.of(tagStat(g, DEMAND), 1L));
      }
    }
  }

  /** A (source, capped value) count of a kind from the tag stats, per source and value (caps on one tag). */
  static long[][] tagCounts(BlendSpec spec, Map<Integer, Long> tagStats, int kind) {
    int classes = spec.tagQuotas().combinations();
    long[][] out = new long[spec.sources().size()][classes - 1];
    for (int s = 0; s < out.length; s++) {
      for (int v = 0; v < classes - 1; v++) {
        out[s][v] = tagStats.getOrDefault(tagStat(s * classes + v + 1, kind), 0L);
      }
    }
    return out;
  }

  /** A (source, value combination) count of a kind from the tag stats, per source and combination. */
  static long[][] combinationCounts(BlendSpec spec, Map<Integer, Long> tagStats, int kind) {
    int classes = spec.tagQuotas().combinations();
    long[][] out = new long[spec.sources().size()][classes];
    for (int s = 0; s < out.length; s++) {
      for (int k = 0; k < classes; k++) {
        out[s][k] = tagStats.getOrDefault(tagStat(s * classes + k, kind), 0L);
      }
    }
    return out;
  }

  /** Each source's quota in rows. */
  static long[] quotaRows(Quotas.Result q) {
    long[] rows = new long[q.quotas().size()];
    for (int s = 0; s < rows.length; s++) {
      rows[s] = q.quotas().get(s).rows();
    }
    return rows;
  }

  /** Each source's share of each capped value's cap ({@link TagQuotas.Tag#caps}), caps on one tag. */
  static long[][] tagCaps(BlendSpec spec, Quotas.Result q, Map<Integer, Long> tagStats) {
    return spec.tagQuotas().tags().get(0).caps(quotaRows(q), tagCounts(spec, tagStats, DEMAND),
        tagCounts(spec, tagStats, AVAILABLE));
  }

  /** The rows of every (source, value combination) under minimums or several tags ({@link TagAllocation}). */
  static TagAllocation.Result allocation(BlendSpec spec, Quotas.Result q, Map<Integer, Long> tagStats) {
    List<String> names = spec.sources().stream().map(BlendSpec.Source::name).toList();
    return TagAllocation.plan(spec.tagQuotas(), names, quotaRows(q), combinationCounts(spec, tagStats, DEMAND),
        combinationCounts(spec, tagStats, AVAILABLE));
  }

  /**
   * Caps on one tag: leaves out a source's records of a capped value ranked at or beyond its share of the
   * cap. Minimums or several tags: keeps a (source, combination)'s records ranked below its planned rows
   * ({@link TagAllocation}) and decides the rest: over a cap, displaced by a minimum, or not reached.
   */
  static final class TagCapFn extends QuotaFn<KV<Item, Long>, Item> {
    private static final long serialVersionUID = 1L;
    private final PCollectionView<Map<Integer, Long>> tagStats;
    private transient long[][] caps;
    private transient long[] totals;
    private transient TagAllocation.Result plan;
    private transient TagAllocation.Values values;
    private transient long[][] demand;

    TagCapFn(BlendSpec spec, PCollectionView<Map<Integer, Long>> stats, PCollectionView<Map<Integer, Long>> tagStats) {
      super(spec, stats);
      this.tagStats = tagStats;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      if (!spec.tagQuotas().walk()) {
        planned(c);
        return;
      }
      TagQuotas.Tag tq = spec.tagQuotas().tags().get(0);
      if (caps == null) {
        Quotas.Result q = quotas(c);
        caps = tagCaps(spec, q, c.sideInput(tagStats));
        totals = new long[tq.limits().size()];
        for (int v = 0; v < totals.length; v++) {
          totals[v] = tq.limits().get(v).cap(q.total());
        }
      }
      Item it = c.element().getKey();
      long rank = c.element().getValue();
      int v = it.tagClass();
      if (v < 0 || rank < caps[it.source()][v]) {
        c.output(it);
        return;
      }
      Progress.add(Progress.PLANNED, 1);
      c.output(OVER_CAP, KV.of(it.key(), new Decision(Decision.TAG_QUOTA, spec.sources().get(it.source()).name(), null,
          List.of(), tq.evidence(v, totals[v], caps[it.source()][v], rank))));
    }

    private void planned(ProcessContext c) {
      if (plan == null) {
        Map<Integer, Long> ts = c.sideInput(tagStats);
        plan = allocation(spec, quotas(c), ts);
        values = new TagAllocation.Values(spec.tagQuotas());
        demand = combinationCounts(spec, ts, DEMAND);
      }
      Item it = c.element().getKey();
      long rank = c.element().getValue();
      int s = it.source();
      int k = it.tagClass() + 1;
      long rows = plan.rows()[s][k];
      if (rank < rows) {
        c.output(it);
        return;
      }
      Progress.add(Progress.PLANNED, 1);
      String source = spec.sources().get(s).name();
      int full = plan.fullCap(values, k);
      Decision d;
      if (full >= 0) {
        d = new Decision(Decision.TAG_QUOTA, source, null, List.of(),
            TagAllocation.overCap(values, plan, full, k, rows, rank));
      } else if (rank < demand[s][k] && plan.raisedBy()[s] >= 0) {
        d = new Decision(Decision.TAG_QUOTA, source, null, List.of(),
            TagAllocation.displaced(values, plan, plan.raisedBy()[s], k, rows, rank));
      } else {
        Quotas.Quota quota = quotas(c).quotas().get(s);
        d = new Decision(Decision.NOT_SELECTED, source, null, List.of(),
            TagAllocation.notReached(values, quota.rows(), quota.available(), k, rows, rank));
      }
      c.output(OVER_CAP, KV.of(it.key(), d));
    }
  }

  /** A record's rank in its source gives its copies; none means no quota reached it. */
  static final class SelectFn extends QuotaFn<KV<Item, Long>, Entry> {
    private static final long serialVersionUID = 1L;

    SelectFn(BlendSpec spec, PCollectionView<Map<Integer, Long>> stats) {
      super(spec, stats);
    }

    @ProcessElement
    public void process(ProcessContext c) {
      Item it = c.element().getKey();
      long rank = c.element().getValue();
      Quotas.Quota quota = quotas(c).quotas().get(it.source());
      long copies = BlendPlan.copies(quota, rank);
      Progress.add(Progress.PLANNED, 1);
      if (copies > 0) {
        c.output(new Entry(it, copies, -1, 0));
      } else {
        c.output(MISSED, KV.of(it.key(), new Decision(Decision.NOT_SELECTED, spec.sources().get(it.source()).name(), null,
            List.of(), BlendPlan.missed(quota, rank))));
      }
    }
  }

  /** A selected record's rank by the split hash puts it in a split; its copies become rows there. */
  static final class SplitFn extends QuotaFn<KV<Entry, Long>, Entry> {
    private static final long serialVersionUID = 1L;
    private transient long[] held;

    SplitFn(BlendSpec spec, PCollectionView<Map<Integer, Long>> stats, PCollectionView<Map<Integer, Long>> eligible) {
      super(spec, stats, eligible);
    }

    @ProcessElement
    public void process(ProcessContext c) {
      if (held == null) {
        held = BlendPlan.validation(spec, selected(c));
      }
      Entry e = c.element().getKey();
      int split = c.element().getValue() < held[e.item().source()] ? 1 : 0;
      for (long copy = 0; copy < e.copies(); copy++) {
        c.output(new Entry(e.item(), e.copies(), split, copy));
      }
    }
  }

  /** A selected record's decision: its rows' positions, in copy order. */
  static final class PlaceFn extends DoFn<KV<OrderKey, Iterable<KV<Entry, Long>>>, KV<OrderKey, Decision>> {
    private static final long serialVersionUID = 1L;
    private final BlendSpec spec;

    PlaceFn(BlendSpec spec) {
      this.spec = spec;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Iterable<KV<Entry, Long>>> rows, OutputReceiver<KV<OrderKey, Decision>> out) {
      List<Long> positions = new ArrayList<>();
      Entry any = null;
      for (KV<Entry, Long> r : rows.getValue()) {
        any = r.getKey();
        int copy = (int) any.copy();
        while (positions.size() <= copy) {
          positions.add(-1L);
        }
        positions.set(copy, r.getValue());
      }
      out.output(KV.of(rows.getKey(), new Decision(Decision.SELECTED, spec.sources().get(any.item().source()).name(),
          BlendPlan.SPLITS.get(any.split()), positions, Map.of())));
    }
  }

  /** Writes the quota report from the counts. */
  static final class ReportFn extends QuotaFn<Map<Integer, Long>, Void> {
    private static final long serialVersionUID = 1L;
    private final String planPath;

    private final PCollectionView<Map<Integer, Long>> tagStats;

    ReportFn(BlendSpec spec, String planPath, PCollectionView<Map<Integer, Long>> stats,
        PCollectionView<Map<Integer, Long>> eligible, PCollectionView<Map<Integer, Long>> tagStats) {
      super(spec, stats, eligible);
      this.planPath = planPath;
      this.tagStats = tagStats;
    }

    @ProcessElement
    public void process(ProcessContext c) throws IOException {
      Quotas.Result q = quotas(c);
      long[] selected = selected(c);
      long[] validation = BlendPlan.validation(spec, selected);
      long[] duplicates = all(spec, c.sideInput(stats), DUPLICATES);
      long distinct = 0;
      for (long n : selected) {
        distinct += n;
      }
      Map<String, Long> rows = new LinkedHashMap<>();
      for (int split = 0; split < BlendPlan.SPLITS.size(); split++) {
        rows.put(BlendPlan.SPLITS.get(split), c.element().getOrDefault(split, 0L));
      }
      List<Map<String, Object>> tags = null;
      List<String> notes = new ArrayList<>(q.notes());
      if (spec.tagQuotas() != null) {
        tags = tagReport(spec, q, c.sideInput(tagStats));
        if (!spec.tagQuotas().walk()) {
          notes.addAll(allocation(spec, q, c.sideInput(tagStats)).notes());
        }
        for (int s = 0; s < selected.length; s++) {
          Quotas.Quota quota = q.quotas().get(s);
          if (selected[s] < quota.rows()) {
            notes.add(String.format(java.util.Locale.ROOT, "source %s: %,d rows instead of its quota of %,d: tag quotas "
                + "left too few other records", quota.name(), selected[s], quota.rows()));
          }
        }
      }
      BlendReport.write(planPath, q, duplicates, selected, validation, rows, distinct, tags, notes);
    }
  }

  /**
   * The tag quotas' part of the plan. Caps on one tag: per capped value its quota as given, the cap in
   * rows, what the sources would take without it ({@code wanted}), the records of the value, and each
   * source's share. Otherwise {@link TagAllocation#report}.
   */
  static List<Map<String, Object>> tagReport(BlendSpec spec, Quotas.Result q, Map<Integer, Long> tagStats) {
    if (!spec.tagQuotas().walk()) {
      return TagAllocation.report(new TagAllocation.Values(spec.tagQuotas()), allocation(spec, q, tagStats),
          spec.sources().stream().map(BlendSpec.Source::name).toList());
    }
    TagQuotas.Tag tq = spec.tagQuotas().tags().get(0);
    long[][] caps = tagCaps(spec, q, tagStats);
    long[][] demand = tagCounts(spec, tagStats, DEMAND);
    long[][] available = tagCounts(spec, tagStats, AVAILABLE);
    List<Map<String, Object>> out = new ArrayList<>();
    for (int v = 0; v < tq.limits().size(); v++) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("tag", tq.tag());
      m.put("value", tq.limits().get(v).value());
      m.put("quota", tq.limits().get(v).asMap());
      m.put("cap", tq.limits().get(v).cap(q.total()));
      long wanted = 0;
      long records = 0;
      Map<String, Long> perSource = new LinkedHashMap<>();
      for (int s = 0; s < caps.length; s++) {
        wanted += demand[s][v];
        records += available[s][v];
        perSource.put(spec.sources().get(s).name(), caps[s][v]);
      }
      m.put("wanted", wanted);
      m.put("records", records);
      m.put("sourceCaps", perSource);
      out.add(m);
    }
    return out;
  }

  /** Selection order: the source, then the seeded hash of the record id, then input position. */
  record SelectKeys(long seed) implements HashRank.Keys<Item> {
    @Override
    public int group(Item t) {
      return t.source();
    }

    @Override
    public long hash(Item t) {
      return BlendPlan.keyed(BlendPlan.SELECT, seed, t.id(), 0);
    }

    @Override
    public int tie(Item a, Item b) {
      return a.key().compareTo(b.key());
    }
  }

  /** Rank within a source's records of one tag class: the (source, class) group, then as selection. */
  record ValueKeys(long seed, int classes) implements HashRank.Keys<Item> {
    @Override
    public int group(Item t) {
      return tagGroup(t, classes);
    }

    @Override
    public long hash(Item t) {
      return BlendPlan.keyed(BlendPlan.SELECT, seed, t.id(), 0);
    }

    @Override
    public int tie(Item a, Item b) {
      return a.key().compareTo(b.key());
    }
  }

  /** Split order: the source, then the seeded split hash of the record id, then input position. */
  record SplitKeys(long seed) implements HashRank.Keys<Entry> {
    @Override
    public int group(Entry t) {
      return t.item().source();
    }

    @Override
    public long hash(Entry t) {
      return BlendPlan.keyed(BlendPlan.SPLIT, seed, t.item().id(), 0);
    }

    @Override
    public int tie(Entry a, Entry b) {
      return a.item().key().compareTo(b.item().key());
    }
  }

  /** Row order: the split, then the seeded hash of (record id, copy), then input position and copy. */
  record OrderKeys(long seed) implements HashRank.Keys<Entry> {
    @Override
    public int group(Entry t) {
      return t.split();
    }

    @Override
    public long hash(Entry t) {
      return BlendPlan.keyed(BlendPlan.ORDER, seed, t.item().id(), t.copy());
    }

    @Override
    public int tie(Entry a, Entry b) {
      int c = a.item().key().compareTo(b.item().key());
      return c != 0 ? c : Long.compare(a.copy(), b.copy());
    }
  }
}
