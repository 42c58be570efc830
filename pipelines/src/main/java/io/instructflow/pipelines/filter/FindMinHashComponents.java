package io.instructflow.pipelines.filter;

import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.dedup.MinHashComponents;
import io.instructflow.filters.dedup.MinHashDedup;
import io.instructflow.pipelines.dedup.ConnectedComponents;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.BigEndianLongCoder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.join.CoGbkResult;
import org.apache.beam.sdk.transforms.join.CoGroupByKey;
import org.apache.beam.sdk.transforms.join.KeyedPCollectionTuple;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * The {@code minhash_dedup} components rule ({@link MinHashComponents}) as a distributed stage: the
 * verdict of every record that is not the earliest of its connected component; the other records get
 * none. Nothing gathers the records in one place, and a record's shingle set travels only where it has
 * a band in common with another record:
 * <ol>
 *   <li>{@code MinHashSign}: each record's shingle set and MinHash band keys, in parallel (the same
 *       code, seeds and shingles as the ordered rule). Two outputs: one small element per band, (band
 *       key, record key), and one per record, (record key, shingle set).
 *   <li>{@code ByBand}: a GroupByKey of the record keys on the band key. A bucket of one record is
 *       dropped there; it links nothing, and it is most of them. A bucket of two or more gets an id, a
 *       128-bit hash of its sorted member keys, so that the same members met in several bands (a pair of
 *       near-copies usually shares most bands) are linked once; each member gets (record key, bucket id).
 *   <li>{@code WithShingles}: a CoGroupByKey of those memberships with the shingle sets, by record key:
 *       each record in a shared bucket sends its set once to each distinct bucket it is in.
 *   <li>{@code ByBucket}: a GroupByKey on the bucket id; each bucket is linked in one worker
 *       ({@link MinHashComponents#link}: identical sets join by hash, other pairs are verified with the
 *       exact Jaccard unless already joined) and emits one edge per linked member, to the bucket's
 *       earliest member it is joined with. A bucket's memory is its members' shingle sets (8 bytes per
 *       shingle); its time is at worst quadratic in its distinct sets.
 *   <li>{@link ConnectedComponents} over those edges: each linked record with the earliest record of
 *       its component.
 *   <li>{@code ByComponent} ({@link ComponentDrops}): a CoGroupByKey of the components' members with every
 *       record's id and location, by the component's earliest record, which names it in the members' verdicts.
 * </ol>
 *
 * <p>The result is that of linking every band bucket on its own, as {@link MinHashComponents#apply}
 * does: a bucket met again in another band has the same members and so the same links. Two different
 * member lists share an id only if their two independent 64-bit hashes both collide; they would then
 * be linked as one bucket, which can only add verified pairs of records that share no band.
 *
 * <pre>{@code
 * PCollection<KV<OrderKey, Verdict>> drops = records.apply("MinHashComponents", FindMinHashComponents.of(rule));
 * }</pre>
 */
public final class FindMinHashComponents extends PTransform<PCollection<KV<OrderKey, Example>>, PCollection<KV<OrderKey, Verdict>>> {
  private static final long serialVersionUID = 1L;

  static final String NAMESPACE = "minhash_components";

  private final MinHashComponents rule;
  private final int rounds;

  private FindMinHashComponents(MinHashComponents rule, int rounds) {
    this.rule = Objects.requireNonNull(rule, "rule");
    this.rounds = rounds;
  }

  /** The stage of {@code rule}. */
  public static FindMinHashComponents of(MinHashComponents rule) {
    return new FindMinHashComponents(rule, ConnectedComponents.ROUNDS);
  }

  /** The same with {@code rounds} rounds of component linking (the result does not depend on it). */
  public FindMinHashComponents withRounds(int rounds) {
    if (rounds < 0) {
      throw new IllegalArgumentException("rounds must be >= 0, got " + rounds);
    }
    return new FindMinHashComponents(rule, rounds);
  }

  @Override
  public PCollection<KV<OrderKey, Verdict>> expand(PCollection<KV<OrderKey, Example>> records) {
    KvCoder<OrderKey, long[]> member = KvCoder.of(OrderKey.Coder.of(), LongArrayCoder.INSTANCE);
    KvCoder<OrderKey, OrderKey> edge = KvCoder.of(OrderKey.Coder.of(), OrderKey.Coder.of());
    KvCoder<Long, Long> bucketId = KvCoder.of(BigEndianLongCoder.of(), BigEndianLongCoder.of());
    PCollectionTuple signed = records.apply("MinHashSign",
        ParDo.of(new SignFn(rule)).withOutputTags(BANDS, TupleTagList.of(SHINGLES)));
    PCollection<KV<OrderKey, KV<Long, Long>>> memberships = signed.get(BANDS)
        .setCoder(KvCoder.of(VarLongCoder.of(), OrderKey.Coder.of()))
        .apply("ByBand", GroupByKey.create())
        .apply("SharedBuckets", ParDo.of(new BucketFn())).setCoder(KvCoder.of(OrderKey.Coder.of(), bucketId));
    TupleTag<KV<Long, Long>> inTag = new TupleTag<>() {};
    TupleTag<long[]> setTag = new TupleTag<>() {};
    PCollection<KV<OrderKey, OrderKey>> labels = KeyedPCollectionTuple.of(inTag, memberships)
        .and(setTag, signed.get(SHINGLES).setCoder(member))
        .apply("WithShingles", CoGroupByKey.create())
        .apply("ToBuckets", ParDo.of(new ToBucketsFn(inTag, setTag))).setCoder(KvCoder.of(bucketId, member))
        .apply("ByBucket", GroupByKey.create())
        .apply("LinkBucket", ParDo.of(new LinkFn(rule))).setCoder(edge)
        .apply("Components", ConnectedComponents.of(OrderKey.Coder.of()).withRounds(rounds));
    return ComponentDrops.of(records, labels, NAMESPACE, new Naming(rule));
  }

  static final TupleTag<KV<Long, OrderKey>> BANDS = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, long[]>> SHINGLES = new TupleTag<>() {};

  /** A record's band keys, one element each with its record key ({@link #BANDS}), and its shingle set ({@link #SHINGLES}). */
  static final class SignFn extends DoFn<KV<OrderKey, Example>, KV<Long, OrderKey>> {
    private static final long serialVersionUID = 1L;
    private final MinHashComponents rule;

    SignFn(MinHashComponents rule) {
      this.rule = rule;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, MultiOutputReceiver out) {
      MinHashDedup.Prepared p = rule.prepare(GateInput.of(kv.getValue()));
      OutputReceiver<KV<Long, OrderKey>> bands = out.get(BANDS);
      for (long b : rule.buckets(p)) {
        bands.output(KV.of(b, kv.getKey()));
      }
      out.get(SHINGLES).output(KV.of(kv.getKey(), p.shingles()));
    }
  }

  /**
   * A band bucket of two or more records: (member, bucket id) for each member, the id a 128-bit hash of
   * the sorted member keys. A bucket of one is dropped.
   */
  static final class BucketFn extends DoFn<KV<Long, Iterable<OrderKey>>, KV<OrderKey, KV<Long, Long>>> {
    private static final long serialVersionUID = 1L;
    private final Counter shared = Metrics.counter(NAMESPACE, "shared_buckets");

    @ProcessElement
    public void process(@Element KV<Long, Iterable<OrderKey>> g, OutputReceiver<KV<OrderKey, KV<Long, Long>>> out) {
      List<OrderKey> members = new ArrayList<>();
      g.getValue().forEach(members::add);
      if (members.size() < 2) {
        return;
      }
      shared.inc();
      members.sort(null);
      KV<Long, Long> id = bucketId(members);
      for (OrderKey m : members) {
        out.output(KV.of(m, id));
      }
    }
  }

  /** Two independent 64-bit hashes of a sorted list of record keys. */
  static KV<Long, Long> bucketId(List<OrderKey> sorted) {
    long a = 0x6a09e667f3bcc908L;
    long b = 0xbb67ae8584caa73bL;
    for (OrderKey k : sorted) {
      for (long x : new long[] {k.source(), k.position(), k.sub()}) {
        a = mix(a ^ x);
        b = mix(b + x * 0x9e3779b97f4a7c15L);
      }
    }
    return KV.of(mix(a ^ sorted.size()), mix(b + sorted.size()));
  }

  /** A 64-bit finalizer (xor-shift and multiply; the constants of SplitMix64). */
  private static long mix(long x) {
    x = (x ^ (x >>> 30)) * 0xbf58476d1ce4e5b9L;
    x = (x ^ (x >>> 27)) * 0x94d049bb133111ebL;
    return x ^ (x >>> 31);
  }

  /** A record in shared buckets: its shingle set once to each distinct bucket it is in. */
  static final class ToBucketsFn extends DoFn<KV<OrderKey, CoGbkResult>, KV<KV<Long, Long>, KV<OrderKey, long[]>>> {
    private static final long serialVersionUID = 1L;
    private final TupleTag<KV<Long, Long>> inTag;
    private final TupleTag<long[]> setTag;
    private final Counter sent = Metrics.counter(NAMESPACE, "shingle_sets_sent");

    ToBucketsFn(TupleTag<KV<Long, Long>> inTag, TupleTag<long[]> setTag) {
      this.inTag = inTag;
      this.setTag = setTag;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, CoGbkResult> g, OutputReceiver<KV<KV<Long, Long>, KV<OrderKey, long[]>>> out) {
      java.util.Set<KV<Long, Long>> buckets = new java.util.HashSet<>();
      g.getValue().getAll(inTag).forEach(buckets::add);
      if (buckets.isEmpty()) {
        return;
      }
      long[] set = g.getValue().getOnly(setTag);
      for (KV<Long, Long> b : buckets) {
        sent.inc();
        out.output(KV.of(b, KV.of(g.getKey(), set)));
      }
    }
  }

  /** Links one bucket's members: an edge from each linked member to the earliest it joins. */
  static final class LinkFn extends DoFn<KV<KV<Long, Long>, Iterable<KV<OrderKey, long[]>>>, KV<OrderKey, OrderKey>> {
    private static final long serialVersionUID = 1L;
    private final MinHashComponents rule;
    private final Counter edges = Metrics.counter(NAMESPACE, "edges");
    private final Counter linked = Metrics.counter(NAMESPACE, "distinct_buckets");

    LinkFn(MinHashComponents rule) {
      this.rule = rule;
    }

    @ProcessElement
    public void process(@Element KV<KV<Long, Long>, Iterable<KV<OrderKey, long[]>>> g, OutputReceiver<KV<OrderKey, OrderKey>> out) {
      List<KV<OrderKey, long[]>> members = new ArrayList<>();
      g.getValue().forEach(members::add);
      if (members.size() < 2) {
        return;
      }
      linked.inc();
      members.sort((a, b) -> a.getKey().compareTo(b.getKey()));
      List<long[]> sets = new ArrayList<>(members.size());
      members.forEach(m -> sets.add(m.getValue()));
      int[] root = rule.link(sets);
      for (int i = 0; i < root.length; i++) {
        if (root[i] != i && !members.get(i).getKey().equals(members.get(root[i]).getKey())) {
          edges.inc();
          out.output(KV.of(members.get(i).getKey(), members.get(root[i]).getKey()));
        }
      }
    }
  }

  /** A component's earliest record names itself by id and location; the rule words the verdict. */
  static final class Naming implements ComponentDrops.Naming {
    private static final long serialVersionUID = 1L;
    private final MinHashComponents rule;

    Naming(MinHashComponents rule) {
      this.rule = rule;
    }

    @Override
    public KV<String, String> ref(Example e) {
      return KV.of(e.id(), e.provenance().origin().location());
    }

    @Override
    public Verdict dropped(KV<String, String> ref, long size) {
      return rule.dropped(ref.getKey(), ref.getValue(), size);
    }
  }

  /** A long array: its length, then each value as 8 bytes. */
  static final class LongArrayCoder extends AtomicCoder<long[]> {
    private static final long serialVersionUID = 1L;
    static final LongArrayCoder INSTANCE = new LongArrayCoder();

    @Override
    public void encode(long[] a, OutputStream out) throws IOException {
      VarIntCoder.of().encode(a.length, out);
      java.io.DataOutputStream d = new java.io.DataOutputStream(out);
      for (long x : a) {
        d.writeLong(x);
      }
      d.flush();
    }

    @Override
    public long[] decode(InputStream in) throws IOException {
      int n = VarIntCoder.of().decode(in);
      java.io.DataInputStream d = new java.io.DataInputStream(in);
      long[] a = new long[n];
      for (int i = 0; i < n; i++) {
        a[i] = d.readLong();
      }
      return a;
    }

    @Override
    public void verifyDeterministic() {}
  }
}
