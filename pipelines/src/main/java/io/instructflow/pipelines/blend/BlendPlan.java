package io.instructflow.pipelines.blend;

import io.instructflow.pipelines.io.OrderKey;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;

/**
 * The decisions of a blend, from a light description of every record read: which are duplicates,
 * which are selected and how many times, which split each goes to and where each row lands. Every
 * choice is a function of the record ids, their input positions and the seed, never of processing
 * order, so any runner with any number of workers makes the same blend. {@link BlendPlanner} makes
 * these decisions across workers, from per-source counts and hash ranks; this class holds the rules.
 *
 * <ul>
 *   <li>Dedup (when on): records with the same normalized text as an earlier one, earlier meaning an
 *       earlier source of the spec, then an earlier input position, are dropped as duplicates.
 *   <li>Selection: a source's records are ranked by a 64-bit hash of (seed, record id), ties by input
 *       position. A quota of q rows over n records repeats every record q / n times when it may upsample,
 *       and the first q mod n records in rank order once more; without upsampling q ≤ n and the first q
 *       are taken.
 *   <li>Split: the validation count is split over the sources in proportion to their selected records
 *       (largest remainder), and each source holds out the records with the lowest split hash. All
 *       copies of a record are in the same split.
 *   <li>Order: rows of a split are ordered by a hash of (seed, record id, copy), so sources are mixed.
 * </ul>
 */
public final class BlendPlan {
  private BlendPlan() {}

  static final long SELECT = 0x5e1ec7L;
  static final long SPLIT = 0x5b1175L;
  static final long ORDER = 0x0dde7L;

  /** Split names, in output order. */
  public static final List<String> SPLITS = List.of("train", "validation");

  /**
   * What the plan needs of a record.
   *
   * @param key input position
   * @param source index of its source in the spec
   * @param id record id
   * @param location {@code file:line}
   * @param dedupKey normalized-text hash
   * @param tokens estimated tokens
   * @param tagClass its value combination less one ({@link TagQuotas#classOf}): on one tag, the index of its
   *     value among the tag's quota values; -1 for none
   */
  public record Item(OrderKey key, int source, String id, String location, String dedupKey, int tokens, int tagClass)
      implements Serializable {
    private static final long serialVersionUID = 1L;

    /** An item without a capped tag value. */
    public Item(OrderKey key, int source, String id, String location, String dedupKey, int tokens) {
      this(key, source, id, location, dedupKey, tokens, -1);
    }
  }

  /**
   * The fate of one record.
   *
   * @param outcome {@link #SELECTED}, {@link #DUPLICATE}, {@link #NOT_SELECTED} or {@link #TAG_QUOTA} (left out by a
   *     tag quota)
   * @param source source name
   * @param split {@code train} or {@code validation} for a selected record, else null
   * @param rows its rows' positions within the split, one per copy, in copy order
   * @param evidence for a dropped record: what it duplicates, or the quota it missed
   */
  public record Decision(String outcome, String source, String split, List<Long> rows, Map<String, Object> evidence)
      implements Serializable {
    private static final long serialVersionUID = 1L;
    /** Outcome of a record that goes into the blend. */
    public static final String SELECTED = "selected";
    /** Outcome of a record whose dedup key an earlier record has: {@link BlendPipeline#DUPLICATE}. */
    public static final String DUPLICATE = "duplicate";
    /** Outcome of a record its source's quota left out: {@link BlendPipeline#NOT_SELECTED}. */
    public static final String NOT_SELECTED = "not_selected";
    /** Outcome of a record a tag quota left out: {@link TagQuotas#REASON}. */
    public static final String TAG_QUOTA = "tag_quota";

    /** Whether the record goes into the blend. */
    public boolean selected() {
      return outcome.equals(SELECTED);
    }

    /** The reason id of a record left out, the one place an outcome maps to the reason stored in its verdict. */
    public String reason() {
      return switch (outcome) {
        case DUPLICATE -> BlendPipeline.DUPLICATE;
        case TAG_QUOTA -> TagQuotas.REASON;
        case SELECTED -> throw new IllegalStateException("a selected record has no reason");
        default -> BlendPipeline.NOT_SELECTED;
      };
    }
  }

  /** SplitMix64's finalizer. */
  static long mix(long x) {
    x = (x ^ (x >>> 30)) * 0xbf58476d1ce4e5b9L;
    x = (x ^ (x >>> 27)) * 0x94d049bb133111ebL;
    return x ^ (x >>> 31);
  }

  /** A 64-bit hash of a string (FNV-1a over its UTF-8 bytes, then mixed). */
  static long hash(String s) {
    long h = 0xcbf29ce484222325L;
    for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
      h = (h ^ (b & 0xff)) * 0x100000001b3L;
    }
    return mix(h);
  }

  static long keyed(long salt, long seed, String id, long extra) {
    return mix(mix(mix(seed ^ salt) ^ hash(id)) ^ extra);
  }

  /**
   * The quotas, from each source's records left after dedup and their estimated tokens.
   *
   * @param live records left, per source index
   * @param tokens their estimated tokens, per source index
   */
  static Quotas.Result quotas(BlendSpec spec, long[] live, long[] tokens) {
    List<Quotas.Input> qin = new ArrayList<>();
    for (int s = 0; s < spec.sources().size(); s++) {
      BlendSpec.Source src = spec.sources().get(s);
      double mean = live[s] == 0 ? 0 : tokens[s] / (double) live[s];
      qin.add(new Quotas.Input(src.name(), live[s], src.weight(), src.fraction(), src.count(), src.cap(), src.upsample(), mean));
    }
    return Quotas.compute(qin, spec.target(), spec.targetTokens(), spec.temperature());
  }

  /** Copies of the record ranked {@code rank} (0-based) in its source; 0 when it is not selected. */
  static long copies(Quotas.Quota q, long rank) {
    return q.fullCopies() + (rank < q.remainder() ? 1 : 0);
  }

  /** Distinct records selected per source: all of them when upsampled, else the first {@code remainder}. */
  static long[] selected(Quotas.Result q) {
    long[] out = new long[q.quotas().size()];
    for (int s = 0; s < out.length; s++) {
      Quotas.Quota quota = q.quotas().get(s);
      out[s] = quota.fullCopies() > 0 ? quota.available() : quota.remainder();
    }
    return out;
  }

  /** Distinct records held out for validation per source. */
  static long[] validation(BlendSpec spec, long[] selected) {
    long distinct = 0;
    for (long n : selected) {
      distinct += n;
    }
    long val = spec.validation() >= 1 ? Math.min((long) spec.validation(), distinct) : Math.round(spec.validation() * distinct);
    return largestRemainder(val, selected);
  }

  /** Evidence of a duplicate: the record it repeats. */
  static Map<String, Object> duplicateOf(BlendSpec spec, Item first) {
    Map<String, Object> ev = new LinkedHashMap<>();
    ev.put("matched_id", first.id());
    ev.put("matched_location", first.location());
    ev.put("matched_source", spec.sources().get(first.source()).name());
    return ev;
  }

  /** Evidence of a record no quota reached. */
  static Map<String, Object> missed(Quotas.Quota quota, long rank) {
    Map<String, Object> ev = new LinkedHashMap<>();
    ev.put("quota", quota.rows());
    ev.put("available", quota.available());
    ev.put("rank", rank);
    return ev;
  }

  /**
   * A record on its way through the plan.
   *
   * @param item the record
   * @param copies its copies (0 before selection)
   * @param split its split index (-1 before the split)
   * @param copy which copy this row is
   */
  record Entry(Item item, long copies, int split, long copy) {}

  /** Coder of {@link Item}s. */
  static final class ItemCoder extends AtomicCoder<Item> {
    private static final long serialVersionUID = 1L;
    static final ItemCoder INSTANCE = new ItemCoder();

    @Override
    public void encode(Item it, OutputStream out) throws IOException {
      OrderKey.Coder.of().encode(it.key(), out);
      VarIntCoder.of().encode(it.source(), out);
      StringUtf8Coder.of().encode(it.id(), out);
      StringUtf8Coder.of().encode(it.location(), out);
      StringUtf8Coder.of().encode(it.dedupKey(), out);
      VarIntCoder.of().encode(it.tokens(), out);
      VarIntCoder.of().encode(it.tagClass() + 1, out);
    }

    @Override
    public Item decode(InputStream in) throws IOException {
      return new Item(OrderKey.Coder.of().decode(in), VarIntCoder.of().decode(in), StringUtf8Coder.of().decode(in),
          StringUtf8Coder.of().decode(in), StringUtf8Coder.of().decode(in), VarIntCoder.of().decode(in),
          VarIntCoder.of().decode(in) - 1);
    }

    @Override
    public void verifyDeterministic() {}
  }

  /** Coder of {@link Entry}s. */
  static final class EntryCoder extends AtomicCoder<Entry> {
    private static final long serialVersionUID = 1L;
    static final EntryCoder INSTANCE = new EntryCoder();

    @Override
    public void encode(Entry e, OutputStream out) throws IOException {
      ItemCoder.INSTANCE.encode(e.item(), out);
      VarLongCoder.of().encode(e.copies(), out);
      VarIntCoder.of().encode(e.split() + 1, out);
      VarLongCoder.of().encode(e.copy(), out);
    }

    @Override
    public Entry decode(InputStream in) throws IOException {
      return new Entry(ItemCoder.INSTANCE.decode(in), VarLongCoder.of().decode(in), VarIntCoder.of().decode(in) - 1,
          VarLongCoder.of().decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }

  /** {@code total} split over {@code sizes} in proportion, whole numbers by largest remainder (ties to the earlier). */
  static long[] largestRemainder(long total, long[] sizes) {
    long sum = 0;
    for (long s : sizes) {
      sum += s;
    }
    long[] out = new long[sizes.length];
    if (sum == 0 || total == 0) {
      return out;
    }
    double[] frac = new double[sizes.length];
    long given = 0;
    for (int i = 0; i < sizes.length; i++) {
      double exact = (double) total * sizes[i] / sum;
      out[i] = (long) Math.floor(exact);
      frac[i] = exact - out[i];
      given += out[i];
    }
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < sizes.length; i++) {
      order.add(i);
    }
    order.sort(Comparator.comparingDouble((Integer i) -> -frac[i]).thenComparingInt(i -> i));
    for (int k = 0; k < total - given; k++) {
      out[order.get(k)]++;
    }
    return out;
  }
}
