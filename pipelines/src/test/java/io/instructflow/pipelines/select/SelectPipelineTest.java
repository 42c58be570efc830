package io.instructflow.pipelines.select;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.dedup.SemanticDedup;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.dedup.DecisionRuns;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code select} on real text (Alpagasus and Chinese Alpaca prompts, with seeded reworded copies so that
 * the diversity rule has work) and seeded scores: exactly the budget is selected; the selection equals a
 * plain reference (rank by the score, highest first, ties in input order; take a record when its exact
 * cosine to every taken record of the same model is below the threshold); no two selected records are
 * that close; every other record is in {@code filtered/} with its reason and evidence; the bytes are the
 * same on DirectRunner with tiny ranges and decision runs as on SparkRunner with the defaults.
 */
class SelectPipelineTest {
  static final double DIVERSITY = 0.85;
  static final int BUDGET = 150;
  @TempDir static Path dir;
  static Path in;
  static List<Map<String, Object>> rows = new ArrayList<>();

  @BeforeAll
  static void input() throws Exception {
    Random r = new Random(22);
    List<String> prompts = new ArrayList<>();
    JsonNode en = Json.mapper().readTree(TestFiles.sharedData().resolve("corpora/alpagasus/random_9k.json").toFile());
    for (int i = 0; i < 420; i++) {
      prompts.add(en.get(i).path("instruction").asText());
    }
    JsonNode zh = Json.mapper().readTree(TestFiles.sharedData().resolve("corpora/alpaca_zh_carbonz0/zh-data-part-00.json").toFile());
    for (int i = 0; i < 120; i++) {
      prompts.add(zh.get(i).path("instruction").asText());
    }
    // reworded copies: the same prompt with a prefix, or its first sentence repeated
    int n = prompts.size();
    for (int i = 0; i < 120; i++) {
      String p = prompts.get(r.nextInt(n));
      prompts.add(r.nextBoolean() ? "Please answer: " + p : p + " " + p.split("[.?!。？]")[0]);
    }
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < prompts.size(); i++) {
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("instruction", prompts.get(i));
      row.put("output", "answer " + i);
      Map<String, Object> scores = new LinkedHashMap<>();
      // quality as the score command writes it; complexity as a plain number; ties on purpose
      scores.put("quality", Map.of("value", 1 + r.nextInt(5) + (r.nextBoolean() ? 0.5 : 0)));
      if (i % 53 != 7) {
        scores.put("complexity", 1 + r.nextInt(6));
      }
      row.put("scores", scores);
      rows.add(row);
      b.append(Json.line(row)).append('\n');
    }
    b.append("{\"instruction\": \n");
    in = dir.resolve("scored.jsonl");
    Files.writeString(in, b.toString(), StandardCharsets.UTF_8);
  }

  static SelectPipeline.Config config(String out, Runner runner) {
    return new SelectPipeline.Config(ReadOptions.of(in.toString()), dir.resolve(out).toString(), BUDGET,
        ScoreExpression.parse("quality*complexity"), DIVERSITY, "auto", "prompt", 100_000, runner);
  }

  static PrintStream quiet() {
    return new PrintStream(java.io.OutputStream.nullOutputStream(), true, StandardCharsets.UTF_8);
  }

  @Test
  void selectsTheBudgetAsTheReferenceDoesOnBothRunnersAndExplainsTheRest() throws Exception {
    RunSummary direct = SelectPipeline.run(config("direct", new Runner("direct", null)), quiet(), 16, 50);
    RunSummary spark = SelectPipeline.run(config("spark", new Runner("spark", "local[2]")), quiet());
    assertTrue(direct.reconciled() && spark.reconciled());
    assertEquals(rows.size() + 1, direct.counts().read());
    assertEquals(1, direct.counts().rejected());
    OutputLayout d = new OutputLayout(dir.resolve("direct").toString());
    OutputLayout s = new OutputLayout(dir.resolve("spark").toString());
    for (OutputLayout.Kind kind : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.FILTERED, OutputLayout.Kind.REJECTS)) {
      assertEquals(TestFiles.lines(d, kind), TestFiles.lines(s, kind), kind.toString());
    }
    List<String> data = TestFiles.lines(d, OutputLayout.Kind.DATA);
    assertEquals(BUDGET, data.size());

    // the reference: rank, then take greedily with the exact cosine against every taken record
    SemanticDedup rule = new SemanticDedup("auto", DIVERSITY, "prompt", 32, 1000);
    ScoreExpression by = ScoreExpression.parse("quality*complexity");
    // every record, from the outputs, in input order (its origin's line)
    List<Example> records = new ArrayList<>();
    for (OutputLayout.Kind kind : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.FILTERED)) {
      TestFiles.lines(d, kind).forEach(l -> records.add(example(l)));
    }
    records.sort(Comparator.comparingInt(e -> Integer.parseInt(
        e.provenance().origin().location().substring(e.provenance().origin().location().indexOf(':') + 1))));
    assertEquals(rows.size(), records.size());
    List<Integer> ranked = new ArrayList<>();
    for (int i = 0; i < records.size(); i++) {
      if (by.valueOf(records.get(i)).isPresent()) {
        ranked.add(i);
      }
    }
    ranked.sort(Comparator.comparingDouble((Integer i) -> -by.valueOf(records.get(i)).getAsDouble()).thenComparingInt(i -> i));
    List<SemanticDedup.Prepared> taken = new ArrayList<>();
    List<String> wantIds = new ArrayList<>();
    List<Integer> takenAt = new ArrayList<>();
    for (int i : ranked) {
      if (taken.size() == BUDGET) {
        break;
      }
      SemanticDedup.Prepared p = rule.prepare(GateInput.of(records.get(i)));
      boolean far = taken.stream().noneMatch(t -> t.model() == p.model() && SemanticDedup.dot(t.vector(), p.vector()) >= DIVERSITY);
      if (far) {
        taken.add(p);
        takenAt.add(i);
      }
    }
    takenAt.sort(null);
    takenAt.forEach(i -> wantIds.add(records.get(i).id()));
    List<String> gotIds = data.stream().map(l -> example(l).id()).toList();
    assertEquals(wantIds, gotIds, "the selection, in input order");

    // no two selected records are as close as the threshold
    for (int a = 0; a < taken.size(); a++) {
      for (int c = a + 1; c < taken.size(); c++) {
        if (taken.get(a).model() == taken.get(c).model()) {
          assertTrue(SemanticDedup.dot(taken.get(a).vector(), taken.get(c).vector()) < DIVERSITY);
        }
      }
    }

    // the rest, with their reasons
    Map<String, Integer> reasons = new HashMap<>();
    double lowestSelected = gotIds.stream().mapToDouble(id -> by.valueOf(byId(records, id)).getAsDouble()).min().orElseThrow();
    for (String l : TestFiles.lines(d, OutputLayout.Kind.FILTERED)) {
      JsonNode step = last(l);
      JsonNode v = step.path("verdict");
      String reason = v.path("reason").asText();
      reasons.merge(reason, 1, Integer::sum);
      JsonNode det = v.path("details");
      switch (reason) {
        case SelectPipeline.TOO_SIMILAR -> {
          assertTrue(gotIds.contains(det.path("nearest_id").asText()), l);
          assertTrue(det.path("cosine").asDouble() >= DIVERSITY - 1e-4, l);
          assertTrue(det.path("nearest_location").asText().startsWith("scored.jsonl:"), l);
        }
        case SelectPipeline.OVER_BUDGET -> assertTrue(det.path("score").asDouble() <= lowestSelected, l);
        case SelectPipeline.NO_SCORE -> assertEquals("complexity", det.path("missing").get(0).asText(), l);
        default -> throw new AssertionError("unexpected reason in " + l);
      }
      assertEquals("select", step.path("name").asText());
    }
    assertTrue(reasons.getOrDefault(SelectPipeline.TOO_SIMILAR, 0) > 5, reasons.toString());
    assertTrue(reasons.getOrDefault(SelectPipeline.OVER_BUDGET, 0) > 100, reasons.toString());
    assertEquals((int) java.util.stream.IntStream.range(0, rows.size()).filter(i -> i % 53 == 7).count(),
        reasons.get(SelectPipeline.NO_SCORE));
    assertEquals(rows.size() - BUDGET, reasons.values().stream().mapToInt(Integer::intValue).sum());
  }

  @Test
  void badSettingsAreRefusedBeforeTheRun() {
    assertThrows(IllegalArgumentException.class, () -> ScoreExpression.parse("quality**complexity"));
    assertThrows(IllegalArgumentException.class, () -> ScoreExpression.parse(" "));
    assertThrows(IllegalArgumentException.class, () -> new SelectPipeline.Config(ReadOptions.of("x"), "o", 0,
        ScoreExpression.parse("q"), 0.9, "auto", "prompt", 10, new Runner("direct", null)));
    assertThrows(IllegalArgumentException.class, () -> new SelectPipeline.Config(ReadOptions.of("x"), "o", 5,
        ScoreExpression.parse("q"), 1.5, "auto", "prompt", 10, new Runner("direct", null)));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new SelectPipeline.Config(
        ReadOptions.of("x"), "o", 5, ScoreExpression.parse("q"), 0.9, "word2vec", "prompt", 10, new Runner("direct", null)));
    assertTrue(e.getMessage().contains("word2vec"), e.getMessage());
    assertEquals(List.of("quality", "complexity"), ScoreExpression.parse(" quality * complexity ").names());
    // decision runs are what lets the pass sort back on disk
    assertTrue(DecisionRuns.RUN > 1000);
  }

  static Example example(String line) {
    try {
      return Json.mapper().readValue(line, Example.class);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  static Example byId(List<Example> records, String id) {
    return records.stream().filter(e -> e.id().equals(id)).findFirst().orElseThrow();
  }

  static JsonNode last(String line) throws Exception {
    JsonNode steps = Json.mapper().readTree(line).path("provenance").path("steps");
    return steps.get(steps.size() - 1);
  }
}
