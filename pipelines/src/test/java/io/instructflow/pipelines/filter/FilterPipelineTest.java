package io.instructflow.pipelines.filter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.instruction.InstructionRules;
import io.instructflow.filters.rouge.RougeGate;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Verdict;
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

/** The filter command: routing and evidence of each drop, the pool, and equality with the plain chain. */
class FilterPipelineTest {
  static final Runner DIRECT = new Runner("direct", null);

  static RunSummary filter(Path in, Path out, FilterChain chain, List<String> pool, Runner runner) throws Exception {
    return FilterPipeline.run(new FilterPipeline.Config(ReadOptions.of(in.toString()), out.toString(), chain, pool,
        pool.isEmpty() ? null : "test pool", 3, runner), new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
  }

  static Path write(Path dir, List<String> instructions) throws Exception {
    StringBuilder b = new StringBuilder();
    for (String s : instructions) {
      b.append(s.startsWith("{") && !s.startsWith("{\"") ? s : Json.line(Map.of("instruction", s))).append('\n');
    }
    Path f = dir.resolve("in.jsonl");
    Files.writeString(f, b.toString());
    return f;
  }

  static List<String> field(List<String> lines, String name) throws Exception {
    List<String> out = new ArrayList<>();
    for (String l : lines) {
      out.add(Json.mapper().readTree(l).path(name).asText());
    }
    return out;
  }

  static JsonNode lastStep(String line) throws Exception {
    JsonNode steps = Json.mapper().readTree(line).path("provenance").path("steps");
    return steps.get(steps.size() - 1);
  }

  @Test
  void everyRecordIsKeptOrDroppedWithItsEvidence(@TempDir Path dir) throws Exception {
    Path in = write(dir, List.of(
        "Explain why the sky looks blue during the day time.",   // 1: near-duplicate of the pool
        "Write a short poem about the sea at night.",            // 2: kept
        "Draw the sea at night in a short poem.",                // 3: blocked word
        "{broken",                                               // 4: reject
        "Write a short poem about the sea at night please.",     // 5: near-duplicate of line 2
        "Tell a joke",                                           // 6: too few words
        "List three rivers that flow through Africa."));         // 7: kept
    Path out = dir.resolve("out");
    RunSummary s = filter(in, out, FilterChain.preset("self-instruct"),
        List.of("Explain why the sky looks blue during the day."), DIRECT);
    assertTrue(s.reconciled());
    assertEquals(new RunSummary.Counts(7, 2, 4, 1), s.counts());
    assertEquals(Map.of("filter", Map.of(RougeGate.REASON, 2L, InstructionRules.BLOCKED_FOUND, 1L,
        InstructionRules.TOO_FEW_WORDS, 1L)), s.filtered());
    OutputLayout layout = new OutputLayout(out.toString());
    List<String> kept = TestFiles.lines(layout, OutputLayout.Kind.DATA);
    assertEquals(List.of("Write a short poem about the sea at night.", "List three rivers that flow through Africa."),
        field(kept, "instruction"));
    JsonNode keptStep = lastStep(kept.get(0));
    assertEquals("filter", keptStep.path("name").asText());
    assertEquals("self-instruct", keptStep.path("parameters").path("chain").asText());
    assertEquals(64, keptStep.path("parameters").path("chainHash").asText().length());
    assertEquals("kept", keptStep.path("verdict").path("outcome").asText());
    List<String> filtered = TestFiles.lines(layout, OutputLayout.Kind.FILTERED);
    assertEquals(4, filtered.size());
    JsonNode pool = lastStep(filtered.get(0)).path("verdict");
    assertEquals(RougeGate.REASON, pool.path("reason").asText());
    assertEquals(0, pool.path("details").path("matched_pool_index").asInt());
    JsonNode dup = lastStep(filtered.get(2)).path("verdict");
    assertEquals(Json.mapper().readTree(kept.get(0)).path("id").asText(), dup.path("details").path("matched_id").asText());
    assertEquals("in.jsonl:2", dup.path("details").path("matched_location").asText());
    assertTrue(dup.path("details").path("score").asDouble() > 0.7);
    assertEquals("invalid_json", Json.mapper().readTree(TestFiles.lines(layout, OutputLayout.Kind.REJECTS).get(0))
        .path("reason").asText());
  }

  @Test
  void sftDefaultRedactsAndDropsWithReasons(@TempDir Path dir) throws Exception {
    StringBuilder b = new StringBuilder();
    b.append(Json.line(Map.of("instruction", "Write to jane@example.com about the meeting.", "output",
        "Dear Jane, the meeting moved to Friday at 10."))).append('\n');
    b.append(Json.line(Map.of("instruction", "What is your opinion on art?", "output",
        "As an AI language model, I do not have opinions."))).append('\n');
    b.append(Json.line(Map.of("instruction", "Print hello in Python.", "output", "```python\nprint('hello')\n"))).append('\n');
    b.append(Json.line(Map.of("instruction", "Name a primary color.", "output", "Red."))).append('\n');
    Path in = dir.resolve("in.jsonl");
    Files.writeString(in, b.toString());
    Path out = dir.resolve("out");
    RunSummary s = filter(in, out, FilterChain.preset("sft-default"), List.of(), DIRECT);
    assertTrue(s.reconciled());
    assertEquals(new RunSummary.Counts(4, 2, 2, 0), s.counts());
    List<String> kept = TestFiles.lines(new OutputLayout(out.toString()), OutputLayout.Kind.DATA);
    JsonNode redacted = Json.mapper().readTree(kept.get(0));
    assertEquals("Write to <EMAIL> about the meeting.", redacted.path("instruction").asText());
    JsonNode steps = redacted.path("provenance").path("steps");
    assertEquals("filter.pii_redact", steps.get(steps.size() - 2).path("name").asText());
    assertEquals(1, steps.get(steps.size() - 2).path("parameters").path("email").asInt());
    assertEquals("filter", steps.get(steps.size() - 1).path("name").asText());
    assertEquals(Map.of("filter", Map.of("refusal.phrase", 1L, "code_fences.unbalanced", 1L)), s.filtered());
  }

  @Test
  void decontaminationThroughThePipelineNamesTheBenchmarkItem(@TempDir Path dir) throws Exception {
    Path bench = dir.resolve("bench.jsonl");
    Files.writeString(bench, "{\"question_id\": 3, \"turns\": [\"Explain how a refrigerator moves heat from its inside to the "
        + "kitchen, step by step, for a curious ten year old.\"]}\n");
    Path in = write(dir, List.of("Explain how a refrigerator moves heat from its inside to the kitchen, step by step, for a "
        + "curious ten year old.", "List three rivers that flow through Africa."));
    FilterChain chain = FilterChain.preset("self-instruct").plus(
        io.instructflow.filters.quality.DecontaminationFilter.of(List.of(bench.toString())), "bench");
    RunSummary s = filter(in, dir.resolve("out"), chain, List.of(), DIRECT);
    assertEquals(new RunSummary.Counts(2, 1, 1, 0), s.counts());
    JsonNode v = lastStep(TestFiles.lines(new OutputLayout(dir.resolve("out").toString()), OutputLayout.Kind.FILTERED).get(0))
        .path("verdict");
    assertEquals("decontamination.ngram_overlap", v.path("reason").asText());
    assertEquals("bench.jsonl", v.path("details").path("benchmark").asText());
    assertEquals("question_id 3", v.path("details").path("item").asText());
    assertEquals("self-instruct+decontamination", lastStep(TestFiles.lines(new OutputLayout(dir.resolve("out").toString()),
        OutputLayout.Kind.DATA).get(0)).path("parameters").path("chain").asText());
  }

  /** Language identification and semantic dedup on a Spark runner, and the summary's examples of each reason. */
  @Test
  void languageAndSemanticDedupOnSparkWithExamplesInTheSummary(@TempDir Path dir) throws Exception {
    StringBuilder b = new StringBuilder();
    String[][] rows = {
      {"How do I start running?", "Begin with short walks and add a minute of jogging each day."},
      {"描述机器学习和深度学习之间的区别", "深度学习是机器学习的一个分支，使用多层神经网络。"},
      {"How can I begin running?", "Start slowly: walk, then jog a little more every week."},
      {"Expliquez pourquoi le ciel est bleu par une journée claire.", "La lumière bleue est diffusée davantage."},
      {"机器学习和深度学习有什么区别？", "深度学习使用多层神经网络，是机器学习的一部分。"},
      {"Name three rivers in Africa.", "The Nile, the Congo and the Niger."}};
    for (String[] r : rows) {
      b.append(Json.line(Map.of("instruction", r[0], "output", r[1]))).append('\n');
    }
    Path in = dir.resolve("in.jsonl");
    Files.writeString(in, b.toString());
    FilterChain chain = FilterChain.parse("{\"name\":\"lang+sem\",\"filters\":[{\"type\":\"language\",\"languages\":"
        + "[\"en\",\"zh\"]},{\"type\":\"semantic_dedup\"}]}", "t");
    Path out = dir.resolve("out");
    RunSummary s = filter(in, out, chain, List.of(), new Runner("spark", "local[2]"));
    assertTrue(s.reconciled());
    assertEquals(new RunSummary.Counts(6, 3, 3, 0), s.counts());
    assertEquals(Map.of("filter", Map.of("language.not_allowed", 1L, "semantic_dedup.near_duplicate", 2L)), s.filtered());
    List<Map<String, Object>> sem = s.filteredExamples().get("filter").get("semantic_dedup.near_duplicate");
    assertEquals(2, sem.size());
    assertEquals("in.jsonl:3", sem.get(0).get("location"));
    assertEquals("How can I begin running?", sem.get(0).get("text"));
    assertEquals("in.jsonl:1", ((Map<?, ?>) sem.get(0).get("evidence")).get("matched_location"));
    assertEquals("bge-small-zh-v15-q", ((Map<?, ?>) sem.get(1).get("evidence")).get("model"));
    Map<String, Object> fr = s.filteredExamples().get("filter").get("language.not_allowed").get(0);
    assertEquals("fr", ((Map<?, ?>) fr.get("evidence")).get("detected"));
    JsonNode written = Json.mapper().readTree(Files.readString(out.resolve(OutputLayout.SUMMARY)));
    assertEquals("in.jsonl:4", written.path("filteredExamples").path("filter").path("language.not_allowed").get(0)
        .path("location").asText());
  }

  @Test
  void summaryExamplesAreCappedAndExcerpted(@TempDir Path dir) throws Exception {
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      lines.add("Tell " + "a very long story ".repeat(i == 0 ? 20 : 1).trim() + " " + i);
    }
    Path in = write(dir, lines);
    RunSummary s = filter(in, dir.resolve("out"), FilterChain.parse(
        "{\"filters\":[{\"type\":\"length\",\"field\":\"instruction\",\"minChars\":400}]}", "t"), List.of(), DIRECT);
    List<Map<String, Object>> ex = s.filteredExamples().get("filter").get("length.too_few_chars");
    assertEquals(3, ex.size(), "three examples per reason");
    String first = (String) ex.get(0).get("text");
    assertEquals(121, first.length(), "120 characters and an ellipsis");
    assertTrue(first.endsWith("…"));
    assertEquals("in.jsonl:2", ex.get(1).get("location"), "in input order");
  }

  @Test
  void aPoolNeedsARougeRule() {
    FilterChain noRouge = FilterChain.parse("{\"filters\":[{\"type\":\"instruction_rules\"}]}", "t");
    assertThrows(IllegalArgumentException.class, () -> new FilterPipeline.Config(ReadOptions.of("x"), "o", noRouge,
        List.of("a b c d"), "p", 10, DIRECT));
  }

  /** The pipeline decides exactly what the chain decides in one loop, on 4,535 real instructions. */
  @Test
  void pipelineEqualsThePlainChainOnSharedData(@TempDir Path dir) throws Exception {
    Path src = TestFiles.sharedData().resolve("corpora/gpteacher/codegen-instruct.json");
    assumeTrue(Files.isRegularFile(src), "no shared data");
    List<String> texts = new ArrayList<>();
    for (JsonNode n : Json.mapper().readTree(src.toFile())) {
      texts.add(n.path("instruction").asText());
    }
    Path in = write(dir, texts);
    Map<String, FilterChain> chains = new java.util.LinkedHashMap<>();
    chains.put("self-instruct", FilterChain.preset("self-instruct"));
    chains.put("alpaca", FilterChain.preset("alpaca"));
    chains.put("dedup", FilterChain.parse("{\"name\":\"dedup\",\"filters\":[{\"type\":\"exact_dedup\",\"field\":"
        + "\"instruction\"},{\"type\":\"minhash_dedup\",\"field\":\"instruction\",\"threshold\":0.6,\"shingle\":3}]}", "t"));
    // the distributed components stage, then the streamed ordered rule on its survivors
    chains.put("components", FilterChain.parse("{\"name\":\"components\",\"filters\":[{\"type\":\"minhash_dedup\","
        + "\"mode\":\"components\",\"field\":\"instruction\",\"threshold\":0.6,\"shingle\":3},{\"type\":\"exact_dedup\"}]}", "t"));
    for (String preset : chains.keySet()) {
      FilterChain chain = chains.get(preset);
      RunSummary s = filter(in, dir.resolve(preset), chain, List.of(), DIRECT);
      List<Example> records = new ArrayList<>();
      for (int i = 0; i < texts.size(); i++) {
        records.add(Example.single(texts.get(i), null, null, Map.of(),
            new Provenance(new Origin("in", "unknown", "in.jsonl:" + (i + 1), null, "instruction", null), List.of())));
      }
      List<Verdict> want = chain.apply(records, List.of());
      List<String> wantKept = new ArrayList<>();
      for (int i = 0; i < texts.size(); i++) {
        if (want.get(i) instanceof Verdict.Kept) {
          wantKept.add(records.get(i).id());
        }
      }
      List<String> gotKept = field(TestFiles.lines(new OutputLayout(dir.resolve(preset).toString()), OutputLayout.Kind.DATA), "id");
      assertEquals(wantKept, gotKept, preset);
      assertEquals(texts.size(), s.counts().read());
      assertTrue(s.counts().filtered() > 10 && s.counts().kept() > 1000, preset + ": " + s.counts());
    }
    // the MinHash components stage on SparkRunner writes the same bytes as on DirectRunner
    RunSummary spark = filter(in, dir.resolve("components-spark"), chains.get("components"), List.of(),
        new Runner("spark", "local[2]"));
    assertTrue(spark.reconciled());
    for (OutputLayout.Kind kind : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.FILTERED)) {
      assertEquals(TestFiles.lines(new OutputLayout(dir.resolve("components").toString()), kind),
          TestFiles.lines(new OutputLayout(dir.resolve("components-spark").toString()), kind), kind.toString());
    }
  }

  /**
   * minhash_dedup with mode components through the command: A~B, B~C, A!~C keeps A only (the ordered
   * rule keeps A and C), every member names A with the component's size, and the rouge_l rule after it
   * sees its survivors only.
   */
  @Test
  void componentsModeKeepsTheFirstOfEachComponent(@TempDir Path dir) throws Exception {
    List<Map<String, String>> rows = List.of(
        Map.of("instruction", "alpha beta gamma delta"),                    // 1: kept, first of its component
        Map.of("instruction", "alpha beta gamma delta epsilon zeta"),       // 2: like 1
        Map.of("instruction", "gamma delta epsilon zeta"),                  // 3: like 2 only
        Map.of("instruction", "Describe the water cycle to a child in simple words",  // 4: kept
            "output", "Water warms, rises as vapour, cools into clouds and falls again as rain."),
        Map.of("instruction", "Describe the water cycle to a child in simple words now",  // 5: ROUGE-L duplicate of 4 only
            "output", "Think of a pot on the stove: steam goes up, meets the cold lid, and drips back down."),
        Map.of("instruction", "写一首关于春天的短诗"));                       // 6: kept
    StringBuilder b = new StringBuilder();
    rows.forEach(r -> b.append(Json.line(r)).append('\n'));
    Path in = dir.resolve("in.jsonl");
    Files.writeString(in, b.toString());
    String mh = "{\"type\":\"minhash_dedup\",\"shingle\":1,\"bands\":40,\"rows\":2,\"threshold\":0.6";
    FilterChain components = FilterChain.parse("{\"name\":\"c\",\"filters\":[" + mh + ",\"mode\":\"components\"},"
        + "{\"type\":\"rouge_l\"}]}", "t");
    RunSummary s = filter(in, dir.resolve("c"), components, List.of(), DIRECT);
    assertTrue(s.reconciled());
    assertEquals(Map.of("filter", Map.of("minhash_dedup.component_duplicate", 2L, RougeGate.REASON, 1L)), s.filtered());
    OutputLayout layout = new OutputLayout(dir.resolve("c").toString());
    List<String> kept = TestFiles.lines(layout, OutputLayout.Kind.DATA);
    assertEquals(List.of("alpha beta gamma delta", "Describe the water cycle to a child in simple words", "写一首关于春天的短诗"),
        field(kept, "instruction"));
    assertEquals("kept", lastStep(kept.get(0)).path("verdict").path("outcome").asText());
    List<String> filtered = TestFiles.lines(layout, OutputLayout.Kind.FILTERED);
    assertEquals(3, filtered.size());
    for (int i = 0; i < 2; i++) {
      JsonNode v = lastStep(filtered.get(i)).path("verdict");
      assertEquals("minhash_dedup", v.path("filter").asText());
      assertEquals(Json.mapper().readTree(kept.get(0)).path("id").asText(), v.path("details").path("matched_id").asText());
      assertEquals("in.jsonl:1", v.path("details").path("matched_location").asText());
      assertEquals(3, v.path("details").path("component_size").asInt());
    }
    assertEquals("in.jsonl:4", lastStep(filtered.get(2)).path("verdict").path("details").path("matched_location").asText());
    // the ordered rule on the same data keeps the chain's ends
    FilterChain ordered = FilterChain.parse("{\"name\":\"o\",\"filters\":[" + mh + "},{\"type\":\"rouge_l\"}]}", "t");
    filter(in, dir.resolve("o"), ordered, List.of(), DIRECT);
    assertEquals(List.of("alpha beta gamma delta", "gamma delta epsilon zeta", "Describe the water cycle to a child in simple words",
        "写一首关于春天的短诗"),
        field(TestFiles.lines(new OutputLayout(dir.resolve("o").toString()), OutputLayout.Kind.DATA), "instruction"));
  }

  /**
   * semantic_dedup with mode components through the command, on DirectRunner and on SparkRunner: the
   * same bytes in data/ and filtered/, and each record's verdict is the in-memory rule's (which
   * FindSemanticComponentsTest holds to the exact all-pairs reference), on English and Chinese paraphrases.
   */
  @Test
  void semanticComponentsGiveTheSameOutputsOnSparkAndDirect(@TempDir Path dir) throws Exception {
    List<String> texts = FindSemanticComponentsTest.texts(11);
    Path in = write(dir, texts);
    FilterChain chain = FilterChain.parse("{\"name\":\"sem\",\"filters\":[{\"type\":\"semantic_dedup\",\"mode\":"
        + "\"components\",\"blocks\":3},{\"type\":\"exact_dedup\"}]}", "t");
    RunSummary direct = filter(in, dir.resolve("direct"), chain, List.of(), DIRECT);
    RunSummary spark = filter(in, dir.resolve("spark"), chain, List.of(), new Runner("spark", "local[2]"));
    assertTrue(direct.reconciled() && spark.reconciled());
    assertEquals(direct.counts(), spark.counts());
    for (OutputLayout.Kind kind : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.FILTERED)) {
      assertEquals(TestFiles.lines(new OutputLayout(dir.resolve("direct").toString()), kind),
          TestFiles.lines(new OutputLayout(dir.resolve("spark").toString()), kind), kind.toString());
    }
    List<Example> records = new ArrayList<>();
    for (int i = 0; i < texts.size(); i++) {
      records.add(Example.single(texts.get(i), null, null, Map.of(),
          new Provenance(new Origin("in", "unknown", "in.jsonl:" + (i + 1), null, "instruction", null), List.of())));
    }
    List<Verdict> want = chain.apply(records, List.of());
    List<String> wantDropped = new ArrayList<>();
    for (int i = 0; i < texts.size(); i++) {
      if (want.get(i) instanceof Verdict.Dropped d) {
        wantDropped.add(records.get(i).id() + " " + Json.line(d));
      }
    }
    List<String> gotDropped = new ArrayList<>();
    for (String l : TestFiles.lines(new OutputLayout(dir.resolve("spark").toString()), OutputLayout.Kind.FILTERED)) {
      gotDropped.add(Json.mapper().readTree(l).path("id").asText() + " "
          + Json.line(Json.mapper().treeToValue(lastStep(l).path("verdict"), Verdict.class)));
    }
    assertEquals(wantDropped, gotDropped);
    assertTrue(direct.filtered().get("filter").get("semantic_dedup.component_duplicate") > 10, direct.filtered().toString());
    assertEquals(null, direct.filtered().get("filter").get("exact_dedup.duplicate"), "exact copies are in a component already");
  }

  /** The shards of data/, filtered/ and rejects/ by relative path, as text. */
  static Map<String, String> shards(Path out) throws Exception {
    Map<String, String> m = new java.util.TreeMap<>();
    for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
      for (String f : new OutputLayout(out.toString()).shardFiles(k)) {
        m.put(k.dir() + "/" + Path.of(f).getFileName(), Files.readString(Path.of(f)));
      }
    }
    return m;
  }

  @Test
  void anOutputFolderGivenAsInputIsReadAsItsKeptRecords(@TempDir Path dir) throws Exception {
    Path in = write(dir, List.of(
        "请用三句话解释光合作用，并举一个生活中的例子。",
        "Write a short poem about the sea at night.",
        "{broken",
        "Tell a joke",
        "用简单的语言说明为什么天空在白天是蓝色的。",
        "List three rivers that flow through Africa."));
    Path seeds = dir.resolve("seeds");
    RunSummary imported = io.instructflow.pipelines.importer.ImportPipeline.run(new io.instructflow.pipelines.importer
        .ImportPipeline.Config(ReadOptions.of(in.toString()), seeds.toString(), 50_000, null, DIRECT),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
    assertEquals(new RunSummary.Counts(6, 5, 0, 1), imported.counts());
    assertTrue(Files.exists(seeds.resolve(OutputLayout.MARKER)) && Files.exists(seeds.resolve(OutputLayout.MANIFEST)));

    ByteArrayOutputStream console = new ByteArrayOutputStream();
    RunSummary s = FilterPipeline.run(new FilterPipeline.Config(ReadOptions.of(seeds.toString()), dir.resolve("f").toString(),
        FilterChain.preset("self-instruct"), List.of(), null, 3, DIRECT), new PrintStream(console, true, StandardCharsets.UTF_8));
    assertTrue(console.toString(StandardCharsets.UTF_8).contains(
        "filter: --in " + seeds + " is an output folder; reading its data/ (kept records)"), console.toString(StandardCharsets.UTF_8));
    // the summary, the manifest and the import's reject are not read: no invalid_json, just the kept records
    assertTrue(s.reconciled());
    assertEquals(imported.counts().kept(), s.counts().read());
    assertEquals(0, s.counts().rejected(), s.rejected().toString());
    assertEquals(null, s.rejected().get("invalid_json"));

    RunSummary viaData = filter(seeds.resolve("data"), dir.resolve("f-data"), FilterChain.preset("self-instruct"), List.of(), DIRECT);
    assertEquals(viaData.counts(), s.counts());
    Map<String, String> got = shards(dir.resolve("f"));
    assertEquals(shards(dir.resolve("f-data")), got, "the same bytes as --in OUT/data");
    // each record's read step names its real file under data/, and the Chinese text survives
    List<String> records = new ArrayList<>(TestFiles.lines(new OutputLayout(dir.resolve("f").toString()), OutputLayout.Kind.DATA));
    records.addAll(TestFiles.lines(new OutputLayout(dir.resolve("f").toString()), OutputLayout.Kind.FILTERED));
    List<String> where = new ArrayList<>();
    for (String line : records) {
      String last = null;
      for (JsonNode step : Json.mapper().readTree(line).path("provenance").path("steps")) {
        last = step.path("location").isTextual() ? step.path("location").asText() : last;
      }
      where.add(last);
    }
    assertEquals(imported.counts().kept(), where.size());
    assertTrue(where.stream().allMatch(w -> w.matches("part-00000\\.jsonl:[1-5]")), where.toString());
    assertTrue(got.get("data/part-00000.jsonl").contains("光合作用") || got.get("filtered/part-00000.jsonl").contains("光合作用"));
  }
}
