package io.instructflow.pipelines.filter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.judge.JudgeRule;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.ChatmlModel;
import io.instructflow.pipelines.ScriptedEndpoint;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The llm_judge rule in the filter pipeline: a scripted judge for the decisions, the real engine for the plumbing. */
class JudgePipelineTest {
  static final Runner DIRECT = new Runner("direct", null);

  /** Scores by what the response says, as a judge would write them. */
  static String judge(String prompt) {
    String response = prompt.substring(prompt.indexOf("### Response:") + 13, prompt.indexOf("### Your rating"));
    if (response.contains("excellent")) {
      return " 5\nCorrect and complete.";
    }
    if (response.contains("good")) {
      return "Score: 4.5\nSmall slip.";
    }
    if (response.contains("poor")) {
      return "Score: 2\nMostly wrong.";
    }
    return "I am not able to rate this.";
  }

  static Path input(Path dir) throws Exception {
    StringBuilder b = new StringBuilder();
    String[][] rows = {
      {"Name a primary color.", "Red is an excellent example."},
      {"Name a planet.", "Mars, a good example."},
      {"Add 2 and 2.", "It is 5, a poor answer."},
      {"What is your opinion on art?", "As an AI language model, I do not have opinions."},
      {"Describe the sea.", "Blue and wide, weird."},
      {"Name a primary color.", "Red is an excellent example."}};
    for (String[] r : rows) {
      b.append(Json.line(Map.of("instruction", r[0], "output", r[1]))).append('\n');
    }
    b.append("{broken\n");
    Path in = dir.resolve("in.jsonl");
    Files.writeString(in, b.toString());
    return in;
  }

  static RunSummary run(Path in, Path out, FilterChain chain, ModelSpec spec) throws Exception {
    FilterPipeline.Config c = new FilterPipeline.Config(ReadOptions.of(in.toString()), out.toString(), chain, List.of(), null,
        100, DIRECT, FilterPipeline.Config.judging(spec, chain.judge(), null, 7, 2));
    return FilterPipeline.run(c, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
  }

  /** Scores in the paper rubric's shape (the score alone on the first line), by what the response says. */
  static String paperJudge(String prompt) {
    String response = prompt.substring(prompt.indexOf("Response: ") + 10, prompt.indexOf("\n\nRate the response"));
    if (response.contains("excellent")) {
      return "5\nThe response is accurate.";
    }
    if (response.contains("good")) {
      return "4.5\nAccurate, one small slip.";
    }
    if (response.contains("poor")) {
      return "2\nMostly inaccurate.";
    }
    return "The response is hard to rate.";
  }

  static JsonNode step(JsonNode rec, String name) {
    for (JsonNode s : rec.path("provenance").path("steps")) {
      if (s.path("name").asText().equals(name)) {
        return s;
      }
    }
    throw new AssertionError("no step " + name + " in " + rec);
  }

  @Test
  void keepsByScoreWithProvenanceAndARerunComesFromTheCache(@TempDir Path dir) throws Exception {
    FilterChain chain = FilterChain.parse("{\"name\":\"judged\",\"filters\":[{\"type\":\"refusal\"},"
        + "{\"type\":\"llm_judge\",\"threshold\":4.5},{\"type\":\"exact_dedup\"}]}", "t");
    Path in = input(dir);
    try (ScriptedEndpoint server = ScriptedEndpoint.start(JudgePipelineTest::judge)) {
      String cache = dir.resolve("cache").toString();
      RunSummary s = run(in, dir.resolve("a"), chain, ModelSpec.remote(server.url(), "scripted-judge", null, 2, cache));
      assertTrue(s.reconciled());
      assertEquals(new RunSummary.Counts(7, 2, 4, 1), s.counts());
      assertEquals(Map.of("filter", Map.of("refusal.phrase", 1L, "exact_dedup.duplicate", 1L),
          JudgeStage.STEP, Map.of(JudgeRule.BELOW, 1L, JudgeRule.NO_SCORE, 1L)), s.filtered());
      // the refusal is dropped before the judge; the duplicate is judged, then deduplicated. Its request is
      // the same as the first copy's, so it is served by the cache when that one finished first.
      Map<?, ?> m = (Map<?, ?>) s.metrics().get(JudgeStage.NAMESPACE);
      assertEquals(5L, m.get("requests"));
      assertEquals(0L, m.get("failures"));
      assertEquals(5L, server.served() + (Long) m.get("cache_hits"));
      assertEquals(server.served(), server.chatServed(), "an endpoint judge gets chat requests by default");
      assertTrue(server.served() >= 4, "only the duplicate can come from the cache");
      int served = server.served();

      OutputLayout a = new OutputLayout(dir.resolve("a").toString());
      List<String> kept = TestFiles.lines(a, OutputLayout.Kind.DATA);
      JsonNode first = Json.mapper().readTree(kept.get(0));
      assertEquals("Name a primary color.", first.path("instruction").asText());
      JsonNode meta = first.path("metadata").path("llm_judge");
      assertEquals(5.0, meta.path("score").asDouble());
      assertEquals(4.5, meta.path("threshold").asDouble());
      assertEquals("scripted-judge", meta.path("judge").asText());
      assertEquals(JudgeRule.DEFAULT_TEMPLATE, meta.path("template").asText());
      JsonNode st = step(first, JudgeStage.STEP);
      assertEquals("kept", st.path("verdict").path("outcome").asText());
      assertEquals("scripted-judge", st.path("model").path("id").asText());
      assertEquals(JudgeRule.DEFAULT_TEMPLATE, st.path("prompt").path("templateId").asText());
      assertTrue(st.path("seed").isNumber());
      assertEquals("filter", step(first, "filter").path("name").asText(), "kept records get the chain's step too");
      assertEquals(4.5, Json.mapper().readTree(kept.get(1)).path("metadata").path("llm_judge").path("score").asDouble(),
          "at the threshold: kept");

      List<String> filtered = TestFiles.lines(a, OutputLayout.Kind.FILTERED);
      JsonNode below = step(Json.mapper().readTree(filtered.get(0)), JudgeStage.STEP).path("verdict");
      assertEquals(JudgeRule.BELOW, below.path("reason").asText());
      assertEquals(2.0, below.path("details").path("score").asDouble());
      assertEquals("Score: 2\nMostly wrong.", below.path("details").path("reply").asText());
      List<Map<String, Object>> ex = s.filteredExamples().get(JudgeStage.STEP).get(JudgeRule.NO_SCORE);
      assertEquals("Describe the sea.", ex.get(0).get("text"));

      RunSummary again = run(in, dir.resolve("b"), chain, ModelSpec.remote(server.url(), "scripted-judge", null, 2, cache));
      assertEquals(served, server.served(), "the rerun made no request");
      assertEquals(5L, ((Map<?, ?>) again.metrics().get(JudgeStage.NAMESPACE)).get("cache_hits"));
      OutputLayout b = new OutputLayout(dir.resolve("b").toString());
      for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
        assertEquals(TestFiles.fingerprint(a, k), TestFiles.fingerprint(b, k), k.toString());
      }
    }
  }

  @Test
  void aChainWithAJudgeNeedsAModelAndAModelNeedsAJudge() {
    FilterChain judged = FilterChain.parse("{\"filters\":[{\"type\":\"llm_judge\"}]}", "t");
    assertThrows(IllegalArgumentException.class, () -> new FilterPipeline.Config(ReadOptions.of("x"), "o", judged, List.of(),
        null, 10, DIRECT));
    assertThrows(IllegalArgumentException.class, () -> new FilterPipeline.Config(ReadOptions.of("x"), "o",
        FilterChain.preset("sft-default"), List.of(), null, 10, DIRECT, FilterPipeline.Config.judging(
            ModelSpec.remote("http://127.0.0.1:9/v1", "m", null, 1, null), PromptTemplate.load(JudgeRule.DEFAULT_TEMPLATE, null),
            0, 4)));
    assertThrows(IllegalArgumentException.class, () -> FilterPipeline.Config.judging(
        ModelSpec.remote("http://127.0.0.1:9/v1", "m", null, 1, null),
        new PromptTemplate("judge/mine@1", "Rate {{instruction}} only.", "test"), 0, 4), "the rubric must use all three fields");
  }

  /** The real engine as judge: the toy model writes stories, not scores, but every record is judged and accounted for. */
  @Test
  void realEngineJudgesEveryRecordWithItsProvenance(@TempDir Path dir) throws Exception {
    Path model = TestFiles.sharedData().resolve("../models/stories260K.gguf").normalize();
    assumeTrue(Files.isRegularFile(model), "no shared model");
    FilterChain chain = FilterChain.parse("{\"filters\":[{\"type\":\"refusal\"},{\"type\":\"llm_judge\",\"maxTokens\":24}]}", "t");
    Path in = input(dir);
    String cache = dir.resolve("cache").toString();
    ModelSpec spec = ModelSpec.local(model.toString(), 2, 0, 0, 0, false, cache);
    RunSummary s = run(in, dir.resolve("a"), chain, spec);
    assertTrue(s.reconciled());
    assertEquals(7, s.counts().read());
    assertEquals(1, s.counts().rejected(), "the broken line");
    assertEquals(5L, ((Map<?, ?>) s.metrics().get(JudgeStage.NAMESPACE)).get("requests"));
    OutputLayout a = new OutputLayout(dir.resolve("a").toString());
    String sha = Ids.sha256Hex(Files.readAllBytes(model));
    List<String> judgedLines = new ArrayList<>(TestFiles.lines(a, OutputLayout.Kind.DATA));
    for (String l : TestFiles.lines(a, OutputLayout.Kind.FILTERED)) {
      JsonNode r = Json.mapper().readTree(l);
      if (!r.path("instruction").asText().startsWith("What is your opinion")) {
        judgedLines.add(l);
      }
    }
    assertEquals(5, judgedLines.size());
    for (String l : judgedLines) {
      JsonNode st = step(Json.mapper().readTree(l), JudgeStage.STEP);
      assertEquals(sha, st.path("model").path("sha256").asText());
      assertEquals(JudgeRule.DEFAULT_TEMPLATE, st.path("prompt").path("templateId").asText());
      String outcome = st.path("verdict").path("outcome").asText();
      assertTrue(outcome.equals("kept") || Set.of(JudgeRule.BELOW, JudgeRule.NO_SCORE).contains(
          st.path("verdict").path("reason").asText()), st.toString());
    }
    RunSummary again = run(in, dir.resolve("b"), chain, ModelSpec.local(model.toString(), 1, 0, 0, 0, false, cache));
    assertEquals(5L, ((Map<?, ?>) again.metrics().get(JudgeStage.NAMESPACE)).get("cache_hits"));
    assertEquals(TestFiles.fingerprint(a, OutputLayout.Kind.FILTERED),
        TestFiles.fingerprint(new OutputLayout(dir.resolve("b").toString()), OutputLayout.Kind.FILTERED));
  }

  /**
   * The paper's rubric (accuracy of the response, 0 to 5, the score alone on the first line, a system
   * message) in chat, the default for an endpoint; {@code "chat": false} forces text.
   */
  @Test
  void thePapersRubricInChatByDefaultAndTextWhenAsked(@TempDir Path dir) throws Exception {
    Path in = input(dir);
    List<String> prompts = new ArrayList<>();
    try (ScriptedEndpoint server = ScriptedEndpoint.start(p -> {
      synchronized (prompts) {
        prompts.add(p);
      }
      return paperJudge(p);
    })) {
      FilterChain chain = FilterChain.parse("{\"filters\":[{\"type\":\"refusal\"},{\"type\":\"llm_judge\",\"rubric\":\"paper\"},"
          + "{\"type\":\"exact_dedup\"}]}", "t");
      RunSummary s = run(in, dir.resolve("chat"), chain, ModelSpec.remote(server.url(), "paper-judge", null, 2, null));
      assertTrue(s.reconciled());
      assertEquals(new RunSummary.Counts(7, 2, 4, 1), s.counts(), "the same decisions as the anchored rubric's on this input");
      assertEquals(server.served(), server.chatServed());
      assertTrue(prompts.get(0).startsWith("We would like your feedback"), "the system message comes first");
      assertTrue(prompts.get(0).contains("Rate the response for its accuracy"));
      JsonNode first = Json.mapper().readTree(TestFiles.lines(new OutputLayout(dir.resolve("chat").toString()),
          OutputLayout.Kind.DATA).get(0));
      JsonNode st = step(first, JudgeStage.STEP);
      assertEquals("paper", st.path("parameters").path("rubric").asText());
      assertTrue(st.path("parameters").path("chat").asBoolean());
      assertEquals("auto", st.path("parameters").path("format").asText());
      assertEquals(JudgeRule.PAPER_TEMPLATE, st.path("prompt").path("templateId").asText());
      assertEquals(5.0, first.path("metadata").path("llm_judge").path("score").asDouble());
      assertEquals("paper", first.path("metadata").path("llm_judge").path("rubric").asText());

      int chats = server.chatServed();
      FilterChain text = FilterChain.parse("{\"filters\":[{\"type\":\"refusal\"},{\"type\":\"llm_judge\",\"rubric\":\"paper\","
          + "\"chat\":false},{\"type\":\"exact_dedup\"}]}", "t");
      RunSummary t = run(in, dir.resolve("text"), text, ModelSpec.remote(server.url(), "paper-judge", null, 2, null));
      assertEquals(s.counts(), t.counts());
      assertEquals(chats, server.chatServed(), "chat: false sends text");
      assertTrue(server.served() > chats);
    }
  }

  /**
   * The real engine: the ChatML copy of the toy gets chat requests by default (the GGUF has a chat
   * template), the plain toy gets text; both rubrics' grammars hold the toy to a score.
   */
  @Test
  void realEngineChatTemplatedJudgeGetsChat(@TempDir Path dir) throws Exception {
    Path model = TestFiles.sharedData().resolve("../models/stories260K.gguf").normalize();
    assumeTrue(Files.isRegularFile(model), "no shared model");
    Path chatml = ChatmlModel.write(dir.resolve("stories-chatml.gguf"));
    Path in = input(dir);
    for (String rubric : List.of("anchored", "paper")) {
      FilterChain chain = FilterChain.parse("{\"filters\":[{\"type\":\"refusal\"},{\"type\":\"llm_judge\",\"maxTokens\":24,"
          + "\"rubric\":\"" + rubric + "\"}]}", "t");
      for (Path m : List.of(chatml, model)) {
        Path out = dir.resolve(rubric + "-" + m.getFileName());
        RunSummary s = run(in, out, chain, ModelSpec.local(m.toString(), 2, 2048, 0, 0, false, null));
        assertTrue(s.reconciled());
        assertEquals(0L, ((Map<?, ?>) s.metrics().get(JudgeStage.NAMESPACE)).get("failures"), rubric + " " + m);
        OutputLayout o = new OutputLayout(out.toString());
        List<String> judged = new ArrayList<>(TestFiles.lines(o, OutputLayout.Kind.DATA));
        for (String l : TestFiles.lines(o, OutputLayout.Kind.FILTERED)) {
          if (!Json.mapper().readTree(l).path("instruction").asText().startsWith("What is your opinion")) {
            judged.add(l);
          }
        }
        assertEquals(5, judged.size());
        for (String l : judged) {
          JsonNode st = step(Json.mapper().readTree(l), JudgeStage.STEP);
          assertEquals(m.equals(chatml), st.path("parameters").path("chat").asBoolean(), l);
          assertTrue(!JudgeRule.NO_SCORE.equals(st.path("verdict").path("reason").asText()), "the grammar gives a score: " + l);
        }
      }
    }
  }
}
