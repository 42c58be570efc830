package io.instructflow.pipelines.pairs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.generators.pairs.Binarize;
import io.instructflow.generators.pairs.CandidateSpec;
import io.instructflow.generators.pairs.PairJudge;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.ChatmlModel;
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

/**
 * The pairs command: rated input in both ties modes, the shared unrated predictions with a scripted judge,
 * every judge protocol through the real engine (text and chat), and judge answers that cannot be used.
 */
class PairsPipelineTest {
  static final Runner DIRECT = new Runner("direct", null);

  static PrintStream quiet() {
    return new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
  }

  static RunSummary pairs(String in, Path out, List<CandidateSpec> cands, List<ModelSpec> gens, ModelSpec judge,
      Binarize.Strategy strategy, double minMargin, Runner runner) throws Exception {
    return pairs(in, out, cands, gens, judge, PairJudge.Protocol.PER_CANDIDATE, PromptFormat.AUTO, strategy, Binarize.Ties.KEEP_TOP,
        minMargin, runner);
  }

  /** An embedded judge samples at 1.0 so that the toy's ratings vary; an endpoint judge is greedy. */
  static RunSummary pairs(String in, Path out, List<CandidateSpec> cands, List<ModelSpec> gens, ModelSpec judge,
      PairJudge.Protocol protocol, PromptFormat format, Binarize.Strategy strategy, Binarize.Ties ties, double minMargin,
      Runner runner) throws Exception {
    return PairsPipeline.run(new PairsPipeline.Config(in, out.toString(), "MIT", cands, gens, judge, protocol,
        judge == null ? Map.of() : PairJudge.templates(protocol, null), judge != null && !judge.isRemote() ? 1.0 : 0, format,
        strategy, ties, minMargin, 5, 1000, runner), quiet());
  }

  static Map<?, ?> metrics(RunSummary s) {
    return (Map<?, ?>) s.metrics().get("pairs");
  }

  static Path stories() {
    Path model = TestFiles.sharedData().resolve("../models/stories260K.gguf").normalize();
    assumeTrue(Files.isRegularFile(model), "no shared model");
    return model;
  }

  /** Two prompts with three given answers each (one row per answer), and a fourth row, unparseable. */
  static Path answers(Path dir) throws Exception {
    StringBuilder b = new StringBuilder();
    String[][] rows = {
      {"Tell a story about a boat.", "The boat sailed to the sea.", "a"},
      {"Tell a story about a boat.", "Tim had a red boat. He liked it.", "b"},
      {"Tell a story about a boat.", "Boat.", "c"},
      {"Name a color.", "Red.", "a"},
      {"Name a color.", "The sky is blue, so blue.", "b"},
      {"Name a color.", "Lily saw a green frog.", "c"}};
    for (String[] r : rows) {
      b.append(io.instructflow.schemas.Json.line(Map.of("instruction", r[0], "response", r[1], "model", r[2]))).append('\n');
    }
    Path f = dir.resolve("answers.jsonl");
    Files.writeString(f, b + "not json\n");
    return f;
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
  void aGzippedInputMakesThePlainFilesPairsAndParquetIsRefusedBeforeTheRun(@TempDir Path dir) throws Exception {
    // issue 20: pairs reads its own JSON shapes, compressed too; Parquet goes through import first
    Path in = rated(dir);
    Files.createDirectories(dir.resolve("gz"));
    Path gz = dir.resolve("gz/rated.jsonl.gz");
    try (java.io.OutputStream out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) {
      Files.copy(in, out);
    }
    RunSummary plain = pairs(in.toString(), dir.resolve("plain"), List.of(), List.of(), null, PairJudge.Protocol.PER_CANDIDATE,
        PromptFormat.AUTO, Binarize.Strategy.BEST_VS_WORST, Binarize.Ties.DROP, 0, DIRECT);
    RunSummary packed = pairs(gz.toString(), dir.resolve("packed"), List.of(), List.of(), null, PairJudge.Protocol.PER_CANDIDATE,
        PromptFormat.AUTO, Binarize.Strategy.BEST_VS_WORST, Binarize.Ties.DROP, 0, DIRECT);
    assertEquals(plain.counts(), packed.counts());
    assertEquals(new RunSummary.Counts(5, 2, 1, 2), packed.counts());
    assertEquals(String.join("\n", TestFiles.lines(new OutputLayout(dir.resolve("plain").toString()), OutputLayout.Kind.DATA))
            .replace("rated.jsonl:", "rated.jsonl.gz:"),
        String.join("\n", TestFiles.lines(new OutputLayout(dir.resolve("packed").toString()), OutputLayout.Kind.DATA)));
    Path pq = io.instructflow.pipelines.ParquetFixtures.writeParquet(dir.resolve("pq/rated.parquet"),
        io.instructflow.pipelines.ParquetFixtures.ALPACA, io.instructflow.pipelines.ParquetFixtures.alpacaRows(), 0);
    io.instructflow.pipelines.io.InputFiles.InputException e = org.junit.jupiter.api.Assertions.assertThrows(
        io.instructflow.pipelines.io.InputFiles.InputException.class,
        () -> pairs(pq.toString(), dir.resolve("pq-out"), List.of(), List.of(), null, Binarize.Strategy.BEST_VS_WORST, 0, DIRECT));
    assertTrue(e.getMessage().contains("not Parquet"), e.getMessage());
  }

  @Test
  void ratedInputMakesExactlyTheStrategysPairs(@TempDir Path dir) throws Exception {
    Path in = rated(dir);
    RunSummary s = pairs(in.toString(), dir.resolve("bw"), List.of(), List.of(), null, PairJudge.Protocol.PER_CANDIDATE,
        PromptFormat.AUTO, Binarize.Strategy.BEST_VS_WORST, Binarize.Ties.DROP, 0, DIRECT);
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

    // keep-top (the default): the tied prompt makes a pair too, its chosen one of the tied, its rejected lower
    RunSummary top = pairs(in.toString(), dir.resolve("top"), List.of(), List.of(), null, Binarize.Strategy.BEST_VS_WORST, 0,
        DIRECT);
    assertEquals(new RunSummary.Counts(5, 3, 0, 2), top.counts());
    List<JsonNode> tp = lines(dir.resolve("top"), OutputLayout.Kind.DATA);
    assertEquals(3, tp.size());
    assertTrue(List.of("Hi", "Hello").contains(tp.get(1).path("chosen").asText()), tp.get(1).toString());
    assertEquals("Go away", tp.get(1).path("rejected").asText());
    JsonNode step = tp.get(1).path("provenance").path("steps").get(0).path("parameters");
    assertEquals(2, step.path("tiedAtTop").asInt());
    assertEquals("keep-top", step.path("ties").asText());
    assertTrue(tp.get(0).path("provenance").path("steps").get(0).path("parameters").path("tiedAtTop").isMissingNode());
    for (String f : List.of("chosen", "rejected", "margin")) {
      assertEquals(p.get(0).path(f), tp.get(0).path(f), "prompts without a tie pair the same in both modes");
    }

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
      assertEquals(2016, judge.chatServed(), "an endpoint judge gets chat requests by default");
      long pairs = (Long) m.get("pairs");
      assertEquals(pairs + d.counts().filtered() / 8, 252L, "each prompt made one pair or was dropped with its 8 rows");
      JsonNode first = lines(dir.resolve("direct"), OutputLayout.Kind.DATA).get(0);
      assertEquals("length-judge", first.path("chosen_info").path("judge").asText());
      assertEquals("chat", first.path("chosen_info").path("judge_format").asText());
      assertTrue(first.path("score_chosen").asDouble() > first.path("score_rejected").asDouble());
      // the same ratings (from the cache) with ties dropped: keep-top keeps every prompt that drop keeps, and the
      // prompts whose top is shared
      RunSummary dropped = pairs(preds.toString(), dir.resolve("drop"), List.of(), List.of(), spec,
          PairJudge.Protocol.PER_CANDIDATE, PromptFormat.AUTO, Binarize.Strategy.BEST_VS_RANDOM, Binarize.Ties.DROP, 0, DIRECT);
      assertEquals(2016L, metrics(dropped).get("cache_hits"));
      long tied = dropped.filtered().get("pairs").getOrDefault(Binarize.TIED_TOP, 0L) / 8;
      long allTied = d.filtered().getOrDefault("pairs", Map.of()).getOrDefault(Binarize.ALL_TIED, 0L) / 8;
      assertTrue(tied > 0, "the length judge gives many long answers the top rating");
      assertEquals(pairs, (Long) metrics(dropped).get("pairs") + tied - allTied);
      assertEquals(List.of(249L, 77L), List.of(pairs, (Long) metrics(dropped).get("pairs")), "prompts kept: keep-top, drop");
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
    ModelSpec gen = ModelSpec.local(model.toString(), 2, 0, 0, 0, false, cache);
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
        assertEquals("text", info.path("prompt_format").asText(), "no chat template in the GGUF: text");
        assertEquals("text", info.path("judge_format").asText());
      } else {
        assertEquals(4, n.path("metadata").path("candidates").size(), "a dropped prompt lists its candidates");
      }
    }
    RunSummary again = pairs(in.toString(), dir.resolve("again"), cands, List.of(gen, gen), gen, Binarize.Strategy.BEST_VS_RANDOM,
        0, DIRECT);
    assertEquals(24L, ((Map<?, ?>) again.metrics().get("pairs")).get("cache_hits"), "12 generations and 12 ratings cached");
    RunSummary drop = pairs(in.toString(), dir.resolve("drop"), cands, List.of(gen, gen), gen, PairJudge.Protocol.PER_CANDIDATE,
        PromptFormat.AUTO, Binarize.Strategy.BEST_VS_RANDOM, Binarize.Ties.DROP, 0, DIRECT);
    assertTrue(drop.reconciled());
    assertEquals(24L, metrics(drop).get("cache_hits"), "the same candidates and ratings");
    assertTrue(drop.counts().kept() <= s.counts().kept(), "dropping ties keeps no more than keep-top");
    assertEquals(TestFiles.fingerprint(new OutputLayout(dir.resolve("out").toString()), OutputLayout.Kind.FILTERED),
        TestFiles.fingerprint(new OutputLayout(dir.resolve("again").toString()), OutputLayout.Kind.FILTERED));
  }

  /**
   * UltraFeedback's protocol and pairwise judging through the real engine: the toy writes stories, but the
   * grammar holds it to the protocols' formats, so every answer is read; the outputs carry each
   * candidate's annotations, and each pair the two verdicts between its sides.
   */
  @Test
  void realEngineRunsTheUltraFeedbackAndPairwiseProtocols(@TempDir Path dir) throws Exception {
    Path in = answers(dir);
    ModelSpec judge = ModelSpec.local(stories().toString(), 2, 4096, 0, 0, false, dir.resolve("cache").toString());
    RunSummary uf = pairs(in.toString(), dir.resolve("uf"), List.of(), List.of(), judge, PairJudge.Protocol.ULTRAFEEDBACK,
        PromptFormat.AUTO, Binarize.Strategy.BEST_VS_RANDOM, Binarize.Ties.KEEP_TOP, 0, DIRECT);
    assertTrue(uf.reconciled());
    assertEquals(1, uf.counts().rejected(), "the line that is not JSON");
    Map<?, ?> m = metrics(uf);
    assertEquals(8L, m.get("judge_requests"), "one request per aspect per prompt");
    assertEquals(6L, m.get("candidates_judged"));
    assertEquals(0L, m.get("judge_unreadable"), "the grammar holds the toy to the format");
    List<JsonNode> out = new ArrayList<>(lines(dir.resolve("uf"), OutputLayout.Kind.DATA));
    for (JsonNode pair : out) {
      for (String side : List.of("chosen_info", "rejected_info")) {
        JsonNode info = pair.path(side);
        assertEquals("ultrafeedback", info.path("judge_protocol").asText());
        JsonNode ann = info.path("judge_annotations");
        assertEquals(4, ann.size(), info.toString());
        assertTrue(ann.path("truthfulness").path("type").isTextual(), "the typed aspects keep their type line");
        int position = ann.path("helpfulness").path("position").asInt();
        assertTrue(position >= 1 && position <= 3);
      }
      assertTrue(pair.path("score_chosen").asDouble() > pair.path("score_rejected").asDouble());
    }
    for (JsonNode f : lines(dir.resolve("uf"), OutputLayout.Kind.FILTERED)) {
      assertTrue(List.of(Binarize.ALL_TIED).contains(f.path("provenance").path("steps").get(0).path("verdict").path("reason")
          .asText()), f.toString());
    }

    RunSummary pw = pairs(in.toString(), dir.resolve("pw"), List.of(), List.of(), judge, PairJudge.Protocol.PAIRWISE,
        PromptFormat.TEXT, Binarize.Strategy.BEST_VS_RANDOM, Binarize.Ties.KEEP_TOP, 0, DIRECT);
    assertTrue(pw.reconciled());
    assertEquals(12L, metrics(pw).get("judge_requests"), "3 pairs x 2 orders x 2 prompts");
    assertEquals(0L, metrics(pw).get("judge_unreadable"));
    for (JsonNode pair : lines(dir.resolve("pw"), OutputLayout.Kind.DATA)) {
      JsonNode game = pair.path("provenance").path("steps").get(0).path("parameters").path("game");
      int chosen = pair.path("chosen_info").path("candidate").asInt();
      assertEquals("won by " + chosen, game.path("result").asText(), "the rejected lost to the chosen in both orders");
      assertTrue(List.of("A", "B").contains(game.path("verdict_first_as_a").asText()));
      assertEquals("pairwise win rate", pair.path("provenance").path("steps").get(0).path("parameters").path("scores").asText());
      assertTrue(pair.path("chosen_info").path("pairwise").path("win_rate").isNumber());
    }
    for (JsonNode f : lines(dir.resolve("pw"), OutputLayout.Kind.FILTERED)) {
      assertEquals(Binarize.NO_WIN, f.path("provenance").path("steps").get(0).path("verdict").path("reason").asText());
      assertEquals(3, f.path("metadata").path("pairwise_games").size());
    }
    RunSummary again = pairs(in.toString(), dir.resolve("pw2"), List.of(), List.of(), judge, PairJudge.Protocol.PAIRWISE,
        PromptFormat.TEXT, Binarize.Strategy.BEST_VS_RANDOM, Binarize.Ties.KEEP_TOP, 0, DIRECT);
    assertEquals(12L, metrics(again).get("cache_hits"));
    for (OutputLayout.Kind k : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.FILTERED)) {
      assertEquals(TestFiles.fingerprint(new OutputLayout(dir.resolve("pw").toString()), k),
          TestFiles.fingerprint(new OutputLayout(dir.resolve("pw2").toString()), k));
    }
  }

  /**
   * A GGUF with a chat template (the ChatML copy of the toy) gets chat requests by default, for the
   * candidates and for each judge protocol; {@code text} forces raw text.
   */
  @Test
  void realEngineChatModelGetsChatRequests(@TempDir Path dir) throws Exception {
    Path chatml = ChatmlModel.write(dir.resolve("stories-chatml.gguf"));
    ModelSpec model = ModelSpec.local(chatml.toString(), 2, 4096, 0, 0, false, dir.resolve("cache").toString());
    Path in = dir.resolve("prompts.jsonl");
    Files.writeString(in, "{\"prompt\": \"Tell a story about a fox.\"}\n{\"prompt\": \"Tell a story about a boat.\"}\n");
    // per-candidate and ultrafeedback judge one prompt: with the chat toy their two-prompt runs took 164 s
    // and 432 s (pairwise 16 s) on a loaded 2-core machine, most of the pipelines suite (2026-12-04); one
    // prompt shows the chat format as well, and pairwise keeps both
    Path one = dir.resolve("prompt.jsonl");
    Files.writeString(one, "{\"prompt\": \"Tell a story about a fox.\"}\n");
    List<CandidateSpec> cands = CandidateSpec.parseList(chatml + ":t=1.0:n=3:max=24");
    for (PairJudge.Protocol protocol : PairJudge.Protocol.values()) {
      Path out = dir.resolve(protocol.code());
      boolean both = protocol == PairJudge.Protocol.PAIRWISE;
      RunSummary s = pairs((both ? in : one).toString(), out, cands, List.of(model), model, protocol, PromptFormat.AUTO,
          Binarize.Strategy.BEST_VS_RANDOM, Binarize.Ties.KEEP_TOP, 0, DIRECT);
      assertTrue(s.reconciled(), protocol.code());
      assertEquals(both ? 6L : 3L, metrics(s).get("candidates_generated"));
      assertEquals(0L, metrics(s).get("judge_unreadable"), protocol.code() + ": the chat grammar holds the answers too");
      assertEquals(0L, metrics(s).get("judge_failures"));
      assertFalse(lines(out, OutputLayout.Kind.DATA).isEmpty(), protocol.code() + ": a pair to check");
      for (JsonNode pair : lines(out, OutputLayout.Kind.DATA)) {
        assertEquals("chat", pair.path("chosen_info").path("prompt_format").asText());
        assertEquals("chat", pair.path("chosen_info").path("judge_format").asText());
        assertEquals(protocol.code(), pair.path("chosen_info").path("judge_protocol").asText());
      }
    }
    RunSummary text = pairs(in.toString(), dir.resolve("text"), cands, List.of(model), model, PairJudge.Protocol.PER_CANDIDATE,
        PromptFormat.TEXT, Binarize.Strategy.BEST_VS_RANDOM, Binarize.Ties.KEEP_TOP, 0, DIRECT);
    for (JsonNode pair : lines(dir.resolve("text"), OutputLayout.Kind.DATA)) {
      assertEquals("text", pair.path("chosen_info").path("prompt_format").asText());
      assertEquals("text", pair.path("chosen_info").path("judge_format").asText());
    }
    assertTrue(text.reconciled());
  }

  /**
   * Judge answers that cannot be read, and judge requests that fail, drop their prompts to filtered/ with a
   * reason of their own and the answers as evidence; nothing crashes.
   */
  @Test
  void unusableJudgeAnswersAreFilteredWithTheirReason(@TempDir Path dir) throws Exception {
    Path in = answers(dir);
    try (ScriptedEndpoint junk = ScriptedEndpoint.start(prompt -> "Once upon a time, \"Rating: 9\" [[D]] verdict: maybe")) {
      for (PairJudge.Protocol protocol : PairJudge.Protocol.values()) {
        Path out = dir.resolve("junk-" + protocol.code());
        RunSummary s = pairs(in.toString(), out, List.of(), List.of(), ModelSpec.remote(junk.url(), "junk", null, 2, null),
            protocol, PromptFormat.AUTO, Binarize.Strategy.BEST_VS_RANDOM, Binarize.Ties.KEEP_TOP, 0, DIRECT);
        assertTrue(s.reconciled());
        assertEquals(Map.of(PairJudge.UNREADABLE, 6L), s.filtered().get("pairs"), protocol.code());
        JsonNode f = lines(out, OutputLayout.Kind.FILTERED).get(0);
        JsonNode details = f.path("provenance").path("steps").get(0).path("verdict").path("details");
        assertEquals("unreadable", details.path("problems").get(0).path("kind").asText());
        assertTrue(details.path("problems").get(0).path("reply").asText().startsWith("Once upon a time"));
      }
    }
    // a 512-token context cannot hold the ultrafeedback prompt: every request fails, before any decoding
    ModelSpec small = ModelSpec.local(stories().toString(), 1, 512, 0, 0, false, null);
    RunSummary s = pairs(in.toString(), dir.resolve("small"), List.of(), List.of(), small, PairJudge.Protocol.ULTRAFEEDBACK,
        PromptFormat.AUTO, Binarize.Strategy.BEST_VS_RANDOM, Binarize.Ties.KEEP_TOP, 0, DIRECT);
    assertTrue(s.reconciled());
    assertEquals(Map.of(PairJudge.FAILED, 6L), s.filtered().get("pairs"));
    assertEquals(8L, metrics(s).get("judge_failures"));
    JsonNode problem = lines(dir.resolve("small"), OutputLayout.Kind.FILTERED).get(0).path("provenance").path("steps").get(0)
        .path("verdict").path("details").path("problems").get(0);
    assertTrue(problem.path("error").asText().contains("context"), problem.toString());
  }
}
