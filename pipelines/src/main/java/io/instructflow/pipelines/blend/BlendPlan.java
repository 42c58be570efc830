package io.instructflow.pipelines.blend;

import io.instructflow.pipelines.io.OrderKey;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The decisions of a blend, from a light description of every record read: which are duplicates,
 * which are selected and how many times, which split each goes to and where each row lands. Every
 * choice is a function of the record ids, their input positions and the seed, never of processing
 * order, so any runner with any number of workers makes the same blend.
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

  private static final long SELECT = 0x5e1ec7L;
  private static final long SPLIT = 0x5b1175L;
  private static final long ORDER = 0x0dde7L;

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
   */
  public record Item(OrderKey key, int source, String id, String location, String dedupKey, int tokens)
      implements Serializable {
    private static final long serialVersionUID = 1L;
  }

  /**
   * The fate of one record.
   *
   * @param outcome {@code selected}, {@code duplicate} or {@code not_selected}
   * @param source source name
   * @param split {@code train} or {@code validation} for a selected record, else null
   * @param rows its rows' positions within the split, one per copy, in copy order
   * @param evidence for a dropped record: what it duplicates, or the quota it missed
   */
  public record Decision(String outcome, String source, String split, List<Long> rows, Map<String, Object> evidence)
      implements Serializable {
    private static final long serialVersionUID = 1L;
  }

  /**
   * The plan.
   *
   * @param decisions by input position
   * @param quotas the quota computation
   * @param splitRows rows per split
   */
  public record Plan(Map<OrderKey, Decision> decisions, Quotas.Result quotas, Map<String, Long> splitRows) {}

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

  /** Makes the plan for {@code spec} over {@code items} (any order). */
  public static Plan make(BlendSpec spec, List<Item> items) {
    List<Item> all = new ArrayList<>(items);
    all.sort(Comparator.comparingInt(Item::source).thenComparing(Item::key));
    int ns = spec.sources().size();
    Map<OrderKey, Decision> out = new LinkedHashMap<>();
    List<List<Item>> live = new ArrayList<>();
    for (int s = 0; s < ns; s++) {
      live.add(new ArrayList<>());
    }
    Map<String, Item> first = new HashMap<>();
    for (Item it : all) {
      Item seen = spec.dedup() ? first.putIfAbsent(it.dedupKey(), it) : null;
      if (seen == null) {
        live.get(it.source()).add(it);
        continue;
      }
      Map<String, Object> ev = new LinkedHashMap<>();
      ev.put("matched_id", seen.id());
      ev.put("matched_location", seen.location());
      ev.put("matched_source", spec.sources().get(seen.source()).name());
      out.put(it.key(), new Decision("duplicate", spec.sources().get(it.source()).name(), null, List.of(), ev));
    }
    List<Quotas.Input> qin = new ArrayList<>();
    for (int s = 0; s < ns; s++) {
      BlendSpec.Source src = spec.sources().get(s);
      List<Item> l = live.get(s);
      double mean = l.isEmpty() ? 0 : l.stream().mapToLong(Item::tokens).sum() / (double) l.size();
      qin.add(new Quotas.Input(src.name(), l.size(), src.weight(), src.fraction(), src.count(), src.cap(), src.upsample(), mean));
    }
    Quotas.Result q = Quotas.compute(qin, spec.target(), spec.targetTokens(), spec.temperature());
    Map<OrderKey, Long> copies = new HashMap<>();
    List<List<Item>> selected = new ArrayList<>();
    long distinct = 0;
    for (int s = 0; s < ns; s++) {
      List<Item> ranked = new ArrayList<>(live.get(s));
      ranked.sort(Comparator.comparingLong((Item it) -> keyed(SELECT, spec.seed(), it.id(), 0)).thenComparing(Item::key));
      Quotas.Quota quota = q.quotas().get(s);
      List<Item> sel = new ArrayList<>();
      for (int r = 0; r < ranked.size(); r++) {
        Item it = ranked.get(r);
        long c = quota.fullCopies() + (r < quota.remainder() ? 1 : 0);
        if (c > 0) {
          copies.put(it.key(), c);
          sel.add(it);
        } else {
          Map<String, Object> ev = new LinkedHashMap<>();
          ev.put("quota", quota.rows());
          ev.put("available", quota.available());
          ev.put("rank", r);
          out.put(it.key(), new Decision("not_selected", spec.sources().get(s).name(), null, List.of(), ev));
        }
      }
      selected.add(sel);
      distinct += sel.size();
    }
    long val = spec.validation() >= 1 ? Math.min((long) spec.validation(), distinct) : Math.round(spec.validation() * distinct);
    long[] perSource = largestRemainder(val, selected.stream().mapToLong(List::size).toArray());
    List<List<Object[]>> rows = List.of(new ArrayList<>(), new ArrayList<>());
    Map<OrderKey, String> splitOf = new HashMap<>();
    for (int s = 0; s < ns; s++) {
      List<Item> sel = new ArrayList<>(selected.get(s));
      sel.sort(Comparator.comparingLong((Item it) -> keyed(SPLIT, spec.seed(), it.id(), 0)).thenComparing(Item::key));
      for (int r = 0; r < sel.size(); r++) {
        Item it = sel.get(r);
        int split = r < perSource[s] ? 1 : 0;
        splitOf.put(it.key(), SPLITS.get(split));
        for (long c = 0; c < copies.get(it.key()); c++) {
          rows.get(split).add(new Object[] {keyed(ORDER, spec.seed(), it.id(), c), it, c});
        }
      }
    }
    Map<OrderKey, List<Long>> positions = new HashMap<>();
    Map<String, Long> splitRows = new LinkedHashMap<>();
    for (int split = 0; split < 2; split++) {
      List<Object[]> l = rows.get(split);
      l.sort(Comparator.comparingLong((Object[] o) -> (Long) o[0]).thenComparing(o -> ((Item) o[1]).key())
          .thenComparingLong(o -> (Long) o[2]));
      for (int pos = 0; pos < l.size(); pos++) {
        Item it = (Item) l.get(pos)[1];
        int c = (int) (long) (Long) l.get(pos)[2];
        List<Long> p = positions.computeIfAbsent(it.key(), k -> new ArrayList<>());
        while (p.size() <= c) {
          p.add(-1L);
        }
        p.set(c, (long) pos);
      }
      splitRows.put(SPLITS.get(split), (long) l.size());
    }
    for (int s = 0; s < ns; s++) {
      for (Item it : selected.get(s)) {
        out.put(it.key(), new Decision("selected", spec.sources().get(s).name(), splitOf.get(it.key()),
            positions.get(it.key()), Map.of()));
      }
    }
    return new Plan(out, q, splitRows);
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
