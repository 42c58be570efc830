package io.instructflow.pipelines.dedup;

import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OrderedPass;
import io.instructflow.pipelines.io.WriteOrdered;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.BooleanCoder;
import org.apache.beam.sdk.coders.CannotProvideCoderException;
import org.apache.beam.sdk.coders.CoderRegistry;
import org.apache.beam.sdk.coders.DoubleCoder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.ListCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionView;

/**
 * Stages records in the order of {@code --order-by FIELD} (by {@link SortValue#ORDER}, then input
 * position) as fragments for {@link OrderedPass#decideSorted}, without gathering them: a range
 * partitioning. Each line carries its record's input position ({@link OrderedPass#sortedLine}).
 *
 * <ol>
 *   <li>Every record gets its sort key: the sort value and its input position. The key is a total
 *       order, so ties (one value for every record, or no value) are ordered by input position and
 *       split across ranges like any other keys.
 *   <li>A deterministic sample of the keys (one record in {@code target / 64} by a hash of its input
 *       position, every record for a target of 64 or less) is combined into one sorted list, and every
 *       64th sampled key starts a new range: ranges of about {@code target} records each.
 *   <li>Each record goes to its range by a binary search of those bounds (a side input); each range is
 *       grouped, sorted in memory and written as one fragment named by its range number, so that the
 *       fragments' name order is the sort order.
 * </ol>
 *
 * <p>Memory: the sample (about 1 / {@code target} × 64 of the records' sort keys: for the default
 * target of 2,048, one key in 32) in one combine and as a side input; one range (about
 * {@code target} records, as JSON) in a writing task. The sample's randomness makes ranges differ from
 * the target by a few tens of percent; it does not depend on the data's values or ties.
 *
 * {@code records.apply("StageSorted", StageInSortOrder.by("metadata.priority", layout.staging(OrderedPass.SORTED)));}
 */
public final class StageInSortOrder extends PTransform<PCollection<KV<OrderKey, Example>>, PCollection<String>> {
  private static final long serialVersionUID = 1L;

  /** Records per range by default: as many as input positions in an input-order fragment. */
  public static final long DEFAULT_TARGET = WriteOrdered.FRAGMENT_POSITIONS;

  /** Sampled keys per range: the larger, the closer each range comes to the target. */
  static final int SAMPLES_PER_RANGE = 64;

  private final SerializableFunction<Example, SortValue> key;
  private final String dir;
  private final long target;

  private StageInSortOrder(SerializableFunction<Example, SortValue> key, String dir, long target) {
    this.key = key;
    this.dir = dir;
    this.target = target;
  }

  /** Stages by {@code field} (as {@link SortValue#of} reads it) into folder {@code dir}. */
  public static StageInSortOrder by(String field, String dir) {
    Objects.requireNonNull(field, "field");
    return by(e -> SortValue.of(e, field), dir);
  }

  /** Stages by the value {@code key} gives each record (then input position) into folder {@code dir}. */
  public static StageInSortOrder by(SerializableFunction<Example, SortValue> key, String dir) {
    return new StageInSortOrder(Objects.requireNonNull(key, "key"), Objects.requireNonNull(dir, "dir"), DEFAULT_TARGET);
  }

  /** A copy aiming at {@code records} records per range (and fragment). */
  public StageInSortOrder withRangeTarget(long records) {
    if (records < 1) {
      throw new IllegalArgumentException("range target must be positive, got " + records);
    }
    return new StageInSortOrder(key, dir, records);
  }

  /** One record in this many is sampled. */
  static long sampleEvery(long target) {
    return Math.max(1, target / SAMPLES_PER_RANGE);
  }

  @Override
  public PCollection<String> expand(PCollection<KV<OrderKey, Example>> records) {
    KvCoder<SortKey, String> keyed = KvCoder.of(SortKey.Coder.of(), StringUtf8Coder.of());
    PCollection<KV<SortKey, String>> lines = records.apply("SortKeys", ParDo.of(new SortKeyFn(key))).setCoder(keyed);
    long every = sampleEvery(target);
    PCollectionView<List<SortKey>> bounds = lines
        .apply("SampleKeys", ParDo.of(new SampleFn(every))).setCoder(SortKey.Coder.of())
        .apply("RangeBounds", Combine.globally(new BoundsFn(Math.max(1, target / every))).asSingletonView());
    return lines
        .apply("ToRange", ParDo.of(new RangeFn(bounds)).withSideInputs(bounds))
        .setCoder(KvCoder.of(VarLongCoder.of(), keyed))
        .apply("GroupRanges", GroupByKey.create())
        .apply("WriteRanges", ParDo.of(new WriteRangeFn(dir)))
        .setCoder(StringUtf8Coder.of());
  }

  /**
   * A record's place in the order: its sort value, then its input position.
   *
   * @param value the {@code --order-by} value
   * @param key the input position
   */
  record SortKey(SortValue value, OrderKey key) implements Serializable {
    /** Sort value, then input position: a total order, the one {@code --order-by} decides in. */
    static final Comparator<SortKey> ORDER =
        Comparator.comparing(SortKey::value, SortValue.ORDER).thenComparing(SortKey::key);

    SortKey {
      Objects.requireNonNull(value, "value");
      Objects.requireNonNull(key, "key");
    }

    /** Rank, the number's bits, the text (or none) and the input position. */
    static final class Coder extends AtomicCoder<SortKey> {
      private static final long serialVersionUID = 1L;
      private static final Coder INSTANCE = new Coder();

      private Coder() {}

      static Coder of() {
        return INSTANCE;
      }

      @Override
      public void encode(SortKey k, OutputStream out) throws IOException {
        VarIntCoder.of().encode(k.value().rank(), out);
        DoubleCoder.of().encode(k.value().number(), out);
        BooleanCoder.of().encode(k.value().text() != null, out);
        if (k.value().text() != null) {
          StringUtf8Coder.of().encode(k.value().text(), out);
        }
        OrderKey.Coder.of().encode(k.key(), out);
      }

      @Override
      public SortKey decode(InputStream in) throws IOException {
        int rank = VarIntCoder.of().decode(in);
        double number = DoubleCoder.of().decode(in);
        String text = BooleanCoder.of().decode(in) ? StringUtf8Coder.of().decode(in) : null;
        return new SortKey(new SortValue(rank, number, text), OrderKey.Coder.of().decode(in));
      }

      @Override
      public void verifyDeterministic() {}
    }
  }

  /** A record to its sort key and JSON line. */
  static final class SortKeyFn extends DoFn<KV<OrderKey, Example>, KV<SortKey, String>> {
    private static final long serialVersionUID = 1L;
    private final SerializableFunction<Example, SortValue> key;

    SortKeyFn(SerializableFunction<Example, SortValue> key) {
      this.key = key;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, OutputReceiver<KV<SortKey, String>> out) {
      Example e = kv.getValue();
      out.output(KV.of(new SortKey(key.apply(e), kv.getKey()), Json.line(e)));
    }
  }

  /** A well-mixed hash of an input position (SplitMix64's finalizer over its three parts). */
  static long hash(OrderKey k) {
    long h = (k.source() * 0x9E3779B97F4A7C15L + k.position()) * 0xBF58476D1CE4E5B9L + k.sub();
    h = (h ^ (h >>> 30)) * 0xBF58476D1CE4E5B9L;
    h = (h ^ (h >>> 27)) * 0x94D049BB133111EBL;
    return h ^ (h >>> 31);
  }

  /** Passes the keys of one record in {@code every}, chosen by the hash of the input position. */
  static final class SampleFn extends DoFn<KV<SortKey, String>, SortKey> {
    private static final long serialVersionUID = 1L;
    private final long every;

    SampleFn(long every) {
      this.every = every;
    }

    @ProcessElement
    public void process(@Element KV<SortKey, String> kv, OutputReceiver<SortKey> out) {
      if (Long.remainderUnsigned(hash(kv.getKey().key()), every) == 0) {
        out.output(kv.getKey());
      }
    }
  }

  /** The sampled keys, sorted, to the first key of each range after the first: every {@code step}-th. */
  static final class BoundsFn extends Combine.CombineFn<SortKey, List<SortKey>, List<SortKey>> {
    private static final long serialVersionUID = 1L;
    private final long step;

    BoundsFn(long step) {
      this.step = step;
    }

    @Override
    public List<SortKey> createAccumulator() {
      return new ArrayList<>();
    }

    @Override
    public List<SortKey> addInput(List<SortKey> acc, SortKey k) {
      acc.add(k);
      return acc;
    }

    @Override
    public List<SortKey> mergeAccumulators(Iterable<List<SortKey>> accs) {
      List<SortKey> all = new ArrayList<>();
      accs.forEach(all::addAll);
      return all;
    }

    @Override
    public List<SortKey> extractOutput(List<SortKey> acc) {
      return bounds(acc, step);
    }

    @Override
    public org.apache.beam.sdk.coders.Coder<List<SortKey>> getAccumulatorCoder(CoderRegistry registry,
        org.apache.beam.sdk.coders.Coder<SortKey> input) throws CannotProvideCoderException {
      return ListCoder.of(SortKey.Coder.of());
    }

    @Override
    public org.apache.beam.sdk.coders.Coder<List<SortKey>> getDefaultOutputCoder(CoderRegistry registry,
        org.apache.beam.sdk.coders.Coder<SortKey> input) throws CannotProvideCoderException {
      return ListCoder.of(SortKey.Coder.of());
    }
  }

  /** Every {@code step}-th of the sorted {@code sample}, from the {@code step}-th on. */
  static List<SortKey> bounds(List<SortKey> sample, long step) {
    List<SortKey> sorted = new ArrayList<>(sample);
    sorted.sort(SortKey.ORDER);
    List<SortKey> out = new ArrayList<>();
    for (long i = step; i < sorted.size(); i += step) {
      out.add(sorted.get((int) i));
    }
    return out;
  }

  /** The range of {@code k}: how many bounds are at or before it. */
  static long range(List<SortKey> bounds, SortKey k) {
    int i = Collections.binarySearch(bounds, k, SortKey.ORDER);
    return i >= 0 ? i + 1 : -1 - i;
  }

  /** Keys each record by its range. */
  static final class RangeFn extends DoFn<KV<SortKey, String>, KV<Long, KV<SortKey, String>>> {
    private static final long serialVersionUID = 1L;
    private final PCollectionView<List<SortKey>> bounds;

    RangeFn(PCollectionView<List<SortKey>> bounds) {
      this.bounds = bounds;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      c.output(KV.of(range(c.sideInput(bounds), c.element().getKey()), c.element()));
    }
  }

  /** The fragment key of range {@code r}: fragments' name order is range order. */
  static String fragmentKey(long r) {
    return String.format(Locale.ROOT, "%09d-%012d", 0, r);
  }

  /** Sorts one range and writes it as one fragment. */
  static final class WriteRangeFn extends DoFn<KV<Long, Iterable<KV<SortKey, String>>>, String> {
    private static final long serialVersionUID = 1L;
    private final String dir;

    WriteRangeFn(String dir) {
      this.dir = dir;
    }

    @ProcessElement
    public void process(@Element KV<Long, Iterable<KV<SortKey, String>>> range, OutputReceiver<String> out)
        throws IOException {
      out.output(WriteOrdered.writeSorted(dir, fragmentKey(range.getKey()), range.getValue(), SortKey.ORDER,
          r -> OrderedPass.sortedLine(r.getKey().key(), r.getValue())).toString());
    }
  }
}
