package io.instructflow.filters.judge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.schemas.Verdict;
import java.util.List;
import java.util.OptionalDouble;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Score parsing on the ways judges write scores, the threshold boundary, the evidence, and chain configs. */
class JudgeRuleTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "Score: 4.5\\nThe answer is correct.|4.5",
    "' 4\\nMostly right.'|4.0",
    "**Score:** 3|3.0",
    "Rating: 5/5 — flawless.|5.0",
    "I would rate this response 2 out of 5 because it misses the point.|2.0",
    "The response deserves 3.5/5.|3.5",
    "评分：４分。回答基本正确。|4.0",
    "得分: 2.5|2.5",
    "Score is 0, the reply is empty.|0.0",
    "Answer has 3 steps. Score: 4|4.0",
    "Score: 7\\nRating: 4|4.0",
  })
  void readsScoresHoweverTheyAreWritten(String reply, double want) {
    assertEquals(OptionalDouble.of(want), ScoreParser.parse(reply.replace("\\n", "\n"), 5));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "Once upon a time there was a little dog.",
    "Score: 7",
    "It scored 8/10.",
    "''",
    "The year 2024 was great.",
  })
  void noScoreWithinTheScaleIsNoScore(String reply) {
    assertEquals(OptionalDouble.empty(), ScoreParser.parse(reply, 5));
  }

  @Test
  void thresholdIsInclusiveAndDropsCarryEvidence() {
    JudgeRule r = new JudgeRule(4.5, JudgeRule.DEFAULT_TEMPLATE, 96, false, false);
    assertEquals(Verdict.KEPT, r.verdict("Score: 4.5", "judge-model"));
    assertEquals(Verdict.KEPT, r.verdict("Score: 5", "judge-model"));
    Verdict.Dropped d = (Verdict.Dropped) r.verdict("Score: 4.4\nA slip in the second step.", "judge-model");
    assertEquals(JudgeRule.BELOW, d.reason());
    assertEquals(4.4, d.details().get("score"));
    assertEquals(4.5, d.details().get("threshold"));
    assertEquals("judge-model", d.details().get("judge"));
    assertEquals("Score: 4.4\nA slip in the second step.", d.details().get("reply"));
    Verdict.Dropped none = (Verdict.Dropped) r.verdict("x".repeat(500), "j");
    assertEquals(JudgeRule.NO_SCORE, none.reason());
    assertTrue(((String) none.details().get("reply")).length() <= 201, "the reply is cut");
    assertEquals(Verdict.KEPT, new JudgeRule(4.5, JudgeRule.DEFAULT_TEMPLATE, 96, false, true).verdict("no idea", "j"));
    assertEquals(Verdict.KEPT, new JudgeRule(0, JudgeRule.DEFAULT_TEMPLATE, 96, false, false).verdict("Score: 0", "j"));
  }

  @Test
  void chainPlacesTheJudgeBetweenRecordFiltersAndDedup() {
    FilterChain c = FilterChain.parse("{\"filters\":[{\"type\":\"refusal\"},{\"type\":\"llm_judge\",\"threshold\":4,"
        + "\"maxTokens\":32,\"chat\":true},{\"type\":\"exact_dedup\"}]}", "t");
    assertEquals(new JudgeRule(4, JudgeRule.DEFAULT_TEMPLATE, 32, true, false), c.judge());
    assertEquals(List.of("refusal", "llm_judge", "exact_dedup"), c.asMap().get("filters"));
    assertEquals(new JudgeRule(4.5, JudgeRule.DEFAULT_TEMPLATE, 96, null, false),
        FilterChain.parse("{\"filters\":[{\"type\":\"llm_judge\"}]}", "t").judge(),
        "chat left out: chosen by the model (chat for an endpoint or a GGUF with a chat template)");
    for (String bad : List.of(
        "[{\"type\":\"llm_judge\"},{\"type\":\"refusal\"}]",
        "[{\"type\":\"exact_dedup\"},{\"type\":\"llm_judge\"}]",
        "[{\"type\":\"llm_judge\"},{\"type\":\"llm_judge\"}]",
        "[{\"type\":\"llm_judge\",\"threshold\":6}]",
        "[{\"type\":\"llm_judge\",\"threshold\":\"high\"}]",
        "[{\"type\":\"llm_judge\",\"maxTokens\":0}]",
        "[{\"type\":\"llm_judge\",\"model\":\"x\"}]",
        "[{\"type\":\"llm_judge\",\"chat\":\"yes\"}]",
        "[{\"type\":\"llm_judge\",\"rubric\":\"gpt\"}]")) {
      assertThrows(IllegalArgumentException.class, () -> FilterChain.parse("{\"filters\":" + bad + "}", "t"), bad);
    }
    FilterChain judged = FilterChain.parse("{\"filters\":[{\"type\":\"llm_judge\"}]}", "t");
    assertThrows(IllegalStateException.class, () -> judged.apply(List.of(), List.of()), "the plain loop has no model");
  }

  /**
   * The paper's rubric (AlpaGasus, Chen et al. 2023, the rating prompt): a system message, the
   * instruction, input and response, the accuracy of the response rated 0 to 5 with the score alone on
   * the first line; the paper kept 4.5 and above.
   */
  @Test
  void thePapersRubricIsSelectableWithItsThreshold() {
    JudgeRule paper = FilterChain.parse("{\"filters\":[{\"type\":\"llm_judge\",\"rubric\":\"paper\"}]}", "t").judge();
    assertEquals(new JudgeRule(4.5, JudgeRule.PAPER_TEMPLATE, 96, null, false, JudgeRule.Rubric.PAPER), paper);
    assertEquals(JudgeRule.PAPER_SYSTEM, paper.systemTemplate());
    assertEquals(null, FilterChain.parse("{\"filters\":[{\"type\":\"llm_judge\"}]}", "t").judge().systemTemplate(),
        "the anchored rubric has no system message");
    assertEquals(JudgeRule.Rubric.ANCHORED, new JudgeRule(4.5, JudgeRule.DEFAULT_TEMPLATE, 96, false, false).rubric());
    assertEquals(Boolean.FALSE, FilterChain.parse("{\"filters\":[{\"type\":\"llm_judge\",\"chat\":false}]}", "t").judge()
        .chat(), "chat: false forces text");
    assertEquals(Verdict.KEPT, paper.verdict("4.5\nThe response answers the instruction accurately.", "j"));
    assertEquals(Verdict.KEPT, paper.verdict("5", "j"));
    Verdict.Dropped d = (Verdict.Dropped) paper.verdict("4\nMostly accurate, one slip.", "j");
    assertEquals(JudgeRule.BELOW, d.reason());
    assertEquals(4.0, d.details().get("score"));
    assertEquals(JudgeRule.NO_SCORE, ((Verdict.Dropped) paper.verdict("The response is good.", "j")).reason());
  }
}
