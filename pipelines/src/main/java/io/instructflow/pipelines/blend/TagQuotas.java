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
 * Quotas on a blend's rows per tag value (issue 22, item 5): caps ({@code max}, {@code maxRows}) and
 * minimums ({@code min}, {@code minRows}), on one tag or on several at once, e.g.
 * {@code "tagQuotas": {"task_category": {"coding": {"max": 0.2}}, "difficulty": {"hard": {"min": 0.1}}}}.
 * A record's value of a tag is read from {@code metadata.tags.<tag>} ({@code .value}, or a plain string);
 * a record without the tag, or with a value the spec does not name, is "other" on that tag.
 *
 * <p>Two rules, both decided from counts per (source, value combination) and from hash ranks, so the
 * planner needs no record's description in one place:
 *
 * <ul>
 *   <li><b>Caps on one tag</b> (no minimums), the rule since tag quotas exist, kept byte for byte: each
 *       source's share of each cap, then a walk over the source in selection-hash order that passes over
 *       records whose value has its source's share ({@link Tag}).
 *   <li><b>Minimums, or quotas on more than one tag</b>: the rows of every (source, combination of values)
 *       are fixed from the counts ({@link TagAllocation}), and a combination's records are taken in
 *       selection-hash order. A record counts against every tag it carries.
 * </ul>
 *
 * @param tags the tags with quotas, in spec order
 */
public record TagQuotas(List<Tag> tags) implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The filter reason of a record left out by a tag quota: over a cap, or making room for a minimum. */
  public static final String REASON = "blend.tag_quota";

  /**
   * One value's quota: at most one of {@code max} (a share of the planned rows, 0 to 1) and
   * {@code maxRows} (rows), at most one of {@code min} and {@code minRows}, and at least one of them.
   *
   * @param value the tag value
   * @param max the cap as a share of the planned rows (rounded down to rows), or null
   * @param maxRows the cap in rows, or null
   * @param min the minimum as a share of the planned rows (rounded up to rows), or null
   * @param minRows the minimum in rows, or null
   */
  public record Limit(String value, Double max, Long maxRows, Double min, Long minRows) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Limit {
      Objects.requireNonNull(value, "value");
      if (max != null && maxRows != null) {
        throw new IllegalArgumentException("tag value '" + value + "': give max or maxRows, not both");
      }
      if (min != null && minRows != null) {
        throw new IllegalArgumentException("tag value '" + value + "': give min or minRows, not both");
      }
      if (max == null && maxRows == null && min == null && minRows == null) {
        throw new IllegalArgumentException("tag value '" + value + "': give max, maxRows, min or minRows");
      }
      if (max != null && min != null && min > max) {
        throw new IllegalArgumentException("tag value '" + value + "': min " + min + " is above max " + max);
      }
      if (maxRows != null && minRows != null && minRows > maxRows) {
        throw new IllegalArgumentException("tag value '" + value + "': minRows " + minRows + " is above maxRows " + maxRows);
      }
    }

    /** A cap only, as before minimums existed. */
    public Limit(String value, Double max, Long maxRows) {
      this(value, max, maxRows, null, null);
    }

    /** Whether the value has a cap. */
    public boolean capped() {
      return max != null || maxRows != null;
    }

    /** Whether the value has a minimum. */
    public boolean hasMinimum() {
      return min != null || minRows != null;
    }

    /** The cap in rows for a blend planned at {@code planned} rows; {@link Long#MAX_VALUE} without a cap. */
    public long cap(long planned) {
      if (!capped()) {
        return Long.MAX_VALUE;
      }
      return maxRows != null ? maxRows : (long) Math.floor(max * planned + 1e-9);
    }

    /** The minimum in rows for a blend planned at {@code planned} rows (a share rounds up); 0 without one. */
    public long minimum(long planned) {
      if (!hasMinimum()) {
        return 0;
      }
      return minRows != null ? minRows : (long) Math.ceil(min * planned - 1e-9);
    }

    /** The quota as the spec gives it, for evidence and the plan. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      if (max != null) {
        m.put("max", max);
      } else if (maxRows != null) {
        m.put("maxRows", maxRows);
      }
      if (min != null) {
        m.put("min", min);
      } else if (minRows != null) {
        m.put("minRows", minRows);
      }
      return m;
    }
  }

  public TagQuotas {
    tags = List.copyOf(tags);
    if (tags.isEmpty()) {
      throw new IllegalArgumentException("tagQuotas: give at least one tag");
    }
  }

  /** Quotas on one tag. */
  public TagQuotas(String tag, List<Limit> limits) {
    this(List.of(new Tag(tag, limits)));
  }

  /**
   * Reads the spec's {@code tagQuotas} object (already checked against the schema). For the tags that
   * {@code tag} writes, a value outside the tag's label set is an error (a misspelt label would cap nothing).
   */
  static TagQuotas parse(JsonNode node, String where) {
    if (node.size() == 0) {
      throw new IllegalArgumentException(where + ": tagQuotas: give at least one tag");
    }
    List<Tag> tags = new ArrayList<>();
    for (Iterator<String> names = node.fieldNames(); names.hasNext(); ) {
      String tag = names.next();
      Optional<RecordTagger.Tag> known = RecordTagger.Tag.of(tag);
      List<Limit> limits = new ArrayList<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = node.get(tag).fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        String at = where + ": tagQuotas." + tag + "." + e.getKey();
        if (known.isPresent() && !known.get().labels().contains(e.getKey())) {
          throw new IllegalArgumentException(at + ": not a " + tag + " label; expected one of " + known.get().labels());
        }
        JsonNode q = e.getValue();
        if (q.has("max") && q.has("maxRows") || q.has("min") && q.has("minRows")
            || !(q.has("max") || q.has("maxRows") || q.has("min") || q.has("minRows"))) {
          throw new IllegalArgumentException(at + ": give at most one of max (a share of the blend, 0 to 1) or maxRows, "
              + "at most one of min or minRows, and at least one of the four");
        }
        try {
          limits.add(new Limit(e.getKey(), q.has("max") ? q.get("max").asDouble() : null,
              q.has("maxRows") ? q.get("maxRows").asLong() : null, q.has("min") ? q.get("min").asDouble() : null,
              q.has("minRows") ? q.get("minRows").asLong() : null));
        } catch (IllegalArgumentException bad) {
          throw new IllegalArgumentException(at + ": " + bad.getMessage());
        }
      }
      if (limits.isEmpty()) {
        throw new IllegalArgumentException(where + ": tagQuotas." + tag + ": give at least one value");
      }
      tags.add(new Tag(tag, limits));
    }
    return new TagQuotas(tags);
  }

  /**
   * Whether the spec has caps on one tag and no minimums: the walk rule ({@link Tag}), kept so that such
   * specs write the same bytes as before minimums and several tags existed.
   */
  public boolean walk() {
    return tags.size() == 1 && tags.get(0).limits().stream().noneMatch(Limit::hasMinimum);
  }

  /**
   * Value combinations: every tag's named values plus "other", so the product of (values + 1) over the
   * tags. Combination 0 is "other" on every tag; on one tag, combination v + 1 is its v-th value.
   */
  public int combinations() {
    int n = 1;
    for (Tag t : tags) {
      n = Math.multiplyExact(n, t.limits().size() + 1);
    }
    return n;
  }

  /** The value index (in its tag's limits) of tag {@code t} in combination {@code combination}, or -1 for other. */
  public int valueIn(int combination, int t) {
    int c = combination;
    for (int u = 0; u < t; u++) {
      c /= tags.get(u).limits().size() + 1;
    }
    return c % (tags.get(t).limits().size() + 1) - 1;
  }

  /**
   * A record's combination less one (-1 when it has no named value on any tag): on one tag, the index
   * of its value among the tag's limits, as {@link BlendPlan.Item#tagClass} has always held it.
   */
  public int classOf(Example e) {
    int combination = 0;
    int radix = 1;
    for (Tag t : tags) {
      combination += (t.indexOf(e) + 1) * radix;
      radix *= t.limits().size() + 1;
    }
    return combination - 1;
  }

  /** The named values of a combination, tag to value (tags where it is "other" left out). */
  public Map<String, String> describe(int combination) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int t = 0; t < tags.size(); t++) {
      int v = valueIn(combination, t);
      if (v >= 0) {
        m.put(tags.get(t).tag(), tags.get(t).limits().get(v).value());
      }
    }
    return m;
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

  /**
   * One tag's quotas, and the walk rule for caps on one tag, applied after the source quotas are fixed
   * (and so never changing them):
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
   * this rule. Caps count distinct records: a source that upsamples cannot be combined with tag quotas.
   *
   * @param tag the tag, read from {@code metadata.tags.<tag>} ({@code .value}, or a plain string)
   * @param limits the values with quotas, in spec order
   */
  public record Tag(String tag, List<Limit> limits) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Tag {
      Objects.requireNonNull(tag, "tag");
      limits = List.copyOf(limits);
      if (limits.isEmpty()) {
        throw new IllegalArgumentException("tagQuotas." + tag + ": give at least one value");
      }
    }

    /** The index of a record's value in {@link #limits}, or -1 when it has none of them. */
    public int indexOf(Example e) {
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
}
