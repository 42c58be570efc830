package io.instructflow.pipelines.blend;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The rows of every (source, value combination) of a blend whose tag quotas have minimums or name more
 * than one tag (issue 22, item 5). It is computed from counts alone, in one place, after the source
 * quotas are fixed (which it never changes): for each source and combination, the records available
 * after dedup and the <em>demand</em> (those among the source's first q by the selection hash, what the
 * blend would take without tag quotas). The planner then takes each combination's records in
 * selection-hash order up to its rows, so a record counts against every tag it carries, and the
 * blend's rows of every named value are exactly the sums planned here.
 *
 * <p>Let R be the planned rows (the sum of the source quotas), a value's cap C its {@code maxRows} or
 * {@code floor(max × R)}, its minimum M its {@code minRows} or {@code ceil(min × R)}. Starting from the
 * demand, in spec order (tags, then values):
 *
 * <ol>
 *   <li><b>Caps.</b> A value over its cap loses the excess from the (source, combination) cells that carry
 *       it, in proportion to their rows (largest remainder, ties to the earlier cell): the latest records by
 *       rank of each cell go. A record carrying two capped values is cut once and counts against both.
 *   <li><b>Minimums.</b> A value under its minimum gains the shortfall from the cells that carry it and
 *       whose every capped value is under its cap, in proportion to the records they have not yet given
 *       (what the walk in rank order would reach next, in expectation), in rounds that never take a cap
 *       past its limit.
 *   <li><b>Source quotas.</b> A source over its quota (minimums added records) gives back the excess from
 *       its cells that carry no value at or below its minimum, first from cells carrying no value whose cap
 *       binds, in proportion to their rows: these records are the ones a minimum displaced. A source under
 *       its quota (caps cut records) takes the gap in rank order's expectation again: first from cells that
 *       bring a binding cap (one the blend without quotas would exceed) back up to its cap, then from any
 *       cell whose capped values are under their caps, in proportion to the records left. Sources go in
 *       spec order. A source without enough such records gives fewer rows, as with caps on one tag.
 * </ol>
 *
 * Guarantees: no value exceeds its cap; every value reaches its minimum, or the plan fails (below); a
 * cap that binds is met exactly unless the other quotas leave too few of its records, and then the
 * plan notes it. A minimum that cannot be met fails the run before anything is published, with the tag,
 * value, minimum and the records available: a dataset built for "at least 10 % hard" that silently holds
 * less would mislead whoever trains on it, and the fix (a smaller minimum, more data) is the user's.
 */
final class TagAllocation {
  private TagAllocation() {}

  /**
   * A plan.
   *
   * @param rows per source, per combination: the rows taken (the first ones by the selection hash)
   * @param valueRows per value (flattened: tags in order, then values): rows in the blend
   * @param sourceValueRows per source, per value: its rows
   * @param caps per value: the cap in rows, or {@link Long#MAX_VALUE}
   * @param minimums per value: the minimum in rows, or 0
   * @param wanted per value: the rows the blend would hold without tag quotas
   * @param records per value: the records available after dedup
   * @param raisedBy per source: the first value whose minimum added records to it, or -1
   * @param notes caps that bind but could not be met exactly
   */
  record Result(long[][] rows, long[] valueRows, long[][] sourceValueRows, long[] caps, long[] minimums, long[] wanted,
      long[] records, int[] raisedBy, List<String> notes) {
    /** The first value of a combination at its cap (left-out records of the combination say so), or -1. */
    int fullCap(Values values, int combination) {
      for (int f : values.in(combination)) {
        if (caps[f] != Long.MAX_VALUE && valueRows[f] >= caps[f]) {
          return f;
        }
      }
      return -1;
    }
  }

  /** The named values of the quotas, flattened (tags in spec order, then values), and the combinations' values. */
  static final class Values {
    final TagQuotas quotas;
    final int[] tagOf;
    final int[] indexOf;
    final int[][] in;

    Values(TagQuotas quotas) {
      this.quotas = quotas;
      List<int[]> flat = new ArrayList<>();
      for (int t = 0; t < quotas.tags().size(); t++) {
        for (int v = 0; v < quotas.tags().get(t).limits().size(); v++) {
          flat.add(new int[] {t, v});
        }
      }
      tagOf = flat.stream().mapToInt(x -> x[0]).toArray();
      indexOf = flat.stream().mapToInt(x -> x[1]).toArray();
      in = new int[quotas.combinations()][];
      for (int k = 0; k < in.length; k++) {
        List<Integer> vs = new ArrayList<>();
        int f = 0;
        for (int t = 0; t < quotas.tags().size(); t++) {
          int v = quotas.valueIn(k, t);
          if (v >= 0) {
            vs.add(f + v);
          }
          f += quotas.tags().get(t).limits().size();
        }
        in[k] = vs.stream().mapToInt(Integer::intValue).toArray();
      }
    }

    int size() {
      return tagOf.length;
    }

    int[] in(int combination) {
      return in[combination];
    }

    TagQuotas.Limit limit(int f) {
      return quotas.tags().get(tagOf[f]).limits().get(indexOf[f]);
    }

    String tag(int f) {
      return quotas.tags().get(tagOf[f]).tag();
    }

    /** {@code tagQuotas.<tag>.<value>}, where errors and notes point. */
    String where(int f) {
      return "tagQuotas." + tag(f) + "." + limit(f).value();
    }

    /** The quota as given, e.g. {@code min 0.1}. */
    String given(int f) {
      List<String> parts = new ArrayList<>();
      limit(f).asMap().forEach((k, v) -> parts.add(k + " " + v));
      return String.join(", ", parts);
    }
  }

  /** Working state: rows per cell and per value. */
  private static final class State {
    final Values values;
    final long[][] n;
    final long[][] available;
    final long[] count;
    final long[] caps;

    State(Values values, long[][] demand, long[][] available, long[] caps) {
      this.values = values;
      this.available = available;
      this.caps = caps;
      n = new long[demand.length][];
      for (int s = 0; s < n.length; s++) {
        n[s] = demand[s].clone();
      }
      count = new long[values.size()];
      for (long[] row : n) {
        for (int k = 0; k < row.length; k++) {
          for (int f : values.in(k)) {
            count[f] += row[k];
          }
        }
      }
    }

    void add(int s, int k, long x) {
      n[s][k] += x;
      for (int f : values.in(k)) {
        count[f] += x;
      }
    }

    long room(int s, int k) {
      return available[s][k] - n[s][k];
    }

    /** Whether every capped value of a combination is under its cap. */
    boolean open(int k) {
      for (int f : values.in(k)) {
        if (count[f] >= caps[f]) {
          return false;
        }
      }
      return true;
    }

    /** The most rows that may be added to cells of these combinations together without passing a cap. */
    long capRoom(List<int[]> cells, long limit) {
      long b = limit;
      for (int[] c : cells) {
        for (int f : values.in(c[1])) {
          if (caps[f] != Long.MAX_VALUE) {
            b = Math.min(b, caps[f] - count[f]);
          }
        }
      }
      return b;
    }

    long sourceRows(int s) {
      long t = 0;
      for (long x : n[s]) {
        t += x;
      }
      return t;
    }

    /**
     * Adds up to {@code amount} rows to the cells {@code pick} chooses, in rounds: each round shares what
     * no cap can refuse in proportion to the cells' records left. Returns the rows added per source.
     */
    long[] fill(long amount, java.util.function.BiPredicate<Integer, Integer> pick) {
      long[] added = new long[n.length];
      long left = amount;
      while (left > 0) {
        List<int[]> cells = new ArrayList<>();
        for (int s = 0; s < n.length; s++) {
          for (int k = 0; k < n[s].length; k++) {
            if (room(s, k) > 0 && open(k) && pick.test(s, k)) {
              cells.add(new int[] {s, k});
            }
          }
        }
        if (cells.isEmpty()) {
          break;
        }
        long b = capRoom(cells, left);
        long[] room = new long[cells.size()];
        for (int i = 0; i < room.length; i++) {
          room[i] = room(cells.get(i)[0], cells.get(i)[1]);
        }
        long[] x = TagQuotas.share(b, room, room);
        long given = 0;
        for (int i = 0; i < x.length; i++) {
          given += x[i];
        }
        if (given == 0) {
          // the shares rounded to nothing: the cell with the most records left takes one
          int best = 0;
          for (int i = 1; i < room.length; i++) {
            if (room[i] > room[best]) {
              best = i;
            }
          }
          x[best] = 1;
          given = 1;
        }
        for (int i = 0; i < x.length; i++) {
          add(cells.get(i)[0], cells.get(i)[1], x[i]);
          added[cells.get(i)[0]] += x[i];
        }
        left -= given;
      }
      return added;
    }
  }

  /**
   * Plans the rows.
   *
   * @param quotas the spec's tag quotas
   * @param sources the source names, for messages
   * @param quota each source's quota in rows
   * @param demand per source, per combination: records among the source's first {@code quota} by rank
   * @param available per source, per combination: records after dedup
   * @throws IllegalArgumentException when a minimum cannot be met (the message names the tag, the value,
   *     the minimum and the records available)
   */
  static Result plan(TagQuotas quotas, List<String> sources, long[] quota, long[][] demand, long[][] available) {
    Values values = new Values(quotas);
    int nv = values.size();
    long planned = 0;
    for (long q : quota) {
      planned += q;
    }
    long[] caps = new long[nv];
    long[] mins = new long[nv];
    long[] wanted = new long[nv];
    long[] records = new long[nv];
    for (int f = 0; f < nv; f++) {
      caps[f] = values.limit(f).cap(planned);
      mins[f] = values.limit(f).minimum(planned);
    }
    for (int s = 0; s < quota.length; s++) {
      for (int k = 0; k < demand[s].length; k++) {
        for (int f : values.in(k)) {
          wanted[f] += demand[s][k];
          records[f] += available[s][k];
        }
      }
    }
    Map<String, Long> minsPerTag = new LinkedHashMap<>();
    for (int f = 0; f < nv; f++) {
      if (mins[f] > caps[f]) {
        throw new io.instructflow.pipelines.runtime.SettingsException(String.format(Locale.ROOT, "%s: a minimum of %,d rows is above its cap of %,d rows"
            + " (%s, of %,d planned rows)", values.where(f), mins[f], caps[f], values.given(f), planned));
      }
      if (mins[f] > records[f]) {
        throw new io.instructflow.pipelines.runtime.SettingsException(String.format(Locale.ROOT, "%s: a minimum of %,d rows (%s, of %,d planned rows), "
            + "but the sources have only %,d records of it after dedup", values.where(f), mins[f], values.given(f), planned,
            records[f]));
      }
      minsPerTag.merge(values.tag(f), mins[f], Long::sum);
    }
    for (Map.Entry<String, Long> e : minsPerTag.entrySet()) {
      if (e.getValue() > planned) {
        throw new IllegalArgumentException(String.format(Locale.ROOT, "tagQuotas.%s: the minimums add up to %,d rows, more than"
            + " the %,d rows the source quotas plan", e.getKey(), e.getValue(), planned));
      }
    }
    State st = new State(values, demand, available, caps);
    int sources1 = quota.length;
    // 1. caps: the excess leaves in proportion to the cells' rows
    for (int f = 0; f < nv; f++) {
      long excess = st.count[f] - caps[f];
      if (excess <= 0) {
        continue;
      }
      List<int[]> cells = new ArrayList<>();
      for (int s = 0; s < sources1; s++) {
        for (int k = 0; k < st.n[s].length; k++) {
          if (st.n[s][k] > 0 && contains(values.in(k), f)) {
            cells.add(new int[] {s, k});
          }
        }
      }
      long[] rows = new long[cells.size()];
      for (int i = 0; i < rows.length; i++) {
        rows[i] = st.n[cells.get(i)[0]][cells.get(i)[1]];
      }
      long[] cut = BlendPlan.largestRemainder(excess, rows);
      for (int i = 0; i < cut.length; i++) {
        st.add(cells.get(i)[0], cells.get(i)[1], -cut[i]);
      }
    }
    // 2. minimums: the shortfall comes from the records not yet given, never past a cap
    int[] raisedBy = new int[sources1];
    java.util.Arrays.fill(raisedBy, -1);
    for (int f = 0; f < nv; f++) {
      long deficit = mins[f] - st.count[f];
      if (deficit <= 0) {
        continue;
      }
      int value = f;
      long[] added = st.fill(deficit, (s, k) -> contains(values.in(k), value));
      for (int s = 0; s < sources1; s++) {
        if (added[s] > 0 && raisedBy[s] < 0) {
          raisedBy[s] = f;
        }
      }
      if (st.count[f] < mins[f]) {
        throw new io.instructflow.pipelines.runtime.SettingsException(String.format(Locale.ROOT, "%s: a minimum of %,d rows (%s, of %,d planned rows) "
            + "cannot be met: the sources have %,d records of it after dedup, but only %,d fit beside the caps",
            values.where(f), mins[f], values.given(f), planned, records[f], st.count[f]));
      }
    }
    boolean[] binding = new boolean[nv];
    for (int f = 0; f < nv; f++) {
      binding[f] = caps[f] != Long.MAX_VALUE && wanted[f] > caps[f];
    }
    // 3a. a source over its quota gives back what the minimums displaced, never below a minimum
    for (int s = 0; s < sources1; s++) {
      long excess = st.sourceRows(s) - quota[s];
      for (int tier = 0; tier < 2 && excess > 0; tier++) {
        while (excess > 0) {
          List<int[]> cells = new ArrayList<>();
          long b = excess;
          for (int k = 0; k < st.n[s].length; k++) {
            if (st.n[s][k] == 0) {
              continue;
            }
            boolean ok = true;
            for (int f : values.in(k)) {
              if (mins[f] > 0 && st.count[f] <= mins[f] || tier == 0 && binding[f]) {
                ok = false;
              }
            }
            if (ok) {
              cells.add(new int[] {s, k});
              for (int f : values.in(k)) {
                if (mins[f] > 0) {
                  b = Math.min(b, st.count[f] - mins[f]);
                }
              }
            }
          }
          if (cells.isEmpty()) {
            break;
          }
          long[] rows = new long[cells.size()];
          for (int i = 0; i < rows.length; i++) {
            rows[i] = st.n[s][cells.get(i)[1]];
          }
          b = Math.min(b, java.util.Arrays.stream(rows).sum());
          long[] cut = BlendPlan.largestRemainder(b, rows);
          for (int i = 0; i < cut.length; i++) {
            st.add(s, cells.get(i)[1], -cut[i]);
          }
          excess -= b;
        }
      }
      if (excess > 0) {
        int f = raisedBy[s] >= 0 ? raisedBy[s] : 0;
        throw new io.instructflow.pipelines.runtime.SettingsException(String.format(Locale.ROOT, "%s: a minimum of %,d rows (%s, of %,d planned rows) "
            + "cannot be met within the source quotas: source %s would need %,d rows beyond its quota of %,d (the sources "
            + "have %,d records of it after dedup)", values.where(f), mins[f], values.given(f), planned, sources.get(s),
            excess, quota[s], records[f]));
      }
    }
    // 3b. a source under its quota takes the gap: binding caps back up to their caps first, then any open cell
    for (int s = 0; s < sources1; s++) {
      int src = s;
      long gap = quota[s] - st.sourceRows(s);
      if (gap <= 0) {
        continue;
      }
      gap -= st.fill(gap, (ss, k) -> ss == src && java.util.Arrays.stream(values.in(k))
          .anyMatch(f -> binding[f] && st.count[f] < caps[f]))[s];
      st.fill(gap, (ss, k) -> ss == src);
    }
    List<String> notes = new ArrayList<>();
    for (int f = 0; f < nv; f++) {
      if (binding[f] && st.count[f] < caps[f]) {
        notes.add(String.format(Locale.ROOT, "%s: %,d rows, below its cap of %,d (the blend without tag quotas would hold %,d):"
            + " the other tag quotas left too few of its records", values.where(f), st.count[f], caps[f], wanted[f]));
      }
    }
    long[][] sourceValueRows = new long[sources1][nv];
    for (int s = 0; s < sources1; s++) {
      for (int k = 0; k < st.n[s].length; k++) {
        for (int f : values.in(k)) {
          sourceValueRows[s][f] += st.n[s][k];
        }
      }
    }
    return new Result(st.n, st.count, sourceValueRows, caps, mins, wanted, records, raisedBy, notes);
  }

  /** The evidence of a record left out because a value it carries is at its cap. */
  static Map<String, Object> overCap(Values values, Result r, int f, int combination, long combinationRows, long rank) {
    return evidence(values, r, f, "cap", r.caps()[f], combination, combinationRows, rank);
  }

  /** The evidence of a record its source would have taken without tag quotas, displaced by a minimum. */
  static Map<String, Object> displaced(Values values, Result r, int f, int combination, long combinationRows, long rank) {
    return evidence(values, r, f, "minimum", r.minimums()[f], combination, combinationRows, rank);
  }

  /** The value's tag, quota and rows, the binding limit ({@code cap} or {@code minimum}) and where the record stood. */
  private static Map<String, Object> evidence(Values values, Result r, int f, String limitName, long limit, int combination,
      long combinationRows, long rank) {
    Map<String, Object> ev = new LinkedHashMap<>();
    ev.put("tag", values.tag(f));
    ev.put("value", values.limit(f).value());
    ev.put("quota", values.limit(f).asMap());
    ev.put(limitName, limit);
    ev.put("rows", r.valueRows()[f]);
    ev.put("combination", values.quotas.describe(combination));
    ev.put("combinationRows", combinationRows);
    ev.put("rank", rank);
    return ev;
  }

  /** The evidence of a record its combination's rows did not reach ({@code blend.not_selected}). */
  static Map<String, Object> notReached(Values values, long quota, long available, int combination, long combinationRows,
      long rank) {
    Map<String, Object> ev = new LinkedHashMap<>();
    ev.put("quota", quota);
    ev.put("available", available);
    ev.put("rank", rank);
    ev.put("combination", values.quotas.describe(combination));
    ev.put("combinationRows", combinationRows);
    return ev;
  }

  /**
   * The plan's part for {@code blend-plan.json}: per named value its quota as given, the cap and minimum
   * in rows (when set), the rows the blend would hold without tag quotas ({@code wanted}), its records,
   * its rows in the blend and each source's rows of it.
   */
  static List<Map<String, Object>> report(Values values, Result r, List<String> sources) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (int f = 0; f < values.size(); f++) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("tag", values.tag(f));
      m.put("value", values.limit(f).value());
      m.put("quota", values.limit(f).asMap());
      if (values.limit(f).capped()) {
        m.put("cap", r.caps()[f]);
      }
      if (values.limit(f).hasMinimum()) {
        m.put("minimum", r.minimums()[f]);
      }
      m.put("wanted", r.wanted()[f]);
      m.put("records", r.records()[f]);
      m.put("rows", r.valueRows()[f]);
      Map<String, Long> perSource = new LinkedHashMap<>();
      for (int s = 0; s < sources.size(); s++) {
        perSource.put(sources.get(s), r.sourceValueRows()[s][f]);
      }
      m.put("sourceRows", perSource);
      out.add(m);
    }
    return out;
  }

  private static boolean contains(int[] a, int x) {
    for (int y : a) {
      if (y == x) {
        return true;
      }
    }
    return false;
  }
}
