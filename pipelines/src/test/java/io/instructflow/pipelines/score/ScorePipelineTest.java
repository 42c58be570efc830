package io.instructflow.pipelines.score;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.FilterChain;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.score.RecordScorer;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.pipelines.ChatmlModel;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.filter.FilterPipeline;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
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
 * score end to end on the real stories260K engine (issue 22): IFD stored per record equal to a direct
 * computation from the model's log-probabilities, rejects with their reasons, counts that reconcile, the
 * cache, and the score_range filter keeping records by the stored IFD.
 */
class ScorePipelineTest {
  static final Runner DIRECT = new Runner("direct", null);

  @TempDir Path tmp;

  static final String[][] PAIRS = {
    {"Tell a story about a cat.", "", "Once upon a time, there was a cat named Tom. He liked to play in the sun."},
    {"讲一个关于小狗的故事。", "小狗", "Lily saw a little dog. 小狗很开心。They played in the park all day."},
    {"What did Ben find?", "Ben went to the park.", "Ben found a big red ball under the tree."},
    {"Write about the sea.", "", "The the the the. Ball ball car sun."},
    {"Say something happy.", "", "Sue was very happy. She smiled at her mom and gave her a hug."},
  };

  /** Alpaca records (five scorable, one without output, one too long, one broken line) and a chat file. */
  static Path input(Path dir) throws Exception {
    Files.createDirectories(dir);
    List<String> lines = new ArrayList<>();
    for (String[] p : PAIRS) {
      lines.add(Json.line(Map.of("instruction", p[0], "input", p[1], "output", p[2])));
    }
    lines.add(Json.line(Map.of("instruction", "Write a poem.", "input", "", "output", "")));
    lines.add(Json.line(Map.of("instruction", "Once upon a time there was a cat. ".repeat(40), "input", "",
        "output", "The end.")));
    lines.add("{\"instruction\": \"unterminated");
    Files.write(dir.resolve("a-alpaca.jsonl"), lines, StandardCharsets.UTF_8);
    Files.write(dir.resolve("b-chat.jsonl"), List.of(Json.line(Map.of("messages", List.of(
        Map.of("role", "user", "content", "Tell me about Lily."),
        Map.of("role", "assistant", "content", "Lily was a girl who liked to play."),
        Map.of("role", "user", "content", "你好"),
        Map.of("role", "assistant", "content", "Lily said hello to the dog."))))), StandardCharsets.UTF_8);
    return dir;
  }

  /** The model with {@code ctx} tokens per sequence: 256 rejects the long record, and the Deita prompts need 2048. */
  static ModelSpec spec(Path model, String cache, int ctx) {
    return ModelSpec.local(model.toString(), 2, ctx, 1, 0, false, cache);
  }

  static RunSummary score(Path in, Path out, ModelSpec spec, List<RecordScorer.Kind> kinds, int batch, Runner runner)
      throws Exception {
    return ScorePipeline.plan(new ScorePipeline.Config(ReadOptions.of(in.toString()), out.toString(), spec,
        RecordScorer.Settings.of(kinds, false, null), PromptFormat.AUTO, batch, 1000, runner),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
        io.instructflow.pipelines.runtime.PipelineRun.Fusion.NONE).runAlone();
  }

  static List<JsonNode> data(Path out, OutputLayout.Kind kind) throws Exception {
    List<JsonNode> l = new ArrayList<>();
    for (String s : TestFiles.lines(new OutputLayout(out.toString()), kind)) {
      l.add(Json.mapper().readTree(s));
    }
    return l;
  }

  @Test
  void ifdOfEveryRecordEqualsTheDirectComputationAndScoreRangeKeepsByIt() throws Exception {
    Path in = input(tmp.resolve("in"));
    ModelSpec spec = spec(ChatmlModel.stories(), tmp.resolve("cache").toString(), 256);
    RunSummary s = score(in, tmp.resolve("out"), spec, List.of(RecordScorer.Kind.IFD), 3, DIRECT);
    assertTrue(s.reconciled());
    assertEquals(new RunSummary.Counts(9, 6, 0, 3), s.counts());
    assertEquals(Map.of("invalid_json", 1L, "missing_field", 1L, "prompt_too_long", 1L), s.rejected());
    List<JsonNode> kept = data(tmp.resolve("out"), OutputLayout.Kind.DATA);
    LanguageModel model = spec.open();
    for (int i = 0; i < PAIRS.length; i++) {
      JsonNode ifd = kept.get(i).path("metadata").path("scores").path("ifd");
      String context = PAIRS[i][1].isEmpty() ? PAIRS[i][0] : PAIRS[i][0] + "\n\n" + PAIRS[i][1];
      ScoreResult c = model.score(List.of(ScoreRequest.text("c", context + "\n\n", PAIRS[i][2]))).get(0);
      ScoreResult a = model.score(List.of(ScoreRequest.text("a", "", PAIRS[i][2]))).get(0);
      double direct = Math.exp(-c.logprob() / c.tokens().size()) / Math.exp(-a.logprob() / a.tokens().size());
      assertEquals(direct, ifd.path("value").asDouble(), 1.5e-4, PAIRS[i][0]);
      assertEquals("stories260K.gguf", ifd.path("model").path("id").asText());
      assertEquals(model.ref().sha256(), ifd.path("model").path("sha256").asText());
      assertEquals("text", ifd.path("format").asText());
      JsonNode step = kept.get(i).path("provenance").path("steps").get(kept.get(i).path("provenance").path("steps").size() - 1);
      assertEquals("score", step.path("name").asText());
      assertEquals("stories260K.gguf", step.path("model").path("id").asText());
    }
    // the chat record: its last assistant turn after the three turns before it, as text
    assertTrue(kept.get(5).path("metadata").path("scores").path("ifd").path("value").asDouble() > 0);
    List<JsonNode> rejects = data(tmp.resolve("out"), OutputLayout.Kind.REJECTS);
    assertEquals("missing_field", rejects.get(0).path("reason").asText());
    assertEquals("ifd need a response, and the record has no output", rejects.get(0).path("message").asText());
    assertEquals("score", rejects.get(0).path("step").asText());
    assertEquals("prompt_too_long", rejects.get(1).path("reason").asText());
    assertTrue(rejects.get(1).path("message").asText().startsWith("ifd: "), rejects.get(1).toString());

    // a rerun reads every score from the cache and writes the same data
    score(in, tmp.resolve("again"), spec, List.of(RecordScorer.Kind.IFD), 4, DIRECT);
    assertEquals(TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.DATA),
        TestFiles.lines(new OutputLayout(tmp.resolve("again").toString()), OutputLayout.Kind.DATA));

    // score_range over the scored data: the bound at the median keeps the lower half, names score and bound
    List<Double> values = new ArrayList<>();
    kept.forEach(k -> values.add(k.path("metadata").path("scores").path("ifd").path("value").asDouble()));
    List<Double> sorted = new ArrayList<>(values);
    sorted.sort(null);
    double bound = sorted.get(2);
    FilterChain chain = FilterChain.parse("{\"name\":\"ifd\",\"filters\":[{\"type\":\"score_range\",\"score\":\"ifd\","
        + "\"max\":" + bound + "}]}", "t");
    RunSummary f = FilterPipeline.run(new FilterPipeline.Config(ReadOptions.of(tmp.resolve("out/data").toString()),
        tmp.resolve("filtered").toString(), chain, List.of(), null, 1000, DIRECT, null),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    long below = values.stream().filter(v -> v <= bound).count();
    assertEquals(new RunSummary.Counts(6, below, 6 - below, 0), f.counts());
    List<JsonNode> dropped = data(tmp.resolve("filtered"), OutputLayout.Kind.FILTERED);
    for (JsonNode d : dropped) {
      JsonNode v = d.path("provenance").path("steps").get(d.path("provenance").path("steps").size() - 1).path("verdict");
      assertEquals("score_range.above_max", v.path("reason").asText(), d.toString());
      assertEquals("ifd", v.path("details").path("score").asText());
      assertEquals(bound, v.path("details").path("max").asDouble(), 0);
      assertTrue(v.path("details").path("value").asDouble() > bound);
    }
    // the raw input has no scores: every record drops as missing
    RunSummary raw = FilterPipeline.run(new FilterPipeline.Config(ReadOptions.of(in.resolve("b-chat.jsonl").toString()),
        tmp.resolve("raw").toString(), chain, List.of(), null, 1000, DIRECT, null),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    assertEquals(Map.of("filter", Map.of("score_range.missing_score", 1L)), raw.filtered());
  }

  @Test
  void deitaScoresThroughTheChatTemplateOfAModelThatHasOne() throws Exception {
    Path chatml = ChatmlModel.write(tmp.resolve("chatml.gguf"));
    Path in = input(tmp.resolve("in"));
    ModelSpec spec = spec(chatml, null, 2048);
    RunSummary s = score(in, tmp.resolve("out"), spec, List.of(RecordScorer.Kind.COMPLEXITY, RecordScorer.Kind.QUALITY),
        16, DIRECT);
    assertTrue(s.reconciled());
    // complexity needs no response, quality does: the record without output is rejected all the same
    assertEquals(Map.of("invalid_json", 1L, "missing_field", 1L), s.rejected());
    assertEquals(new RunSummary.Counts(9, 7, 0, 2), s.counts());
    for (JsonNode k : data(tmp.resolve("out"), OutputLayout.Kind.DATA)) {
      for (String name : List.of("complexity", "quality")) {
        JsonNode v = k.path("metadata").path("scores").path(name);
        assertEquals("chat", v.path("format").asText());
        assertTrue(v.path("value").asDouble() >= 1 && v.path("value").asDouble() <= 6, v.toString());
        double sum = 0;
        for (JsonNode p : v.path("probabilities")) {
          sum += p.asDouble();
        }
        assertEquals(1, sum, 1e-3);
        assertEquals(64, v.path("templateHash").asText().length());
      }
    }
  }
}
