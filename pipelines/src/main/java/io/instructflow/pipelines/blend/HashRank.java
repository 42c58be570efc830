package io.instructflow.pipelines.blend;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionView;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * The rank of every element within its group, in the order of a 64-bit hash and then a tie-break,
 * without any group gathered in one place. Each group's size is counted first; its hash range is then
 * cut into a power of two of buckets, enough that a bucket holds about {@value #BUCKET} elements when
 * the hashes spread as a good mixer spreads them. The buckets' sizes are counted (a side input of one
 * long per bucket), each bucket is grouped and sorted on its own, and an element's rank is the size of
 * its group's earlier buckets plus its place in its bucket. The ranks are exactly those of sorting the
 * whole group (0-based, no gaps); the largest sort held in one place is a bucket, not a group.
 *
 * @param <T> the element
 */
public final class HashRank<T> extends PTransform<PCollection<T>, PCollection<KV<T, Long>>> {
  private static final long serialVersionUID = 1L;

  /** Elements a bucket is sized for. */
  static final int BUCKET = 4096;
  /** Most bits of the hash that choose a bucket (a million buckets per group). */
  static final int MAX_BITS = 20;

  /**
   * What an element is ranked by.
   *
   * @param <T> the element
   */
  public interface Keys<T> extends Serializable {
    /** The group it is ranked within (0 and up). */
    int group(T t);

    /** The hash it is ordered by (signed order, as {@link Long#compare}). */
    long hash(T t);

    /** The order among equal hashes; must be total over a group's elements. */
    int tie(T a, T b);
  }

  /**
   * A group's size, or a bound on it, from a side input the caller already has: it only sets the
   * number of buckets, never the ranks.
   */
  public interface Sizes extends Serializable {
    /** The size of {@code group} from the side input {@code side}. */
    long of(Map<Integer, Long> side, int group);
  }

  private final Keys<T> keys;
  private final int bucket;
  private final PCollectionView<Map<Integer, Long>> side;
  private final Sizes sizes;

  private HashRank(Keys<T> keys, int bucket, PCollectionView<Map<Integer, Long>> side, Sizes sizes) {
    this.keys = keys;
    this.bucket = bucket;
    this.side = side;
    this.sizes = sizes;
  }

  /** Ranks by {@code keys}, counting the groups first. */
  public static <T> HashRank<T> by(Keys<T> keys) {
    return new HashRank<>(keys, BUCKET, null, (m, g) -> m.get(g));
  }

  /** The same, with the groups' sizes (or bounds) read from a side input the caller has, not counted. */
  public HashRank<T> sizedBy(PCollectionView<Map<Integer, Long>> view, Sizes of) {
    return new HashRank<>(keys, bucket, view, of);
  }

  /** The same with buckets sized for {@code elements} (tests use small ones to exercise many buckets). */
  HashRank<T> withBucketSize(int elements) {
    return new HashRank<>(keys, elements, side, sizes);
  }

  /** Bits of the hash that choose the bucket in a group of {@code n}. */
  static int bits(long n, int bucket) {
    int bits = 0;
    while (bits < MAX_BITS && (n >> bits) > bucket) {
      bits++;
    }
    return bits;
  }

  /** The bucket key of a hash in a group: ascending with the signed hash, groups apart. */
  static long bucketKey(int group, long hash, int bits) {
    long b = bits == 0 ? 0 : (hash ^ Long.MIN_VALUE) >>> (64 - bits);
    return ((long) group << MAX_BITS) | b;
  }

  @Override
  public PCollection<KV<T, Long>> expand(PCollection<T> in) {
    Coder<T> coder = in.getCoder();
    Keys<T> k = keys;
    PCollectionView<Map<Integer, Long>> groups = side != null ? side : in
        .apply("Groups", MapElements.into(TypeDescriptors.integers()).via((T t) -> k.group(t)))
        .apply("GroupSizes", Count.perElement())
        .apply("GroupsView", View.asMap());
    PCollection<KV<Long, T>> keyed = in
        .apply("ByBucket", ParDo.of(new BucketFn<>(keys, bucket, groups, sizes)).withSideInputs(groups))
        .setCoder(KvCoder.of(VarLongCoder.of(), coder));
    PCollectionView<Map<Long, Long>> sizes = keyed
        .apply("BucketKeys", org.apache.beam.sdk.transforms.Keys.create())
        .apply("BucketSizes", Count.perElement())
        .apply("SizesView", View.asMap());
    return keyed
        .apply("Bucket", GroupByKey.create())
        .apply("RankInBucket", ParDo.of(new RankFn<>(keys, sizes)).withSideInputs(sizes))
        .setCoder(KvCoder.of(coder, VarLongCoder.of()));
  }

  /** Keys an element by its bucket, the bucket count chosen from its group's size. */
  static final class BucketFn<T> extends DoFn<T, KV<Long, T>> {
    private static final long serialVersionUID = 1L;
    private final Keys<T> keys;
    private final int bucket;
    private final PCollectionView<Map<Integer, Long>> groups;
    private final Sizes sizes;
    private transient Map<Integer, Integer> bits;

    BucketFn(Keys<T> keys, int bucket, PCollectionView<Map<Integer, Long>> groups, Sizes sizes) {
      this.keys = keys;
      this.bucket = bucket;
      this.groups = groups;
      this.sizes = sizes;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      if (bits == null) {
        bits = new HashMap<>();
      }
      T t = c.element();
      int g = keys.group(t);
      Integer b = bits.get(g);
      if (b == null) {
        Long n = sizes.of(c.sideInput(groups), g);
        b = bits(n == null ? 0 : n, bucket);
        bits.put(g, b);
      }
      c.output(KV.of(bucketKey(g, keys.hash(t), b), t));
    }
  }

  /** Sorts one bucket and adds the sizes of the group's earlier buckets. */
  static final class RankFn<T> extends DoFn<KV<Long, Iterable<T>>, KV<T, Long>> {
    private static final long serialVersionUID = 1L;
    private final Keys<T> keys;
    private final PCollectionView<Map<Long, Long>> sizes;
    private transient Map<Long, Long> offsets;

    RankFn(Keys<T> keys, PCollectionView<Map<Long, Long>> sizes) {
      this.keys = keys;
      this.sizes = sizes;
    }

    /** For each bucket, the elements of its group in earlier buckets. */
    static Map<Long, Long> offsets(Map<Long, Long> sizes) {
      Map<Long, Long> out = new HashMap<>();
      long group = -1;
      long before = 0;
      for (Map.Entry<Long, Long> e : new TreeMap<>(sizes).entrySet()) {
        long g = e.getKey() >>> MAX_BITS;
        if (g != group) {
          group = g;
          before = 0;
        }
        out.put(e.getKey(), before);
        before += e.getValue();
      }
      return out;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      if (offsets == null) {
        offsets = offsets(c.sideInput(sizes));
      }
      KV<Long, Iterable<T>> kv = c.element();
      List<T> l = new ArrayList<>();
      kv.getValue().forEach(l::add);
      Comparator<T> order = Comparator.<T>comparingLong(keys::hash).thenComparing(keys::tie);
      l.sort(order);
      long base = offsets.get(kv.getKey());
      for (int i = 0; i < l.size(); i++) {
        c.output(KV.of(l.get(i), base + i));
      }
    }
  }
}
