package io.instructflow.pipelines.blend;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.generators.tag.RecordTagger;
import io.instructflow.schemas.Example;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Caps on a blend's rows per value of one tag (issue 22, item 5), e.g. at most 20 % coding:
 * {@code "tagQuotas": {"task_category": {"coding": {"max": 0.2}, "math": {"maxRows": 50}}}}.
 *
 * <p>The rule, applied after the source quotas are fixed (and so never changing them):
 *
 * <ol>
 *   <li>A value's cap C is {@code maxRows}, or {@code floor(max × R)} where R is the rows the source quotas
 *       give (the planned rows before any cap).
 *   <li>C is shared among the sources. A source's <em>demand</em> is the records of the value among those
 *       its quota would take without caps (its first q records by the selection hash). When the demands
 *       add up to C or more, C is shared in proportion to the sources' quotas, each held at its demand
 *       (the rest going to the others, again by quota); otherwise every source gets its demand, and the
 *       slack is shared the same way, each held at its records of the value. Real shares become whole
 *       rows by largest remainder (ties to the earlier source).
 *   <li>Within a source, its records of a capped value are ranked by the selection hash; those ranked at
 *       or beyond the source's share of C are left out ({@code blend.tag_quota}, with the tag, value,
 *       quota, cap, the source's share and the rank). The source's quota is then taken from the rest in
 *       selection-hash order, exactly as without caps: a left-out record's place goes to the next record
 *       that is not over a cap. A source without enough such records gives fewer rows, and a note says so.
 * </ol>
 *
 * When the blend without caps would hold more than C rows of a value, it holds exactly C; otherwise it
 * holds at most C. A record without the tag, or with a value that is not capped, is never left out by
 * this rule. Every decision is a function of counts per source and value and of hash ranks, so the
 * planner needs no record's description in one place. Caps count distinct records: a source that
 * upsamples cannot be combined with tag quotas.
 *
 * @param tag the tag, read from {@code metadata.tags.<tag>} ({@code .value}, or a plain string)
 * @param limits the capped values, in spec order
 */
public record TagQuotas(String tag, List<Limit> limits) implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The filter reason of a record left out by a tag quota. */
  public static final String REASON = "blend.tag_quota";

  /**
   * One capped value: exactly one of {@code max} (a share of the planned rows, 0 to 1) and
   * {@code maxRows} (rows).
   *
   * @param value the tag value
   * @param max the share, or null
   * @param maxRows the rows, or null
   */
  public record Limit(String value, Double max, Long maxRows) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Limit {
      Objects.requireNonNull(value, "value");
      if ((max == null) == (maxRows == null)) {
        throw new IllegalArgumentException("tag value '" + value + "': give one of max or maxRows");
      }
    }

    /** The cap in rows for a blend planned at {@code planned} rows. */
    public long cap(long planned) {
      return maxRows != null ? maxRows : (long) Math.floor(max * planned + 1e-9);
    }

    /** The quota as the spec gives it, for evidence and the plan. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      if (max != null) {
        m.put("max", max);
      } else {
        m.put("maxRows", maxRows);
      }
      return m;
    }
  }

  public TagQuotas {
    Objects.requireNonNull(tag, "tag");
    limits = List.copyOf(limits);
    if (limits.isEmpty()) {
      throw new IllegalArgumentException("tagQuotas." + tag + ": give at least one value");
    }
  }

  /**
   * Reads the spec's {@code tagQuotas} object (already checked against the schema). For the tags that
   * {@code tag} writes, a value outside the tag's label set is an error (a misspelt label would cap nothing).
   */
  static TagQuotas parse(JsonNode node, String where) {
    if (node.size() != 1) {
      throw new IllegalArgumentException(where + ": tagQuotas: cap the values of one tag, got " + node.size() + " tags");
    }
    String tag = node.fieldNames().next();
    Optional<RecordTagger.Tag> known = RecordTagger.Tag.of(tag);
    List<Limit> limits = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = node.get(tag).fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String at = where + ": tagQuotas." + tag + "." + e.getKey();
      if (known.isPresent() && !known.get().labels().contains(e.getKey())) {
        throw new IllegalArgumentException(at + ": not a " + tag + " label; expected one of " + known.get().labels());
      }
      JsonNode q = e.getValue();
      if (q.has("max") == q.has("maxRows")) {
        throw new IllegalArgumentException(at + ": give one of max (a share of the blend, 0 to 1) or maxRows");
      }
      limits.add(new Limit(e.getKey(), q.has("max") ? q.get("max").asDouble() : null,
          q.has("maxRows") ? q.get("maxRows").asLong() : null));
    }
    return new TagQuotas(tag, limits);
  }

  /** The index of a record's capped value in {@link #limits}, or -1 when it has none. */
  public int classOf(Example e) {
    Optional<String> v = RecordTagger.value(e, tag);
    if (v.isEmpty()) {
      return -1;
    }
    for (int i = 0; i < limits.size(); i++) {
      if (limits.get(i).value().equals(v.get())) {
        return i;
      }
    }
    return -1;
  }

  /**
   * Each source's share of every value's cap (step 2 of the rule).
   *
   * @param rows each source's quota in rows
   * @param demand per source, per value: records of the value among the first {@code rows[s]} by rank
   * @param available per source, per value: records of the value after dedup
   * @return per source, per value: the most records of the value the source may take
   */
  long[][] caps(long[] rows, long[][] demand, long[][] available) {
    int n = rows.length;
    long planned = 0;
    for (long r : rows) {
      planned += r;
    }
    long[][] out = new long[n][limits.size()];
    for (int v = 0; v < limits.size(); v++) {
      long cap = limits.get(v).cap(planned);
      long[] d = new long[n];
      long[] slackLimit = new long[n];
      long wanted = 0;
      for (int s = 0; s < n; s++) {
        d[s] = demand[s][v];
        wanted += d[s];
      }
      long[] first = share(Math.min(cap, wanted), rows, d);
      for (int s = 0; s < n; s++) {
        slackLimit[s] = available[s][v] - first[s];
      }
      long[] second = cap > wanted ? share(cap - wanted, rows, slackLimit) : new long[n];
      for (int s = 0; s < n; s++) {
        out[s][v] = first[s] + second[s];
      }
    }
    return out;
  }

  /**
   * {@code total} shared in proportion to {@code weights}, each share held at its limit (the rest going
   * to the others by weight), whole numbers by largest remainder (ties to the earlier index). Sources of
   * weight 0 get nothing, so the shares may add up to less than {@code total} when the limits are tight.
   */
  static long[] share(long total, long[] weights, long[] limits) {
    int n = weights.length;
    double[] sh = new double[n];
    List<Integer> active = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      if (weights[i] > 0 && limits[i] > 0) {
        active.add(i);
      }
    }
    double remaining = total;
    boolean changed = true;
    while (changed && !active.isEmpty()) {
      changed = false;
      double w = 0;
      for (int i : active) {
        w += weights[i];
      }
      for (int i : new ArrayList<>(active)) {
        double x = remaining * weights[i] / w;
        if (x > limits[i]) {
          sh[i] = limits[i];
          remaining -= limits[i];
          active.remove(Integer.valueOf(i));
          changed = true;
          break;
        }
      }
      if (!changed) {
        for (int i : active) {
          sh[i] = remaining * weights[i] / w;
        }
      }
    }
    long[] out = new long[n];
    double sum = 0;
    long floors = 0;
    for (int i = 0; i < n; i++) {
      out[i] = (long) Math.floor(sh[i] + 1e-9);
      floors += out[i];
      sum += sh[i];
    }
    long whole = Math.min(total, Math.round(sum));
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      order.add(i);
    }
    order.sort(Comparator.comparingDouble((Integer i) -> -(sh[i] - out[i])).thenComparingInt(i -> i));
    for (int k = 0; k < n && floors < whole; k++) {
      int i = order.get(k);
      if (sh[i] - out[i] > 1e-9 && out[i] + 1 <= limits[i]) {
        out[i]++;
        floors++;
      }
    }
    return out;
  }

  /** Evidence of a record left out by the quota of value {@code v}. */
  Map<String, Object> evidence(int v, long cap, long sourceCap, long rank) {
    Map<String, Object> ev = new LinkedHashMap<>();
    ev.put("tag", tag);
    ev.put("value", limits.get(v).value());
    ev.put("quota", limits.get(v).asMap());
    ev.put("cap", cap);
    ev.put("sourceCap", sourceCap);
    ev.put("rank", rank);
    return ev;
  }

  /** A short description for the console, e.g. {@code task_category: coding max 0.2}. */
  String describe() {
    List<String> parts = new ArrayList<>();
    for (Limit l : limits) {
      parts.add(l.value() + (l.max() != null ? String.format(Locale.ROOT, " max %s", l.max()) : " maxRows " + l.maxRows()));
    }
    return tag + ": " + String.join(", ", parts);
  }
}
