package io.instructflow.pipelines.stats;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * An exact length distribution: a histogram of every observed value, so percentiles are exact and two
 * partial results merge without loss. Memory is bounded by the number of distinct lengths.
 */
public final class FieldStats implements Serializable {
  private static final long serialVersionUID = 1L;
  private final TreeMap<Long, Long> histogram = new TreeMap<>();
  private long count;
  private long sum;

  /** Adds one observed value. */
  public void add(long value) {
    histogram.merge(value, 1L, Long::sum);
    count++;
    sum += value;
  }

  /** Adds everything {@code other} observed. */
  public void merge(FieldStats other) {
    other.histogram.forEach((k, v) -> histogram.merge(k, v, Long::sum));
    count += other.count;
    sum += other.sum;
  }

  /** Number of observations. */
  public long count() {
    return count;
  }

  /** The {@code q}-quantile (nearest rank), 0 when empty. */
  public long quantile(double q) {
    if (count == 0) {
      return 0;
    }
    long rank = Math.max(1, (long) Math.ceil(q * count));
    long seen = 0;
    for (Map.Entry<Long, Long> e : histogram.entrySet()) {
      seen += e.getValue();
      if (seen >= rank) {
        return e.getKey();
      }
    }
    return histogram.lastKey();
  }

  /** count, min, p50, p90, p99, max, mean. */
  public Map<String, Object> summary() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("count", count);
    m.put("min", count == 0 ? 0 : histogram.firstKey());
    m.put("p50", quantile(0.5));
    m.put("p90", quantile(0.9));
    m.put("p99", quantile(0.99));
    m.put("max", count == 0 ? 0 : histogram.lastKey());
    m.put("mean", count == 0 ? 0.0 : Math.round(sum * 100.0 / count) / 100.0);
    return m;
  }
}
