package io.instructflow.pipelines.blend;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * How many rows each source contributes to a blend.
 *
 * <ul>
 *   <li>A {@code count} source gives that many rows, a {@code fraction} source that share of its own
 *       records.
 *   <li>Weighted sources share what is left of the target in proportion to their weights. With a
 *       temperature T, a source without an explicit share weighs n^(1/T), n being its record count.
 *       With a token target, the weights share tokens, and a source's rows are its tokens over its mean
 *       tokens per record.
 *   <li>A source's limit is its {@code cap}, and its size unless it may upsample. A weighted share over
 *       the limit is held at the limit and the rest goes to the other weighted sources, again by
 *       weight, until no share is over its limit. When every source is at its limit the blend is
 *       smaller than the target, and a note says so.
 *   <li>The real-valued shares become whole rows by largest remainder: each share is rounded down, then
 *       the rows still missing from the rounded total go one each to the largest fractional parts (ties
 *       to the earlier source).
 * </ul>
 */
public final class Quotas {
  private Quotas() {}

  /**
   * What the rule needs of a source.
   *
   * @param name source name
   * @param available its records (after dedup)
   * @param weight explicit weight, or null
   * @param fraction share of its own records, or null
   * @param count rows, or null
   * @param cap most rows, or null
   * @param upsample whether rows may repeat records
   * @param meanTokens mean estimated tokens per record (for token targets)
   */
  public record Input(String name, long available, Double weight, Double fraction, Long count, Long cap, boolean upsample,
      double meanTokens) {
    boolean weighted() {
      return fraction == null && count == null;
    }

    double limit() {
      double l = upsample ? Double.POSITIVE_INFINITY : available;
      return cap == null ? l : Math.min(l, cap);
    }
  }

  /**
   * One source's quota.
   *
   * @param name source name
   * @param available its records
   * @param weight the weight it was given or got from the temperature, or null for a fixed share
   * @param share the real-valued rows before rounding
   * @param rows whole rows
   * @param limitedBy {@code cap} or {@code size} when the limit held the share, else null
   */
  public record Quota(String name, long available, Double weight, double share, long rows, String limitedBy) {
    /** Times every record of the source is repeated (0 when not upsampled). */
    public long fullCopies() {
      return available == 0 || rows <= available ? 0 : rows / available;
    }

    /** Records taken once more on top of the full copies, chosen by the seeded hash. */
    public long remainder() {
      return available == 0 ? 0 : rows <= available ? rows : rows % available;
    }
  }

  /**
   * The quotas and what a reader should know about them.
   *
   * @param quotas one per source, in source order
   * @param notes e.g. a target that could not be reached
   */
  public record Result(List<Quota> quotas, List<String> notes) {
    /** Rows in all. */
    public long total() {
      return quotas.stream().mapToLong(Quota::rows).sum();
    }
  }

  /**
   * Computes the quotas.
   *
   * @param target rows wanted, or null
   * @param targetTokens tokens wanted, or null
   * @param temperature temperature for sources without a share, or null
   * @throws IllegalArgumentException when fixed shares alone exceed the target, or weights have no target
   */
  public static Result compute(List<Input> in, Long target, Long targetTokens, Double temperature) {
    int n = in.size();
    double[] share = new double[n];
    double[] weight = new double[n];
    String[] limited = new String[n];
    List<String> notes = new ArrayList<>();
    boolean tokens = targetTokens != null;
    double remaining = tokens ? targetTokens : target != null ? target : 0;
    List<Integer> active = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Input s = in.get(i);
      if (s.weighted()) {
        weight[i] = s.weight() != null ? s.weight() : temperature != null ? Math.pow(s.available(), 1 / temperature) : 0;
        if (weight[i] > 0 && s.limit() > 0 && (!tokens || s.meanTokens() > 0)) {
          active.add(i);
        }
        continue;
      }
      double want = s.count() != null ? s.count() : s.fraction() * s.available();
      share[i] = Math.min(want, s.limit());
      if (share[i] < want) {
        limited[i] = s.cap() != null && s.cap() <= s.limit() && s.cap() < want ? "cap" : "size";
      }
      remaining -= tokens ? share[i] * s.meanTokens() : share[i];
    }
    if (!active.isEmpty() && target == null && targetTokens == null) {
      throw new IllegalArgumentException("weighted sources need a target");
    }
    if ((target != null || tokens) && remaining < -1e-9) {
      throw new IllegalArgumentException(String.format(Locale.ROOT,
          "the count and fraction sources alone give more than the target (%s %s over)", fmt(-remaining), tokens ? "tokens" : "rows"));
    }
    boolean changed = true;
    while (changed && !active.isEmpty()) {
      changed = false;
      double w = 0;
      for (int i : active) {
        w += weight[i];
      }
      for (int i : new ArrayList<>(active)) {
        Input s = in.get(i);
        double rows = remaining * weight[i] / w / (tokens ? s.meanTokens() : 1);
        if (rows > s.limit()) {
          share[i] = s.limit();
          limited[i] = s.cap() != null && s.cap() <= s.limit() ? "cap" : "size";
          remaining -= tokens ? share[i] * s.meanTokens() : share[i];
          active.remove(Integer.valueOf(i));
          changed = true;
          break;
        }
      }
      if (!changed) {
        for (int i : active) {
          share[i] = remaining * weight[i] / w / (tokens ? in.get(i).meanTokens() : 1);
        }
      }
    }
    double total = 0;
    for (double s : share) {
      total += s;
    }
    long whole = Math.round(total);
    long[] rows = new long[n];
    long floors = 0;
    for (int i = 0; i < n; i++) {
      rows[i] = (long) Math.floor(share[i] + 1e-9);
      floors += rows[i];
    }
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      order.add(i);
    }
    order.sort(Comparator.comparingDouble((Integer i) -> -(share[i] - rows[i])).thenComparingInt(i -> i));
    for (int k = 0; k < whole - floors && k < n; k++) {
      int i = order.get(k);
      if (share[i] - rows[i] > 1e-9 && rows[i] + 1 <= in.get(i).limit()) {
        rows[i]++;
      }
    }
    List<Quota> out = new ArrayList<>();
    long sum = 0;
    for (int i = 0; i < n; i++) {
      Input s = in.get(i);
      out.add(new Quota(s.name(), s.available(), s.weighted() ? weight[i] : null, share[i], rows[i], limited[i]));
      sum += rows[i];
    }
    if (target != null && sum < target) {
      notes.add(String.format(Locale.ROOT, "target %,d rows not reached: %,d rows, every weighted source is at its cap or "
          + "its size (set upsample to repeat records)", target, sum));
    }
    return new Result(out, notes);
  }

  private static String fmt(double v) {
    return String.format(Locale.ROOT, "%,.0f", v);
  }
}
