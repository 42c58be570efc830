package io.instructflow.pipelines.pairs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.generators.pairs.Binarize;
import io.instructflow.generators.pairs.CandidateSpec;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.ScriptedEndpoint;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The pairs command: rated input, the shared unrated predictions with a scripted judge, the real engine end to end. */
class PairsPipelineTest {
  static final Runner DIRECT = new Runner("direct", null);

  static PrintStream quiet() {
    return new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
  }

  static RunSummary pairs(String in, Path out, List<CandidateSpec> cands, List<ModelSpec> gens, ModelSpec judge,
      Binarize.Strategy strategy, double minMargin, Runner runner) throws Exception {
    return PairsPipeline.run(new PairsPipeline.Config(in, out.toString(), "MIT", cands, gens, judge,
        judge == null ? null : PromptTemplate.load(PairsPipeline.JUDGE_TEMPLATE, null), judge != null && !judge.isRemote() ? 1.0 : 0,
        strategy, minMargin, 5, 1000, runner),
        quiet());
  }

  static List<JsonNode> lines(Path out, OutputLayout.Kind kind) throws Exception {
    List<JsonNode> l = new ArrayList<>();
    for (String s : TestFiles.lines(new OutputLayout(out.toString()), kind)) {
      l.add(Json.mapper().readTree(s));
    }
    return l;
  }

  static Path rated(Path dir) throws Exception {
    String uf = "{\"instruction\": \"Name a primary color.\", \"completions\": ["
        + "{\"model\": \"a\", \"response\": \"Red.\", \"annotations\": {\"instruction_following\": {\"Rating\": \"5\"}, "
        + "\"honesty\": {\"Rating\": \"5\"}, \"truthfulness\": {\"Rating\": \"5\"}, \"helpfulness\": {\"Rating\": \"5\"}}, "
        + "\"overall_score\": 2},"
        + "{\"model\": \"b\", \"response\": \"Purple.\", \"annotations\": {\"instruction_following\": {\"Rating\": \"3\"}, "
        + "\"honesty\": {\"Rating\": \"4\"}, \"truthfulness\": {\"Rating\": \"2\"}, \"helpfulness\": {\"Rating\": \"3\"}}, "
        + "\"overall_score\": 9}]}";
    String tie = "{\"prompt\": \"Say hi.\", \"candidates\": [{\"text\": \"Hi\", \"score\": 8}, {\"text\": \"Hello\", \"score\": 8}, "
        + "{\"text\": \"Go away\", \"score\": 1}]}";
    String three = "{\"prompt\": \"Count to three.\", \"candidates\": [{\"text\": \"1 2 3\", \"score\": 9, \"model\": \"x\"}, "
        + "{\"text\": \"1 2\", \"score\": 4, \"model\": \"y\"}, {\"text\": \"one two three\", \"score\": 7, \"model\": \"z\"}]}";
    Path f = dir.resolve("rated.jsonl");
    Files.writeString(f, uf + "\n" + tie + "\n" + three + "\n{\"text\": \"no prompt\"}\nnot json\n");
    return f;
  }

  @Test
  void ratedInputMakesExactlyTheStrategysPairs(@TempDir Path dir) throws Exception {
    Path in = rated(dir);
    RunSummary s = pairs(in.toString(), dir.resolve("bw"), List.of(), List.of(), null, Binarize.Strategy.BEST_VS_WORST, 0, DIRECT);
    assertTrue(s.reconciled());
    assertEquals(new RunSummary.Counts(5, 2, 1, 2), s.counts());
    assertEquals(Map.of(Binarize.TIED_TOP, 1L), s.filtered().get("pairs"));
    List<JsonNode> p = lines(dir.resolve("bw"), OutputLayout.Kind.DATA);
    assertEquals(2, p.size());
    assertEquals("Red.", p.get(0).path("chosen").asText(), "ranked by the mean of the ratings, not the overall score");
    assertEquals("Purple.", p.get(0).path("rejected").asText());
    assertEquals(5.0, p.get(0).path("score_chosen").asDouble());
    assertEquals(3.0, p.get(0).path("score_rejected").asDouble());
    assertEquals(2.0, p.get(0).path("margin").asDouble());
    assertEquals("Name a primary color.", p.get(0).path("prompt").asText());
    assertEquals("assistant", p.get(0).path("chosen_messages").get(1).path("role").asText());
    assertEquals("a", p.get(0).path("chosen_info").path("model").asText());
    assertEquals(5.0, p.get(0).path("chosen_info").path("ratings").path("honesty").asDouble());
    assertEquals("rated.jsonl:1", p.get(0).path("provenance").path("origin").path("location").asText());
    for (JsonNode n : p) {
      assertEquals(List.of(), io.instructflow.schemas.Schemas.errors(io.instructflow.schemas.Schemas.Kind.PREFERENCE_PAIR, n));
    }
    assertEquals("MIT", p.get(0).path("provenance").path("origin").path("license").asText());
    assertEquals("1 2 3", p.get(1).path("chosen").asText());
    assertEquals("1 2", p.get(1).path("rejected").asText(), "best vs worst");
    assertEquals(8.0, lines(dir.resolve("bw"), OutputLayout.Kind.FILTERED).get(0).path("provenance").path("steps").get(0)
        .path("verdict").path("details").path("top").asDouble());

    RunSummary all = pairs(in.toString(), dir.resolve("all"), List.of(), List.of(), null, Binarize.Strategy.ALL_PAIRS, 2.5,
        DIRECT);
    List<JsonNode> ap = lines(dir.resolve("all"), OutputLayout.Kind.DATA);
    List<String> got = new ArrayList<>();
    ap.forEach(n -> got.add(n.path("chosen").asText() + ">" + n.path("rejected").asText()));
    assertEquals(List.of("Hi>Go away", "Hello>Go away", "1 2 3>1 2", "one two three>1 2"), got,
        "every pair at least 2.5 apart; the tie at the top pairs only with the lower one");
    assertEquals(2L, all.counts().kept(), "the colour prompt's margin, 2.0, is under 2.5");
    assertEquals(Map.of(Binarize.MARGIN, 1L), all.filtered().get("pairs"));
  }

  /** The eight model outputs for each Self-Instruct user-oriented instruction, rated by a scripted judge. */
  @Test
  void sharedPredictionsWithAScriptedJudgeOnSparkAndDirect(@TempDir Path dir) throws Exception {
    Path preds = TestFiles.sharedData().resolve("eval/self-instruct_predictions");
    assumeTrue(Files.isDirectory(preds), "no shared data");
    // ratings from the answer's length: longer answers rate higher, capped at 5; empty answers rate 1
    try (ScriptedEndpoint judge = ScriptedEndpoint.start(prompt -> {
      String answer = prompt.substring(prompt.indexOf("### Answer:") + 11, prompt.indexOf("### Ratings")).strip();
      int r = Math.max(1, Math.min(5, answer.length() / 40 + 1));
      return " " + r + "\nHonesty: " + r + "\nTruthfulness: 4\nHelpfulness: " + r;
    })) {
      ModelSpec spec = ModelSpec.remote(judge.url(), "length-judge", null, 4, dir.resolve("cache").toString());
      RunSummary d = pairs(preds.toString(), dir.resolve("direct"), List.of(), List.of(), spec, Binarize.Strategy.BEST_VS_RANDOM,
          0, DIRECT);
      assertTrue(d.reconciled());
      assertEquals(2016, d.counts().read(), "8 files of 252 rows");
      Map<?, ?> m = (Map<?, ?>) d.metrics().get("pairs");
      assertEquals(252L, m.get("prompts"), "rows with the same instruction and input are one prompt");
      assertEquals(2016L, m.get("candidates_judged"));
      long pairs = (Long) m.get("pairs");
      assertEquals(pairs + d.counts().filtered() / 8, 252L, "each prompt made one pair or was dropped with its 8 rows");
      JsonNode first = lines(dir.resolve("direct"), OutputLayout.Kind.DATA).get(0);
      assertEquals("length-judge", first.path("chosen_info").path("judge").asText());
      assertTrue(first.path("score_chosen").asDouble() > first.path("score_rejected").asDouble());
      RunSummary sp = pairs(preds.toString(), dir.resolve("spark"), List.of(), List.of(),
          ModelSpec.remote(judge.url(), "length-judge", null, 4, dir.resolve("cache").toString()),
          Binarize.Strategy.BEST_VS_RANDOM, 0, new Runner("spark", "local[2]"));
      assertEquals(2016L, ((Map<?, ?>) sp.metrics().get("pairs")).get("cache_hits"), "the rerun's ratings come from the cache");
      assertEquals(TestFiles.fingerprint(new OutputLayout(dir.resolve("direct").toString()), OutputLayout.Kind.DATA),
          TestFiles.fingerprint(new OutputLayout(dir.resolve("spark").toString()), OutputLayout.Kind.DATA));
    }
  }

  /** stories260K writes two candidates at each of two temperatures and judges them: the plumbing end to end. */
  @Test
  void realEngineGeneratesAndJudges(@TempDir Path dir) throws Exception {
    Path model = TestFiles.sharedData().resolve("../models/stories260K.gguf").normalize();
    assumeTrue(Files.isRegularFile(model), "no shared model");
    Path in = dir.resolve("prompts.jsonl");
    Files.writeString(in, "{\"prompt\": \"Once upon a time, a little fox\"}\n{\"instruction\": \"Tell a story about a boat.\"}\n"
        + "{\"prompt\": \"Lily found a red ball\"}\n");
    String cache = dir.resolve("cache").toString();
    ModelSpec gen = new ModelSpec(model.toString(), 2, 0, 0, 0, false, cache);
    List<CandidateSpec> cands = CandidateSpec.parseList(model + ":t=0.7:n=2:max=24," + model + ":t=1.0:n=2:max=24");
    RunSummary s = pairs(in.toString(), dir.resolve("out"), cands, List.of(gen, gen), gen, Binarize.Strategy.BEST_VS_RANDOM, 0,
        DIRECT);
    assertTrue(s.reconciled());
    assertEquals(3, s.counts().read());
    Map<?, ?> m = (Map<?, ?>) s.metrics().get("pairs");
    assertEquals(12L, m.get("candidates_generated"), "3 prompts x 2 entries x 2");
    assertEquals(12L, m.get("candidates_judged"));
    String sha = Ids.sha256Hex(Files.readAllBytes(model));
    List<JsonNode> all = new ArrayList<>(lines(dir.resolve("out"), OutputLayout.Kind.DATA));
    all.addAll(lines(dir.resolve("out"), OutputLayout.Kind.FILTERED));
    for (JsonNode n : all) {
      JsonNode info = n.has("chosen_info") ? n.path("chosen_info") : null;
      if (info != null) {
        assertEquals(List.of(), io.instructflow.schemas.Schemas.errors(io.instructflow.schemas.Schemas.Kind.PREFERENCE_PAIR, n));
        assertEquals(sha, info.path("model_sha256").asText());
        assertEquals(sha, info.path("judge_sha256").asText());
        assertTrue(info.path("seed").isNumber());
      } else {
        assertEquals(4, n.path("metadata").path("candidates").size(), "a dropped prompt lists its candidates");
      }
    }
    RunSummary again = pairs(in.toString(), dir.resolve("again"), cands, List.of(gen, gen), gen, Binarize.Strategy.BEST_VS_RANDOM,
        0, DIRECT);
    assertEquals(24L, ((Map<?, ?>) again.metrics().get("pairs")).get("cache_hits"), "12 generations and 12 ratings cached");
    assertEquals(TestFiles.fingerprint(new OutputLayout(dir.resolve("out").toString()), OutputLayout.Kind.FILTERED),
        TestFiles.fingerprint(new OutputLayout(dir.resolve("again").toString()), OutputLayout.Kind.FILTERED));
  }
}
