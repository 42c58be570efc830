package io.instructflow.pipelines.blend;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.coders.IterableCoder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionView;

/**
 * A GroupByKey whose shuffle keys are hash buckets of about {@value HashRank#BUCKET} elements rather
 * than the keys themselves; each bucket is grouped by key in memory. The result is a GroupByKey's
 * (each key once, with all its values, in no particular order), with a few hundred shuffle groups
 * for a million keys instead of a million. The element count that sizes the buckets comes from a side
 * input the caller has; it only sets how many buckets there are.
 *
 * @param <K> key (its {@code equals} and {@code hashCode} group in memory)
 * @param <V> value
 * @param <S> the side input's type
 */
public final class BucketGroup<K, V, S> extends PTransform<PCollection<KV<K, V>>, PCollection<KV<K, Iterable<V>>>> {
  private static final long serialVersionUID = 1L;

  /**
   * A 64-bit hash of a key; equal keys must hash equal.
   *
   * @param <K> key
   */
  public interface Hash<K> extends Serializable {
    /** The hash. */
    long of(K key);
  }

  private final Hash<K> hash;
  private final PCollectionView<S> side;
  private final SerializableFunction<S, Long> elements;
  private final int bucket;

  private BucketGroup(Hash<K> hash, PCollectionView<S> side, SerializableFunction<S, Long> elements, int bucket) {
    this.hash = hash;
    this.side = side;
    this.elements = elements;
    this.bucket = bucket;
  }

  /** Groups by key, keys hashed by {@code hash}, buckets sized from {@code elements} of {@code side}. */
  public static <K, V, S> BucketGroup<K, V, S> of(Hash<K> hash, PCollectionView<S> side, SerializableFunction<S, Long> elements) {
    return new BucketGroup<>(hash, side, elements, HashRank.BUCKET);
  }

  /** The same with buckets sized for {@code elements} (tests use small ones to exercise many buckets). */
  BucketGroup<K, V, S> withBucketSize(int elements) {
    return new BucketGroup<>(hash, side, this.elements, elements);
  }

  @Override
  public PCollection<KV<K, Iterable<V>>> expand(PCollection<KV<K, V>> in) {
    KvCoder<K, V> coder = (KvCoder<K, V>) in.getCoder();
    return in
        .apply("ToBucket", ParDo.of(new BucketFn<K, V, S>(hash, side, elements, bucket)).withSideInputs(side))
        .setCoder(KvCoder.of(VarLongCoder.of(), coder))
        .apply("Buckets", GroupByKey.create())
        .apply("ByKey", ParDo.of(new SplitFn<K, V>()))
        .setCoder(KvCoder.of(coder.getKeyCoder(), IterableCoder.of(coder.getValueCoder())));
  }

  /** Keys an element by its bucket. */
  static final class BucketFn<K, V, S> extends DoFn<KV<K, V>, KV<Long, KV<K, V>>> {
    private static final long serialVersionUID = 1L;
    private final Hash<K> hash;
    private final PCollectionView<S> side;
    private final SerializableFunction<S, Long> elements;
    private final int bucket;
    private transient Integer bits;

    BucketFn(Hash<K> hash, PCollectionView<S> side, SerializableFunction<S, Long> elements, int bucket) {
      this.hash = hash;
      this.side = side;
      this.elements = elements;
      this.bucket = bucket;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      if (bits == null) {
        bits = HashRank.bits(elements.apply(c.sideInput(side)), bucket);
      }
      long h = BlendPlan.mix(hash.of(c.element().getKey()));
      c.output(KV.of(bits == 0 ? 0L : h >>> (64 - bits), c.element()));
    }
  }

  /** Groups one bucket by key. */
  static final class SplitFn<K, V> extends DoFn<KV<Long, Iterable<KV<K, V>>>, KV<K, Iterable<V>>> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<Long, Iterable<KV<K, V>>> bucket, OutputReceiver<KV<K, Iterable<V>>> out) {
      Map<K, List<V>> byKey = new HashMap<>();
      for (KV<K, V> kv : bucket.getValue()) {
        byKey.computeIfAbsent(kv.getKey(), k -> new ArrayList<>()).add(kv.getValue());
      }
      byKey.forEach((k, v) -> out.output(KV.of(k, v)));
    }
  }
}
