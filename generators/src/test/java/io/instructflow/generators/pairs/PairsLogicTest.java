package io.instructflow.generators.pairs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.schemas.Json;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Binarization strategies, aspect parsing and the input shapes of the pairs command. */
class PairsLogicTest {
  static final Binarize.Ties KEEP = Binarize.Ties.KEEP_TOP;
  static final Binarize.Ties DROP = Binarize.Ties.DROP;

  static List<Double> s(Double... v) {
    return Arrays.asList(v);
  }

  @Test
  void bestVsRandomPicksTheTopAndASeededOther() {
    List<Double> scores = s(4.5, 3.0, 5.0, 2.0);
    Set<Integer> rejected = new HashSet<>();
    for (int p = 0; p < 60; p++) {
      Binarize.Outcome o = Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, scores, 0, 7, "prompt-" + p, KEEP);
      assertEquals(1, o.picks().size());
      Binarize.Pick pick = o.picks().get(0);
      assertEquals(2, pick.chosen());
      assertTrue(pick.rejected() != 2);
      assertEquals(scores.get(2) - scores.get(pick.rejected()), pick.margin());
      assertEquals(o, Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, scores, 0, 7, "prompt-" + p, KEEP),
          "seeded");
      assertEquals(o, Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, scores, 0, 7, "prompt-" + p, DROP),
          "without a tie the two modes agree");
      rejected.add(pick.rejected());
    }
    assertEquals(Set.of(0, 1, 3), rejected, "every other candidate can be the rejected one");
  }

  @Test
  void tiesAtTheTopDropThePromptWithDrop() {
    Binarize.Outcome o = Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, s(5.0, 3.0, 5.0), 0, 0, "p", DROP);
    assertEquals(Binarize.TIED_TOP, o.reason());
    assertEquals(2, o.evidence().get("tied"));
    assertEquals(Binarize.TIED_TOP, Binarize.apply(Binarize.Strategy.BEST_VS_WORST, s(5.0, 5.0, 1.0), 0, 0, "p",
        DROP).reason());
    Binarize.Outcome all = Binarize.apply(Binarize.Strategy.ALL_PAIRS, s(5.0, 5.0, 3.0), 0, 0, "p", DROP);
    assertEquals(List.of(new Binarize.Pick(0, 2, 2.0), new Binarize.Pick(1, 2, 2.0)), all.picks(),
        "all-pairs never pairs equal scores, and a tie at the top does not drop it");
  }

  /**
   * Argilla's binarization of UltraFeedback (the practice Zephyr's ultrafeedback_binarized converged on
   * once ties were removed): chosen is a top-rated candidate, rejected a random one rated strictly lower.
   * Our chosen among tied tops is a seeded pick, not the first in input order.
   */
  @Test
  void keepTopChoosesATopCandidateAndRejectsAStrictlyLowerOne() {
    List<Double> scores = s(5.0, 3.0, 5.0, 2.0, 5.0);
    Set<Integer> chosen = new HashSet<>();
    Set<Integer> rejected = new HashSet<>();
    for (int p = 0; p < 80; p++) {
      Binarize.Outcome o = Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, scores, 0, 3, "prompt-" + p, KEEP);
      assertNull(o.reason());
      assertEquals(3, o.tiedAtTop());
      Binarize.Pick pick = o.picks().get(0);
      assertEquals(5.0, scores.get(pick.chosen()));
      assertTrue(scores.get(pick.rejected()) < 5.0, "never another top candidate");
      assertEquals(o, Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, scores, 0, 3, "prompt-" + p, KEEP));
      chosen.add(pick.chosen());
      rejected.add(pick.rejected());
    }
    assertEquals(Set.of(0, 2, 4), chosen, "any tied top candidate can be chosen: no input-order bias");
    assertEquals(Set.of(1, 3), rejected);
    Binarize.Outcome w = Binarize.apply(Binarize.Strategy.BEST_VS_WORST, s(4.0, 4.0, 1.0, 2.0), 0, 0, "p", KEEP);
    assertEquals(2, w.picks().get(0).rejected(), "best-vs-worst: the lowest");
    assertEquals(3.0, w.picks().get(0).margin());
    Binarize.Outcome tied = Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, s(4.0, 4.0, null), 0, 0, "p", KEEP);
    assertEquals(Binarize.ALL_TIED, tied.reason(), "nothing strictly lower: no pair");
    assertEquals(2, tied.evidence().get("tied"));
    assertEquals(Binarize.ALL_TIED, Binarize.apply(Binarize.Strategy.ALL_PAIRS, s(2.0, 2.0), 0, 0, "p", KEEP)
        .reason());
    assertEquals(Binarize.MARGIN, Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, s(5.0, 5.0, 4.5), 1, 0, "p",
        KEEP).reason(), "the margin still applies");
    assertEquals(Binarize.Ties.KEEP_TOP, Binarize.Ties.fromCode("keep-top"));
    assertThrows(IllegalArgumentException.class, () -> Binarize.Ties.fromCode("random"));
  }

  /** A pairwise judge's relation: the rejected must have lost to the chosen in both orders. */
  @Test
  void aGivenRelationDecidesWhoBeatsWhom() {
    // win rates 0.75, 0.75, 0.25, 0.25; 0 beat 2 only, 1 beat 3 only, every other game a tie
    List<Double> rates = s(0.75, 0.75, 0.25, 0.25);
    Binarize.Beats beats = (i, j) -> i == 0 && j == 2 || i == 1 && j == 3;
    for (int p = 0; p < 20; p++) {
      Binarize.Pick pick = Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, rates, 0, 1, "q" + p, KEEP, beats)
          .picks().get(0);
      assertTrue(pick.chosen() == 0 && pick.rejected() == 2 || pick.chosen() == 1 && pick.rejected() == 3, pick.toString());
      assertEquals(0.5, pick.margin());
    }
    assertEquals(List.of(new Binarize.Pick(0, 2, 0.5), new Binarize.Pick(1, 3, 0.5)),
        Binarize.apply(Binarize.Strategy.ALL_PAIRS, rates, 0, 1, "q", KEEP, beats).picks());
    assertEquals(Binarize.NO_WIN, Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, s(0.5, 0.5), 0, 1, "q", KEEP,
        (i, j) -> false).reason(), "all ties: no decisive win");
    assertEquals(Binarize.NO_WIN, Binarize.apply(Binarize.Strategy.ALL_PAIRS, s(0.5, 0.5), 0, 1, "q", KEEP,
        (i, j) -> false).reason());
  }

  @Test
  void bestVsWorstAndAllPairsWithMargins() {
    Binarize.Outcome w = Binarize.apply(Binarize.Strategy.BEST_VS_WORST, s(4.0, 1.0, 5.0, 1.0), 0, 3, "p", KEEP);
    assertEquals(2, w.picks().get(0).chosen());
    assertTrue(Set.of(1, 3).contains(w.picks().get(0).rejected()));
    assertEquals(4.0, w.picks().get(0).margin());
    assertEquals(List.of(new Binarize.Pick(0, 1, 2.0), new Binarize.Pick(0, 2, 1.0), new Binarize.Pick(2, 1, 1.0)),
        Binarize.apply(Binarize.Strategy.ALL_PAIRS, s(3.0, 1.0, 2.0), 0, 0, "p", KEEP).picks());
    assertEquals(List.of(new Binarize.Pick(0, 1, 2.0)),
        Binarize.apply(Binarize.Strategy.ALL_PAIRS, s(3.0, 1.0, 2.0), 1.5, 0, "p", KEEP).picks());
    assertEquals(3, Binarize.apply(Binarize.Strategy.ALL_PAIRS, s(3.0, 1.0, 2.0), 1.0, 0, "p", KEEP).picks().size(),
        "a margin equal to the minimum is enough");
    assertEquals(Binarize.MARGIN, Binarize.apply(Binarize.Strategy.BEST_VS_WORST, s(4.0, 3.5), 1, 0, "p", KEEP).reason());
    Binarize.Outcome few = Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, s(null, 4.0, null), 0, 0, "p", KEEP);
    assertEquals(Binarize.TOO_FEW, few.reason());
    assertEquals(1, few.evidence().get("scored"));
    assertEquals(List.of(new Binarize.Pick(1, 0, 1.0)),
        Binarize.apply(Binarize.Strategy.BEST_VS_WORST, s(3.0, 4.0, null), 0, 0, "p", KEEP).picks(),
        "unscored candidates take no part");
  }

  @Test
  void aspectRatingsAreReadHoweverTheyAreWritten() {
    assertEquals(Map.of("instruction_following", 4.0, "honesty", 5.0, "truthfulness", 3.0, "helpfulness", 4.0),
        Aspects.parse("Instruction following: 4\nHonesty: 5\nTruthfulness: 3\nHelpfulness: 4"));
    assertEquals(Map.of("instruction_following", 4.0, "honesty", 2.0),
        Aspects.parse("**Instruction-Following**: 4/5\nhonesty rating - 2\nHelpfulness: 7\nTruthfulness: n/a"));
    assertEquals(Map.of(), Aspects.parse("Once upon a time"));
    assertEquals(3.5, Binarize.mean(Aspects.parse("Instruction following: 4 Honesty: 3")));
    assertNull(Binarize.mean(Map.of()));
    assertEquals("instruction_following", Aspects.key("instruction_following"));
    assertEquals("honesty", Aspects.key("Honesty"));
    assertNull(Aspects.key("verbalized_calibration"));
  }

  @Test
  void inputShapes() throws Exception {
    PairInput uf = PairInput.parse(Json.mapper().readTree("{\"instruction\": \"Name a color.\", \"completions\": ["
        + "{\"model\": \"m1\", \"response\": \"Red.\", \"overall_score\": 9, \"annotations\": {\"instruction_following\": "
        + "{\"Rating\": \"5\"}, \"honesty\": {\"Rating\": \"4\"}, \"truthfulness\": {\"Rating\": \"N/A\"}, \"helpfulness\": "
        + "{\"Rating\": 3}}}, {\"model\": \"m2\", \"response\": \"Blue.\"}]}"), "f", "f.jsonl:1");
    assertEquals("ultrafeedback", uf.shape());
    assertEquals(Map.of("instruction_following", 5.0, "honesty", 4.0, "helpfulness", 3.0), uf.candidates().get(0).ratings());
    assertEquals(4.0, uf.candidates().get(0).rank(), "the mean of the ratings, not the overall score");
    assertEquals(9.0, uf.candidates().get(0).info().get("overall_score"));
    assertNull(uf.candidates().get(1).rank());
    PairInput simple = PairInput.parse(Json.mapper().readTree("{\"prompt\": \"Hi\", \"candidates\": [{\"text\": \"Hello\", "
        + "\"score\": 7.5, \"model\": \"a\"}, {\"text\": \"Yo\"}]}"), "file", "x.jsonl:2");
    assertEquals(7.5, simple.candidates().get(0).rank());
    assertEquals("file", simple.candidates().get(1).model());
    PairInput resp = PairInput.parse(Json.mapper().readTree("{\"prompt\": \"long few-shot\", \"instruction\": \"Fix this.\", "
        + "\"input\": \"teh cat\", \"response\": \"the cat\"}"), PairInput.fileModel("davinci_predictions.jsonl"), "d:1");
    assertEquals("Fix this.\n\nteh cat", resp.prompt(), "instruction and input, not the few-shot prompt");
    assertEquals("davinci", resp.candidates().get(0).model());
    assertEquals("prompt", PairInput.parse(Json.mapper().readTree("{\"prompt\": \"Write a haiku.\"}"), "f", "f:1").shape());
    assertThrows(PairInput.BadRow.class, () -> PairInput.parse(Json.mapper().readTree("{\"text\": \"x\"}"), "f", "f:1"));
    assertThrows(PairInput.BadRow.class, () -> PairInput.parse(Json.mapper().readTree("{\"prompt\": \"x\", \"candidates\": "
        + "[{\"text\": \"a\", \"score\": \"high\"}]}"), "f", "f:1"));
  }

  @Test
  void candidateSpecs() {
    List<CandidateSpec> l = CandidateSpec.parseList("models/a.gguf:t=0.7:n=2,judge@http://127.0.0.1:8080/v1:t=1.0:n=3:max=64");
    assertEquals(new CandidateSpec("models/a.gguf", 0.7, 2, 0.95, 256), l.get(0));
    assertEquals(new CandidateSpec("judge@http://127.0.0.1:8080/v1", 1.0, 3, 0.95, 64), l.get(1));
    assertTrue(l.get(1).remote());
    assertEquals("judge", l.get(1).remoteName());
    assertEquals("http://127.0.0.1:8080/v1", l.get(1).remoteUrl());
    assertThrows(IllegalArgumentException.class, () -> CandidateSpec.parseList("a.gguf:n=zero"));
    assertThrows(IllegalArgumentException.class, () -> CandidateSpec.parseList("a.gguf:n=0"));
  }
}
