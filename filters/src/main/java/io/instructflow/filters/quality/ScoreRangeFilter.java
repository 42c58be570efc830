package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.RecordFilter;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Keeps records whose stored score lies in a range (issue 22): {@code metadata.scores.<score>.value}, as the
 * {@code score} command writes it (a plain number there is read too). Bounds are inclusive; either may be
 * left out. A record above {@code max} drops ({@value #ABOVE_MAX}), below {@code min} drops
 * ({@value #BELOW_MIN}), and a record without the score, or with a value that is not a number, drops
 * ({@value #MISSING}): a filter cannot score, so an unscored record is not silently kept. The evidence
 * names the score, its value and the bound.
 *
 * <p>For IFD: {@code {"type": "score_range", "score": "ifd", "max": 1.0, "maxExclusive": true}} keeps the
 * records whose instruction helps predict the response (Cherry LLM drops IFD &gt;= 1).
 *
 * @param score the score's name in {@code metadata.scores}
 * @param min the lowest kept value, or null
 * @param max the highest kept value, or null
 * @param maxExclusive whether {@code max} itself drops
 */
public record ScoreRangeFilter(String score, Double min, Double max, boolean maxExclusive) implements RecordFilter {
  private static final long serialVersionUID = 1L;
  private static final Pattern NAME = Pattern.compile("[a-z0-9_]+");

  public static final String TYPE = "score_range";
  /** The value is above {@code max} (or equal to it with {@code maxExclusive}). */
  public static final String ABOVE_MAX = "score_range.above_max";
  /** The value is below {@code min}. */
  public static final String BELOW_MIN = "score_range.below_min";
  /** The record has no such score (not scored, or scored for other names), or it is not a number. */
  public static final String MISSING = "score_range.missing_score";

  public ScoreRangeFilter {
    if (score == null || !NAME.matcher(score).matches()) {
      throw new IllegalArgumentException("score_range: 'score' must be a lower_snake_case name such as ifd, got '"
          + score + "'");
    }
    if (min == null && max == null) {
      throw new IllegalArgumentException("score_range: give 'min', 'max' or both");
    }
    if (min != null && !Double.isFinite(min) || max != null && !Double.isFinite(max)) {
      throw new IllegalArgumentException("score_range: bounds must be finite, got min " + min + ", max " + max);
    }
    if (min != null && max != null && (min > max || maxExclusive && min.equals(max))) {
      throw new IllegalArgumentException("score_range: the range [" + min + ", " + max + (maxExclusive ? ")" : "]")
          + " is empty");
    }
  }

  /** From a chain config: {@code score}, {@code min}, {@code max}, {@code maxExclusive}. */
  public static ScoreRangeFilter fromJson(JsonNode n, String at) {
    Config c = new Config(n, at, Set.of("score", "min", "max", "maxExclusive"));
    JsonNode ex = n.get("maxExclusive");
    if (ex != null && !ex.isBoolean()) {
      throw c.error("'maxExclusive' must be true or false, got " + ex);
    }
    try {
      return new ScoreRangeFilter(c.text("score", null), n.hasNonNull("min") ? c.number("min", 0) : null,
          n.hasNonNull("max") ? c.number("max", 0) : null, ex != null && ex.asBoolean());
    } catch (IllegalArgumentException e) {
      throw c.error(e.getMessage());
    }
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    Object value = null;
    if (e.metadata().get("scores") instanceof Map<?, ?> scores) {
      Object s = scores.get(score);
      value = s instanceof Map<?, ?> m ? m.get("value") : s;
    }
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("score", score);
    if (!(value instanceof Number num) || !Double.isFinite(num.doubleValue())) {
      d.put("value", value == null ? null : String.valueOf(value));
      return new Verdict.Dropped(TYPE, MISSING, d);
    }
    double v = num.doubleValue();
    d.put("value", v);
    if (max != null && (v > max || maxExclusive && v == max)) {
      d.put("max", max);
      d.put("maxExclusive", maxExclusive);
      return new Verdict.Dropped(TYPE, ABOVE_MAX, d);
    }
    if (min != null && v < min) {
      d.put("min", min);
      return new Verdict.Dropped(TYPE, BELOW_MIN, d);
    }
    return Verdict.KEPT;
  }

  /** Makes this filter from its chain config entry; listed in {@code META-INF/services} ({@link io.instructflow.filters.chain.FilterRegistry}). */
  public static final class Factory extends io.instructflow.filters.chain.FilterFactory.Of {
    public Factory() {
      super(TYPE, ScoreRangeFilter::fromJson);
    }
  }
}
