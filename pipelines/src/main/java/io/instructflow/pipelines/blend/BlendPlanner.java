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
    PCollectionTuple selection = live
        .apply("RankToSelect", HashRank.by(new SelectKeys(seed)).sizedBy(stats, (m, g) -> get(m, g, LIVE_RECORDS)))
        .apply("Select", ParDo.of(new SelectFn(spec, stats)).withSideInputs(stats)
            .withOutputTags(SELECTED, TupleTagList.of(MISSED)));
    PCollection<Entry> rows = selection.get(SELECTED).setCoder(BlendPlan.EntryCoder.INSTANCE)
        .apply("RankToSplit", HashRank.by(new SplitKeys(seed)).sizedBy(stats, (m, g) -> BlendPlan.selected(quotas(sp, m))[g]))
        .apply("Split", ParDo.of(new SplitFn(spec, stats)).withSideInputs(stats))
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
        .apply("WriteReport", ParDo.of(new ReportFn(spec, planPath, stats)).withSideInputs(stats));

    return PCollectionList.of(duplicates).and(selection.get(MISSED).setCoder(decisionCoder())).and(placed)
        .apply("Decisions", Flatten.pCollections());
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
          out.get(DUPLICATE).output(KV.of(it.key(), new Decision("duplicate", spec.sources().get(it.source()).name(), null,
              List.of(), ev)));
        }
      }
    }
  }

  /** Quotas computed once per worker from the per-source counts. */
  abstract static class QuotaFn<I, O> extends DoFn<I, O> {
    private static final long serialVersionUID = 1L;
    final BlendSpec spec;
    final PCollectionView<Map<Integer, Long>> stats;
    private transient Quotas.Result quotas;

    QuotaFn(BlendSpec spec, PCollectionView<Map<Integer, Long>> stats) {
      this.spec = spec;
      this.stats = stats;
    }

    Quotas.Result quotas(ProcessContext c) {
      if (quotas == null) {
        quotas = BlendPlanner.quotas(spec, c.sideInput(stats));
      }
      return quotas;
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
        c.output(MISSED, KV.of(it.key(), new Decision("not_selected", spec.sources().get(it.source()).name(), null, List.of(),
            BlendPlan.missed(quota, rank))));
      }
    }
  }

  /** A selected record's rank by the split hash puts it in a split; its copies become rows there. */
  static final class SplitFn extends QuotaFn<KV<Entry, Long>, Entry> {
    private static final long serialVersionUID = 1L;
    private transient long[] held;

    SplitFn(BlendSpec spec, PCollectionView<Map<Integer, Long>> stats) {
      super(spec, stats);
    }

    @ProcessElement
    public void process(ProcessContext c) {
      if (held == null) {
        held = BlendPlan.validation(spec, BlendPlan.selected(quotas(c)));
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
      out.output(KV.of(rows.getKey(), new Decision("selected", spec.sources().get(any.item().source()).name(),
          BlendPlan.SPLITS.get(any.split()), positions, Map.of())));
    }
  }

  /** Writes the quota report from the counts. */
  static final class ReportFn extends QuotaFn<Map<Integer, Long>, Void> {
    private static final long serialVersionUID = 1L;
    private final String planPath;

    ReportFn(BlendSpec spec, String planPath, PCollectionView<Map<Integer, Long>> stats) {
      super(spec, stats);
      this.planPath = planPath;
    }

    @ProcessElement
    public void process(ProcessContext c) throws IOException {
      Quotas.Result q = quotas(c);
      long[] selected = BlendPlan.selected(q);
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
      BlendReport.write(planPath, q, duplicates, selected, validation, rows, distinct);
    }
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
