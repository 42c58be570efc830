package io.instructflow.generators.score;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.llama.TestModels;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.RejectReason;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * IFD and the Deita-style expectation (issue 22, items 2 and 3): the formulas on a scripted model whose
 * log-probabilities are known, the turn each score reads, the failures, and on the real stories260K engine
 * the stored values equal a direct computation from {@link LanguageModel#score}.
 */
class RecordScorerTest {
  /** A model that answers score requests with a script and serves nothing else. */
  record ScriptedScorer(Function<ScoreRequest, ScoreResult> script, List<ScoreRequest> seen) implements LanguageModel {
    ScriptedScorer(Function<ScoreRequest, ScoreResult> script) {
      this(script, new ArrayList<>());
    }

    @Override
    public ModelRef ref() {
      return new ModelRef("scripted-scorer", null, "scripted");
    }

    @Override
    public List<GenerationResult> generate(List<GenerationRequest> batch) {
      throw new UnsupportedOperationException("scores only");
    }

    @Override
    public List<ScoreResult> score(List<ScoreRequest> batch) {
      List<ScoreResult> out = new ArrayList<>();
      for (ScoreRequest r : batch) {
        seen.add(r);
        out.add(script.apply(r));
      }
      return out;
    }
  }

  static ScoreResult tokens(String id, double... logprobs) {
    List<ScoreResult.TokenLogprob> t = new ArrayList<>();
    for (double lp : logprobs) {
      t.add(new ScoreResult.TokenLogprob("t", new byte[] {'t'}, lp, List.of()));
    }
    return ScoreResult.ok(id, 3, t);
  }

  static Example single(String instruction, String input, String output) {
    return Example.single(instruction, input, output, Map.of(), prov("t.jsonl:1"));
  }

  static Provenance prov(String location) {
    return new Provenance(new Origin("test", "unknown", location, null, "alpaca", null), List.of());
  }

  static RecordScorer.Settings settings(boolean chat, RecordScorer.Kind... kinds) throws Exception {
    return RecordScorer.Settings.of(List.of(kinds), chat, null);
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> score(Example scored, String name) {
    return (Map<String, Object>) ((Map<String, Object>) scored.metadata().get("scores")).get(name);
  }

  @Test
  void ifdIsTheRatioOfThePerplexitiesOfTheResponseWithAndWithoutItsInstruction() throws Exception {
    // with the instruction: tokens at -1 and -2 (mean 1.5); alone: -3 and -3 (mean 3)
    ScriptedScorer m = new ScriptedScorer(r -> r.prompt() != null && r.prompt().isEmpty()
        ? tokens(r.id(), -3, -3) : tokens(r.id(), -1, -2));
    Example e = single("Name a colour.", "天空", "Blue.");
    List<RecordScorer.Outcome> out = RecordScorer.score(m, settings(false, RecordScorer.Kind.IFD), List.of(e));
    RecordScorer.Outcome.Scored s = assertInstanceOf(RecordScorer.Outcome.Scored.class, out.get(0));
    Map<String, Object> ifd = score(s.record(), "ifd");
    assertEquals(RecordScorer.round(Math.exp(1.5) / Math.exp(3)), (double) ifd.get("value"), 0);
    assertEquals(RecordScorer.round(Math.exp(1.5)), (double) ifd.get("pplConditioned"), 0);
    assertEquals(RecordScorer.round(Math.exp(3)), (double) ifd.get("pplAlone"), 0);
    assertEquals(2, ifd.get("responseTokens"));
    assertEquals("text", ifd.get("format"));
    assertEquals(Ifd.TEMPLATE_ID, ifd.get("template"));
    assertEquals(Map.of("id", "scripted-scorer", "backend", "scripted"), ifd.get("model"));
    // the text context: instruction, blank line, input, blank line; the alone request has an empty prompt
    assertEquals(2, m.seen().size());
    assertEquals("Name a colour.\n\n天空\n\n", m.seen().get(0).prompt());
    assertEquals("Blue.", m.seen().get(0).continuation());
    assertEquals("", m.seen().get(1).prompt());
    assertEquals("Blue.", m.seen().get(1).continuation());
  }

  @Test
  void deitaScoreIsTheExpectedRatingOverTheSixRenormalizedAnswers() throws Exception {
    // log-probabilities of " 1".." 6": the direct formula written out
    double[] lp = {-4, -3, -1, -0.5, -2, -6};
    double z = 0;
    for (double x : lp) {
      z += Math.exp(x);
    }
    double expected = 0;
    for (int i = 0; i < 6; i++) {
      expected += Math.exp(lp[i]) / z * (i + 1);
    }
    assertEquals(expected, DeitaScore.expectation(lp), 1e-12);
    ScriptedScorer m = new ScriptedScorer(r -> {
      int rating = Integer.parseInt(r.continuation().strip());
      return tokens(r.id(), lp[rating - 1]);
    });
    Example e = single("Prove that there are infinitely many primes.", null, "Suppose finitely many...");
    RecordScorer.Settings s = settings(false, RecordScorer.Kind.COMPLEXITY, RecordScorer.Kind.QUALITY);
    RecordScorer.Outcome.Scored out = assertInstanceOf(RecordScorer.Outcome.Scored.class,
        RecordScorer.score(m, s, List.of(e)).get(0));
    for (String name : List.of("complexity", "quality")) {
      Map<String, Object> v = score(out.record(), name);
      assertEquals(RecordScorer.round(expected), (double) v.get("value"), 0, name);
      assertEquals(PromptTemplate.load("score/deita-" + name + "@1", null).hash(), v.get("templateHash"));
      assertEquals(6, ((List<?>) v.get("probabilities")).size());
    }
    // six requests per score, ratings 1..6 after one prompt that ends the template
    assertEquals(12, m.seen().size());
    for (int i = 0; i < 6; i++) {
      assertEquals(" " + (i + 1), m.seen().get(i).continuation());
      assertEquals(m.seen().get(0).prompt(), m.seen().get(i).prompt());
    }
    assertTrue(m.seen().get(0).prompt().contains("Prove that there are infinitely many primes."));
    assertTrue(m.seen().get(6).prompt().contains("Suppose finitely many..."));
    // one certain answer gives its rating
    assertEquals(2.0, DeitaScore.expectation(new double[] {-800, 0, -800, -800, -800, -800}), 1e-12);
  }

  @Test
  void chatRecordsScoreTheLastAssistantTurnAfterTheTurnsBeforeIt() throws Exception {
    ScriptedScorer m = new ScriptedScorer(r -> tokens(r.id(), -1));
    List<Message> turns = List.of(new Message("system", "Be brief."), new Message("user", "你好"),
        new Message("assistant", "你好！"), new Message("user", "What is 2+2?"), new Message("assistant", "4"));
    Example e = Example.chat(turns, Map.of(), prov("t.jsonl:2"));
    RecordScorer.score(m, settings(true, RecordScorer.Kind.IFD, RecordScorer.Kind.QUALITY), List.of(e));
    assertEquals(turns.subList(0, 4), m.seen().get(0).messages());
    assertEquals("4", m.seen().get(0).continuation());
    assertEquals("", m.seen().get(1).prompt());
    // quality in chat: the rendered template as the user turn, the answers "1".."6" open the reply
    ScoreRequest q = m.seen().get(2);
    assertTrue(q.isChat());
    assertEquals("1", q.continuation());
    assertTrue(q.messages().get(0).content().contains("What is 2+2?"));
    assertTrue(q.messages().get(0).content().contains("### Response:\n4"));
    // text format: the turns' contents joined by blank lines
    ScoredTurn t = ScoredTurn.of(e);
    assertEquals("Be brief.\n\n你好\n\n你好！\n\nWhat is 2+2?", t.contextText());
  }

  @Test
  void recordsThatCannotBeScoredFailWithTheirReason() throws Exception {
    ScriptedScorer m = new ScriptedScorer(r -> r.continuation().contains("long")
        ? ScoreResult.failed(r.id(), ErrorKind.PROMPT_TOO_LONG, "prompt of 300 tokens does not fit 256")
        : tokens(r.id(), -1));
    Example noOutput = single("Write a poem.", null, null);
    Example tooLong = single("Say it.", null, "long answer");
    Example ok = single("Say hi.", null, "hi");
    Example onlyUser = Example.chat(List.of(new Message("user", "hi")), Map.of(),
        prov("t.jsonl:3"));
    List<RecordScorer.Outcome> out = RecordScorer.score(m, settings(false, RecordScorer.Kind.IFD),
        List.of(noOutput, tooLong, ok, onlyUser));
    RecordScorer.Outcome.Failed f0 = assertInstanceOf(RecordScorer.Outcome.Failed.class, out.get(0));
    assertEquals(RejectReason.MISSING_FIELD, f0.reason());
    assertEquals("ifd need a response, and the record has no output", f0.message());
    assertEquals(0, f0.requests());
    RecordScorer.Outcome.Failed f1 = assertInstanceOf(RecordScorer.Outcome.Failed.class, out.get(1));
    assertEquals(RejectReason.PROMPT_TOO_LONG, f1.reason());
    assertTrue(f1.message().startsWith("ifd: prompt of 300 tokens"), f1.message());
    assertInstanceOf(RecordScorer.Outcome.Scored.class, out.get(2));
    assertEquals(RejectReason.MISSING_FIELD, ((RecordScorer.Outcome.Failed) out.get(3)).reason());
    assertEquals(4, m.seen().size(), "no request for a record without a response");
    // complexity needs no response
    List<RecordScorer.Outcome> c = RecordScorer.score(m, settings(false, RecordScorer.Kind.COMPLEXITY), List.of(noOutput));
    assertInstanceOf(RecordScorer.Outcome.Scored.class, c.get(0));
    // scores already stored under other names stay
    Example rescored = ((RecordScorer.Outcome.Scored) c.get(0)).record();
    Example both = ((RecordScorer.Outcome.Scored) RecordScorer.score(m, settings(false, RecordScorer.Kind.IFD),
        List.of(single("Write a poem.", null, "Roses.").withMetadata("scores", rescored.metadata().get("scores"))))
        .get(0)).record();
    assertEquals(List.of("complexity", "ifd"), new ArrayList<>(((Map<?, ?>) both.metadata().get("scores")).keySet()));
    assertThrows(IllegalArgumentException.class, () -> RecordScorer.Settings.of(List.of(), false, null));
    assertThrows(IllegalArgumentException.class, () -> RecordScorer.Kind.parse("perplexity"));
  }

  @Test
  void onTheRealEngineTheStoredScoresEqualADirectComputation() throws Exception {
    LlamaCppModel model = LlamaCppModel.shared(LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(512)
        .withThreads(1).withParallel(2));
    Example en = single("Tell a story about a cat.", null, "Once upon a time, there was a cat named Tom. He liked to play.");
    Example zh = single("讲一个故事。", "小狗", "Lily saw a little dog. 小狗很开心。They played in the park.");
    RecordScorer.Settings s = settings(false, RecordScorer.Kind.IFD, RecordScorer.Kind.COMPLEXITY,
        RecordScorer.Kind.QUALITY);
    List<RecordScorer.Outcome> out = RecordScorer.score(model, s, List.of(en, zh));
    for (int i = 0; i < 2; i++) {
      Example e = List.of(en, zh).get(i);
      Example scored = assertInstanceOf(RecordScorer.Outcome.Scored.class, out.get(i)).record();
      // IFD by hand: each request scored alone, exp of the mean negative log-probability, divided
      ScoreResult c = model.score(List.of(ScoreRequest.text("c", ScoredTurn.of(e).contextText() + "\n\n",
          e.output()))).get(0);
      ScoreResult a = model.score(List.of(ScoreRequest.text("a", "", e.output()))).get(0);
      double direct = Math.exp(-c.logprob() / c.tokens().size()) / Math.exp(-a.logprob() / a.tokens().size());
      assertEquals(direct, (double) score(scored, "ifd").get("value"), 1e-4, e.instruction());
      assertEquals(a.tokens().size(), score(scored, "ifd").get("responseTokens"));
      // the Deita expectation by hand, from the six answers scored one at a time
      PromptTemplate qt = s.quality();
      String prompt = qt.render(Map.of("instruction", ScoredTurn.of(e).instruction(), "output", e.output()));
      double[] lp = new double[6];
      for (int k = 0; k < 6; k++) {
        lp[k] = model.score(List.of(ScoreRequest.text("q" + k, prompt, " " + (k + 1)))).get(0).logprob();
      }
      double q = (double) score(scored, "quality").get("value");
      assertEquals(DeitaScore.expectation(lp), q, 1e-4);
      assertTrue(q >= 1 && q <= 6, "quality " + q);
      double cx = (double) score(scored, "complexity").get("value");
      assertTrue(cx >= 1 && cx <= 6, "complexity " + cx);
      assertEquals(model.ref().sha256(), ((Map<?, ?>) score(scored, "ifd").get("model")).get("sha256"));
    }
    // a call's log-probabilities do not depend on the calls before it (each starts with no prefix held):
    // the same batch after another one that shares the rubric's prefix gives the same bits
    List<ScoreRequest> a = DeitaScore.requests("a", s.quality(), Map.of("instruction", en.instruction(),
        "output", en.output()), false);
    List<ScoreRequest> b = DeitaScore.requests("b", s.quality(), Map.of("instruction", zh.instruction(),
        "output", zh.output()), false);
    List<ScoreResult> first = model.score(a);
    model.score(b);
    List<ScoreResult> second = model.score(a);
    for (int i = 0; i < a.size(); i++) {
      for (int k = 0; k < first.get(i).tokens().size(); k++) {
        assertEquals(first.get(i).tokens().get(k).logprob(), second.get(i).tokens().get(k).logprob(), 0.0, "answer " + i);
      }
    }
    // deterministic: the same batch again gives the same stored scores
    List<RecordScorer.Outcome> again = RecordScorer.score(model, s, List.of(en, zh));
    for (int i = 0; i < 2; i++) {
      assertEquals(((RecordScorer.Outcome.Scored) out.get(i)).scores(), ((RecordScorer.Outcome.Scored) again.get(i)).scores());
    }
  }
}
