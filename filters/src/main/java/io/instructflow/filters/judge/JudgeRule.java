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
 * <p>Two rubrics ({@link Rubric}): {@code anchored}, our own, which describes every score from 0 to 5
 * and asks for "Score: N" on the first line; and {@code paper}, which follows the AlpaGasus paper's
 * prompt: a system message asking for feedback on the assistant's response, a user message with the
 * instruction, input and response, and a request to rate the response's accuracy from 0 to 5, the score
 * alone on the first line and an explanation on the next. Both default to AlpaGasus's threshold, 4.5.
 *
 * @param threshold the lowest score kept
 * @param template the rubric prompt template id (placeholders instruction, input, output)
 * @param maxTokens tokens the judge may write
 * @param chat send the rubric as chat messages in the model's chat format (true) or as plain text
 *     (false); null: chat for an endpoint or a GGUF with a chat template, text otherwise
 * @param keepUnscored keep records whose reply holds no score
 * @param rubric which rubric (and with it the system prompt and the answer's shape)
 */
public record JudgeRule(double threshold, String template, int maxTokens, Boolean chat, boolean keepUnscored, Rubric rubric)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "llm_judge";
  public static final String BELOW = "llm_judge.below_threshold";
  public static final String NO_SCORE = "llm_judge.no_score";
  /** The top of the scale. */
  public static final double MAX = 5;
  /** The anchored rubric shipped with instructflow. */
  public static final String DEFAULT_TEMPLATE = "judge/alpagasus-accuracy@1";
  /** The rubric that follows the AlpaGasus paper's prompt. */
  public static final String PAPER_TEMPLATE = "judge/alpagasus-paper@1";
  /** The paper rubric's system message. */
  public static final String PAPER_SYSTEM = "judge/alpagasus-paper-system@1";
  /** AlpaGasus's threshold: the paper kept the records its judge scored 4.5 or more. */
  public static final double DEFAULT_THRESHOLD = 4.5;

  /** The rubrics, by their config names. */
  public enum Rubric {
    /**
     * Ours: each score from 0 to 5 described (5 correct and complete, 4 correct with small slips, ...),
     * half points, "Score: N" first; no system message.
     */
    ANCHORED("anchored", DEFAULT_TEMPLATE, null),
    /** The paper's: accuracy of the response, 0 to 5, the score alone on the first line; a system message. */
    PAPER("paper", PAPER_TEMPLATE, PAPER_SYSTEM);

    private final String code;
    private final String template;
    private final String system;

    Rubric(String code, String template, String system) {
      this.code = code;
      this.template = template;
      this.system = system;
    }

    public String code() {
      return code;
    }

    /** The rubric's default user template. */
    public String template() {
      return template;
    }

    /** The rubric's system template, or null. */
    public String system() {
      return system;
    }

    public static Rubric fromCode(String code) {
      for (Rubric r : values()) {
        if (r.code.equals(code)) {
          return r;
        }
      }
      throw new IllegalArgumentException("unknown rubric '" + code + "', expected anchored or paper");
    }
  }

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
    if (rubric == null) {
      rubric = Rubric.ANCHORED;
    }
  }

  /** The anchored rubric. */
  public JudgeRule(double threshold, String template, int maxTokens, Boolean chat, boolean keepUnscored) {
    this(threshold, template, maxTokens, chat, keepUnscored, Rubric.ANCHORED);
  }

  static final Set<String> FIELDS = Set.of("type", "threshold", "template", "maxTokens", "chat", "keepUnscored", "rubric");

  /**
   * From a chain config: {@code rubric} anchored, {@code threshold} 4.5, {@code template} the rubric's,
   * {@code maxTokens} 96, {@code chat} absent (automatic), {@code keepUnscored} false.
   */
  public static JudgeRule fromJson(JsonNode n, String at) {
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!FIELDS.contains(k)) {
        throw new IllegalArgumentException(at + ": unknown field '" + k
            + "', expected [threshold, template, maxTokens, chat, keepUnscored, rubric]");
      }
    }
    JsonNode t = n.get("threshold");
    if (t != null && !t.isNumber()) {
      throw new IllegalArgumentException(at + ": 'threshold' must be a number, got " + t);
    }
    JsonNode c = n.get("chat");
    if (c != null && !c.isBoolean() && !c.isNull()) {
      throw new IllegalArgumentException(at + ": 'chat' must be true or false (leave it out for automatic), got " + c);
    }
    try {
      Rubric rubric = Rubric.fromCode(n.path("rubric").asText(Rubric.ANCHORED.code()));
      return new JudgeRule(t == null ? DEFAULT_THRESHOLD : t.asDouble(), n.path("template").asText(rubric.template()),
          n.path("maxTokens").asInt(96), c == null || c.isNull() ? null : c.asBoolean(), n.path("keepUnscored").asBoolean(false),
          rubric);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(at + ": " + e.getMessage());
    }
  }

  /** The system template id, or null when the rubric has none. */
  public String systemTemplate() {
    return rubric.system();
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
