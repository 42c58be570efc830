package io.instructflow.generators.pairs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.ScriptedModel;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The pairs judge's three protocols against scripted judges, and the reading of their answers. */
class PairJudgeTest {
  static GenerationResult ok(GenerationRequest r, String text) {
    return GenerationResult.ok(r.id(), "", 5, List.of(new Completion(text, FinishReason.STOP, 3)));
  }

  /** What the judge was shown: the messages joined, or the text prompt. */
  static String shown(GenerationRequest r) {
    if (!r.isChat()) {
      return r.prompt();
    }
    StringBuilder b = new StringBuilder();
    r.messages().forEach(m -> b.append(m.content()).append("\n\n"));
    return b.toString();
  }

  static Candidate cand(String text) {
    return new Candidate(text, "m-" + text, null, Map.of(), Map.of());
  }

  static PairJudge.Settings settings(PairJudge.Protocol p, boolean chat, boolean grammar, long seed) throws Exception {
    return new PairJudge.Settings(p, PairJudge.templates(p, null), chat, grammar, 0, seed);
  }

  @Test
  void perCandidateRatesTheUnratedInChatOrText() throws Exception {
    List<GenerationRequest> seen = new ArrayList<>();
    ScriptedModel judge = new ScriptedModel("j", r -> {
      seen.add(r);
      String p = shown(r);
      if (p.contains("broken")) {
        return GenerationResult.failed(r.id(), p, GenerationResult.ErrorKind.PROMPT_TOO_LONG, "too long");
      }
      if (p.contains("story")) {
        return ok(r, "Once upon a time there was a fox.");
      }
      return ok(r, r.isChat() ? "Instruction following: 5\nHonesty: 4\nTruthfulness: 4\nHelpfulness: 3"
          : " 4\nHonesty: 4\nTruthfulness: 4\nHelpfulness: 4");
    });
    List<Candidate> cands = List.of(cand("fine"), cand("a story"), cand("broken"),
        new Candidate("given", "x", 9.0, Map.of(), Map.of()));
    PairJudge.Outcome chat = PairJudge.judge(judge, settings(PairJudge.Protocol.PER_CANDIDATE, true, true, 1), "p1", "Say hi.",
        cands);
    assertEquals(3, seen.size(), "the candidate with a score is not judged");
    assertTrue(seen.get(0).isChat());
    assertEquals(1, seen.get(0).messages().size(), "the rubric as the user message, no system message");
    assertEquals(PairJudge.ASPECTS_GRAMMAR_CHAT, seen.get(0).params().grammar());
    assertEquals(4.0, chat.candidates().get(0).rank());
    assertEquals("chat", chat.candidates().get(0).info().get("judge_format"));
    assertNull(chat.candidates().get(1).rank(), "an unreadable answer leaves the candidate unrated");
    assertNull(chat.candidates().get(2).rank());
    assertEquals("too long", chat.candidates().get(2).info().get("judge_error"));
    assertEquals(1, chat.unreadable());
    assertEquals(1, chat.failures());
    assertEquals(2, chat.judged());
    assertEquals(List.of("unreadable", "failed"), chat.problems().stream().map(m -> m.get("kind")).toList());

    seen.clear();
    PairJudge.Outcome text = PairJudge.judge(judge, settings(PairJudge.Protocol.PER_CANDIDATE, false, false, 1), "p1", "Say hi.",
        cands);
    assertTrue(!seen.get(0).isChat() && seen.get(0).prompt().endsWith("Instruction following:"), "text continues the rubric");
    assertNull(seen.get(0).params().grammar(), "no grammar for an endpoint");
    assertEquals(4.0, text.candidates().get(0).rank(), "the first rating continues the prompt's label");
  }

  /** A judge that rates each text by what it says, wherever the shuffle put it. */
  static final Pattern TEXT = Pattern.compile("<text (\\d+)> (\\w+)");

  static String ufAnswer(String prompt, boolean typed, Map<String, String> ratings) {
    StringBuilder b = new StringBuilder();
    Matcher m = TEXT.matcher(prompt);
    while (m.find()) {
      b.append(b.length() == 0 ? "" : "\n\n").append("#### Output for Text ").append(m.group(1)).append('\n');
      if (typed) {
        b.append("Type: None\nRationale: nothing made up\n");
      }
      b.append("Rating: ").append(ratings.get(m.group(2))).append("\nRationale: about ").append(m.group(2));
    }
    return b.toString();
  }

  @Test
  void ultraFeedbackShowsAllCandidatesPerAspectInASeededOrderAndMapsRatingsBack() throws Exception {
    List<GenerationRequest> seen = new ArrayList<>();
    Map<String, String> ratings = Map.of("alpha", "5", "beta", "3", "gamma", "1", "delta", "2");
    ScriptedModel judge = new ScriptedModel("uf", r -> {
      seen.add(r);
      String p = shown(r);
      boolean typed = p.contains("Criterion: truthfulness") || p.contains("Criterion: helpfulness");
      String answer = ufAnswer(p, typed, ratings);
      return ok(r, p.contains("Criterion: honesty") ? answer.replace("Rating: 2", "Rating: N/A") : answer);
    });
    List<Candidate> cands = List.of(cand("alpha"), cand("beta"), cand("gamma"), cand("delta"));
    PairJudge.Outcome o = PairJudge.judge(judge, settings(PairJudge.Protocol.ULTRAFEEDBACK, true, true, 11), "p", "Name it.",
        cands);
    assertEquals(4, seen.size(), "one request per aspect");
    assertEquals(4, o.requests());
    List<List<String>> orders = new ArrayList<>();
    for (GenerationRequest r : seen) {
      assertEquals("system", r.messages().get(0).role());
      assertTrue(r.messages().get(0).content().contains("rating and a rationale"));
      String p = r.messages().get(1).content();
      assertTrue(p.contains("Name it.") && p.contains("## Texts (4)"));
      List<String> order = new ArrayList<>();
      Matcher m = TEXT.matcher(p);
      while (m.find()) {
        order.add(m.group(2));
      }
      assertEquals(Set.of("alpha", "beta", "gamma", "delta"), new HashSet<>(order), "all candidates shown together");
      orders.add(order);
    }
    assertTrue(new HashSet<>(orders).size() > 1, "each aspect shuffles anew: " + orders);
    assertTrue(seen.get(2).params().grammar().contains("Type: "), "truthfulness asks for the type first");
    for (int i = 0; i < cands.size(); i++) {
      Candidate c = o.candidates().get(i);
      double want = Double.parseDouble(ratings.get(c.text()));
      Map<String, Double> expected = new java.util.LinkedHashMap<>();
      for (String a : Aspects.ALL) {
        if (!(a.equals("honesty") && want == 2)) {
          expected.put(a, want);
        }
      }
      assertEquals(expected, c.ratings(), c.text() + ": its own ratings, wherever it was shown");
      Map<?, ?> ann = (Map<?, ?>) c.info().get("judge_annotations");
      assertEquals("about " + c.text(), ((Map<?, ?>) ann.get("helpfulness")).get("rationale"));
      assertEquals(orders.get(3).indexOf(c.text()) + 1, ((Map<?, ?>) ann.get("helpfulness")).get("position"));
      assertEquals("ultrafeedback", c.info().get("judge_protocol"));
    }
    assertEquals("N/A", ((Map<?, ?>) ((Map<?, ?>) o.candidates().get(3).info().get("judge_annotations")).get("honesty"))
        .get("rating"), "N/A is kept as a note and left out of the mean");
    assertEquals(List.of(), o.problems());

    List<List<String>> again = new ArrayList<>();
    seen.clear();
    PairJudge.judge(judge, settings(PairJudge.Protocol.ULTRAFEEDBACK, true, true, 11), "p", "Name it.", cands);
    seen.forEach(r -> {
      List<String> order = new ArrayList<>();
      Matcher m = TEXT.matcher(r.messages().get(1).content());
      while (m.find()) {
        order.add(m.group(2));
      }
      again.add(order);
    });
    assertEquals(orders, again, "seeded: the same orders again");
    seen.clear();
    PairJudge.judge(judge, settings(PairJudge.Protocol.ULTRAFEEDBACK, false, false, 12), "p", "Name it.", cands);
    assertTrue(!seen.get(0).isChat() && seen.get(0).prompt().startsWith("You assess the quality"), "text: system text first");
    assertTrue(seen.get(0).prompt().endsWith("## Your annotation\n"));
  }

  @Test
  void ultraFeedbackAnswersThatCannotBeReadBecomeProblems() throws Exception {
    Function<GenerationRequest, GenerationResult> script = r -> {
      String p = r.messages().get(1).content();
      if (p.contains("Criterion: instruction following")) {
        return ok(r, "#### Output for Text 1\nRating: 4\nRationale: fine");
      }
      if (p.contains("Criterion: honesty")) {
        return GenerationResult.failed(r.id(), p, GenerationResult.ErrorKind.UNAVAILABLE, "503");
      }
      return ok(r, "Once upon a time, a little fox ran into the woods.");
    };
    PairJudge.Outcome o = PairJudge.judge(new ScriptedModel("bad", script), settings(PairJudge.Protocol.ULTRAFEEDBACK, true,
        false, 0), "p", "Q", List.of(cand("one"), cand("two")));
    assertEquals(2, o.unreadable());
    assertEquals(1, o.failures());
    assertEquals(List.of("partial", "failed", "unreadable", "unreadable"), o.problems().stream().map(m -> m.get("kind")).toList());
    assertEquals(List.of(2), o.problems().get(0).get("missing_texts"));
    long rated = o.candidates().stream().filter(c -> c.rank() != null).count();
    assertEquals(1, rated, "only the text whose block was read has a rating");
  }

  @Test
  void pairwiseJudgesEachPairInBothOrdersAndDisagreementIsATie() throws Exception {
    List<GenerationRequest> seen = new ArrayList<>();
    ScriptedModel judge = new ScriptedModel("pw", r -> {
      seen.add(r);
      String p = r.messages().get(1).content();
      String a = p.substring(p.indexOf("A's answer]\n") + 12, p.indexOf("\n[End of assistant A"));
      String b = p.substring(p.indexOf("B's answer]\n") + 12, p.indexOf("\n[End of assistant B"));
      Set<String> pair = Set.of(a, b);
      if (pair.equals(Set.of("good", "bad"))) {
        return ok(r, "The first is clearly better.\n[[" + (a.equals("good") ? "A" : "B") + "]]");
      }
      if (pair.equals(Set.of("good", "okay"))) {
        return ok(r, "I prefer whatever comes first. [[A]]");
      }
      if (pair.equals(Set.of("okay", "bad"))) {
        return ok(r, a.equals("okay") ? "Verdict: [[A]]" : "Hard to say. [[C]]");
      }
      return ok(r, "Once upon a time");
    });
    List<Candidate> cands = List.of(cand("good"), cand("okay"), cand("bad"));
    PairJudge.Outcome o = PairJudge.judge(judge, settings(PairJudge.Protocol.PAIRWISE, true, true, 5), "p", "Q", cands);
    assertEquals(6, seen.size(), "3 pairs x 2 orders");
    assertEquals("system", seen.get(0).messages().get(0).role());
    assertEquals(PairJudge.PAIRWISE_GRAMMAR, seen.get(0).params().grammar());
    PairJudge.Tournament t = o.tournament();
    assertEquals(List.of(0.75, 0.5, 0.25), t.winRates(), "good: a win and a tie; okay: two ties; bad: a loss and a tie");
    assertTrue(t.beats(0, 2));
    assertTrue(!t.beats(0, 1) && !t.beats(1, 0), "position bias: each order names its first answer, so a tie");
    assertTrue(!t.beats(1, 2), "a tie verdict in one order is a tie");
    assertEquals(new PairJudge.Game(0, 1, "A", "A", -1), t.game(1, 0));
    assertEquals(0, o.candidates().get(0).ratings().size(), "pairwise leaves ratings alone");
    assertEquals(0.75, ((Map<?, ?>) o.candidates().get(0).info().get("pairwise")).get("win_rate"));
    Binarize.Outcome b = Binarize.apply(Binarize.Strategy.BEST_VS_RANDOM, t.winRates(), 0, 5, "p", Binarize.Ties.KEEP_TOP,
        t::beats);
    assertEquals(List.of(new Binarize.Pick(0, 2, 0.5)), b.picks(), "the rejected lost to the chosen in both orders");

    ScriptedModel mute = new ScriptedModel("mute", r -> r.id().endsWith("/0-1")
        ? GenerationResult.failed(r.id(), "", GenerationResult.ErrorKind.REJECTED, "no") : ok(r, "Once upon a time"));
    PairJudge.Outcome none = PairJudge.judge(mute, settings(PairJudge.Protocol.PAIRWISE, false, false, 5), "p", "Q",
        cands.subList(0, 2));
    assertEquals(new PairJudge.Game(0, 1, null, null, -2), none.tournament().games().get(0));
    assertEquals(java.util.Arrays.asList(null, null), none.tournament().winRates(), "no result: unscored");
    assertEquals(1, none.failures());
    assertEquals(1, none.unreadable());
  }

  @Test
  void verdictsAreReadHoweverTheyAreWritten() {
    assertEquals("A", JudgeReplies.verdict("Assistant A is more accurate.\n[[A]]"));
    assertEquals("B", JudgeReplies.verdict("Output \"[[A]]\" if A is better... My verdict: [[B]]"), "the last one counts");
    assertEquals("C", JudgeReplies.verdict("[[C]]"));
    assertEquals("C", JudgeReplies.verdict("[[tie]]"));
    assertEquals("C", JudgeReplies.verdict("Final verdict: tie"));
    assertEquals("C", JudgeReplies.verdict("My verdict is a tie."));
    assertEquals("B", JudgeReplies.verdict("Verdict: assistant B"));
    assertNull(JudgeReplies.verdict("Once upon a time, a verdict was a thing."));
    assertNull(JudgeReplies.verdict("[[D]]"));
    assertNull(JudgeReplies.verdict(""));
    assertNull(JudgeReplies.verdict(null));
  }

  @Test
  void ultraFeedbackBlocksAreReadHoweverTheyAreWritten() {
    Map<Integer, JudgeReplies.Annotation> a = JudgeReplies.ultraFeedback("""
        #### Output for Text 2
        Type: 1, 3
        Rationale: invents a date
        Rating: 2
        Rationale: Severe hallucination.

        **Text 1**
        Rating: 5/5
        Rationale: No errors.

        #### Output for Text 3
        Rating: 9
        Rationale: out of scale

        #### Output for Text 4
        Rating: 3
        """, 3);
    assertEquals(Map.of(1, new JudgeReplies.Annotation(5.0, "No errors.", null),
        2, new JudgeReplies.Annotation(2.0, "Severe hallucination.", "1, 3")), a,
        "out-of-scale ratings and positions beyond the texts shown are left out");
    assertEquals(Map.of(1, new JudgeReplies.Annotation(null, "creative", null), 2, new JudgeReplies.Annotation(4.0, "ok", null)),
        JudgeReplies.ultraFeedback("Rating: N/A\nRationale: creative\n\nRating: 4\nRationale: ok", 2),
        "without headers, blocks split at blank lines, as the reference does");
    assertEquals(Map.of(), JudgeReplies.ultraFeedback("Rating: 4\nRationale: ok", 2), "one block for two texts: unreadable");
    assertEquals(Map.of(), JudgeReplies.ultraFeedback("Once upon a time", 2));
    assertEquals(Map.of(), JudgeReplies.ultraFeedback(null, 2));
    assertEquals(Map.of(1, new JudgeReplies.Annotation(3.0, "", null)),
        JudgeReplies.ultraFeedback("#### Output for Text 1\nRating: 3\n#### Output for Text 1\nRating: 5", 1),
        "a repeated text keeps its first block");
  }

  @Test
  void grammarsAndTemplates() throws Exception {
    String g = PairJudge.ultraFeedbackGrammar("honesty", 2);
    assertTrue(g.contains("#### Output for Text 1\\n") && g.contains("\\n\\n#### Output for Text 2\\n"), g);
    assertTrue(g.contains("\"N/A\""));
    assertTrue(!PairJudge.ultraFeedbackGrammar("instruction_following", 1).contains("Type"));
    assertTrue(PairJudge.ultraFeedbackGrammar("helpfulness", 1).contains("Type: "));
    assertEquals(5, PairJudge.templates(PairJudge.Protocol.ULTRAFEEDBACK, null).size());
    assertEquals(PairJudge.Protocol.PAIRWISE, PairJudge.Protocol.fromCode("pairwise"));
    assertThrows(IllegalArgumentException.class, () -> PairJudge.Protocol.fromCode("arena"));
    assertThrows(IllegalArgumentException.class, () -> new PairJudge.Settings(PairJudge.Protocol.PAIRWISE,
        PairJudge.templates(PairJudge.Protocol.ULTRAFEEDBACK, null), true, false, 0, 0), "the protocol's own templates");
    assertNotEquals(PairJudge.shuffled(List.of(0, 1, 2, 3, 4, 5), 1, "a"), PairJudge.shuffled(List.of(0, 1, 2, 3, 4, 5), 2, "a"));
  }
}
