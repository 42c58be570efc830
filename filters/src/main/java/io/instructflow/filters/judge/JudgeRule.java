package io.instructflow.filters.judge;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Verdict;
import java.io.Serializable;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;

/**
 * LLM-judge scoring in the AlpaGasus style: a judge model reads the instruction, input and response
 * under a rubric and answers with a 0–5 score; a record scoring at least {@code threshold} is kept
 * (AlpaGasus kept Alpaca's records scoring 4.5 or more). The model call is the pipeline's business;
 * this rule holds the settings and turns a reply into a verdict. A reply without a readable score
 * drops the record as {@value #NO_SCORE} unless {@code keepUnscored}, since an unjudged record has not
 * passed the filter.
 *
 * @param threshold the lowest score kept
 * @param template the rubric prompt template id (placeholders instruction, input, output)
 * @param maxTokens tokens the judge may write
 * @param chat send the rubric as one user message in the model's chat format (else as plain text)
 * @param keepUnscored keep records whose reply holds no score
 */
public record JudgeRule(double threshold, String template, int maxTokens, boolean chat, boolean keepUnscored)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "llm_judge";
  public static final String BELOW = "llm_judge.below_threshold";
  public static final String NO_SCORE = "llm_judge.no_score";
  /** The top of the scale. */
  public static final double MAX = 5;
  /** The rubric shipped with instructflow. */
  public static final String DEFAULT_TEMPLATE = "judge/alpagasus-accuracy@1";

  public JudgeRule {
    if (!(threshold >= 0 && threshold <= MAX)) {
      throw new IllegalArgumentException("llm_judge: threshold must be in [0, 5], got " + threshold);
    }
    if (template == null || template.isBlank()) {
      throw new IllegalArgumentException("llm_judge: template must name a prompt template");
    }
    if (maxTokens < 1) {
      throw new IllegalArgumentException("llm_judge: maxTokens must be positive, got " + maxTokens);
    }
  }

  /** From a chain config: {@code threshold} 4.5, {@code template}, {@code maxTokens} 96, {@code chat} false, {@code keepUnscored} false. */
  public static JudgeRule fromJson(JsonNode n, String at) {
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!Set.of("type", "threshold", "template", "maxTokens", "chat", "keepUnscored").contains(k)) {
        throw new IllegalArgumentException(at + ": unknown field '" + k
            + "', expected [threshold, template, maxTokens, chat, keepUnscored]");
      }
    }
    JsonNode t = n.get("threshold");
    if (t != null && !t.isNumber()) {
      throw new IllegalArgumentException(at + ": 'threshold' must be a number, got " + t);
    }
    try {
      return new JudgeRule(t == null ? 4.5 : t.asDouble(), n.path("template").asText(DEFAULT_TEMPLATE),
          n.path("maxTokens").asInt(96), n.path("chat").asBoolean(false), n.path("keepUnscored").asBoolean(false));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(at + ": " + e.getMessage());
    }
  }

  /** The score in a reply, if it holds one. */
  public OptionalDouble score(String reply) {
    return ScoreParser.parse(reply, MAX);
  }

  /**
   * The verdict on a reply: kept at or above the threshold, else dropped with the score, the
   * threshold, the judge and the start of its reply.
   *
   * @param judge the judge model's id, for the evidence
   */
  public Verdict verdict(String reply, String judge) {
    OptionalDouble s = score(reply);
    if (s.isPresent() && s.getAsDouble() >= threshold || s.isEmpty() && keepUnscored) {
      return Verdict.KEPT;
    }
    Map<String, Object> d = new LinkedHashMap<>();
    if (s.isPresent()) {
      d.put("score", s.getAsDouble());
    }
    d.put("threshold", threshold);
    d.put("judge", judge);
    d.put("reply", excerpt(reply == null ? "" : reply));
    return new Verdict.Dropped(TYPE, s.isPresent() ? BELOW : NO_SCORE, d);
  }

  static String excerpt(String s) {
    String one = s.strip();
    return one.codePointCount(0, one.length()) <= 200 ? one : one.substring(0, one.offsetByCodePoints(0, 200)) + "…";
  }
}
