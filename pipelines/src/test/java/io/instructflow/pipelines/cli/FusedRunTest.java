package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fused recipe runs (issue 20): consecutive import, filter and dedup stages in one Beam pipeline write
 * the same bytes as the same stages run one by one ({@code run --no-fuse}), across shard boundaries,
 * several ordered fragments per input file, rejects the reading stage makes, dry runs and both runners;
 * a stage that decides after the pipeline ends the fused group.
 */
class FusedRunTest {
  /**
   * Three input files (each its own ordered fragment): a long one with English and Chinese
   * near-duplicates, records sft-default drops, bad lines and long records; two short ones.
   */
  static Path inputs(Path dir, int longLines) throws IOException {
    Path in = dir.resolve("in");
    Files.createDirectories(in);
    List<String> a = new ArrayList<>();
    for (int i = 0; i < longLines; i++) {
      String instruction = switch (i % 6) {
        case 0 -> "Write a short poem about the number " + i + " and the sea.";
        case 1 -> "Write a short poem about the number " + i + " and the sea!";
        case 2 -> "用中文解释数字" + i + "的意义，并举一个生活中的例子。";
        case 3 -> "Explain step " + (i / 6) + " of making bread to a child.";
        case 4 -> "List three facts about planet number " + (i % 97) + ".";
        default -> "请把第" + (i / 6) + "句话翻译成英文：今天天气很好。";
      };
      String output = i % 25 == 7 ? "" : i % 20 == 3 ? "x".repeat(600) : "An answer for record " + i + "，好的。";
      a.add(i % 33 == 5 ? "{not json" : Json.line(Map.of("instruction", instruction, "output", output)));
    }
    Files.write(in.resolve("a.jsonl"), a, StandardCharsets.UTF_8);
    Files.write(in.resolve("b.jsonl"), List.of(
        Json.line(Map.of("instruction", "Name a color of the sky at dusk.", "output", "Orange.")),
        Json.line(Map.of("instruction", "用一句话描述秋天。", "output", "秋高气爽。"))), StandardCharsets.UTF_8);
    Files.write(in.resolve("c.jsonl"), List.of(
        Json.line(Map.of("instruction", "Name a color of the sky at dawn.", "output", "Pink.")),
        "[1, 2]"), StandardCharsets.UTF_8);
    return in;
  }

  static Path recipe(Path dir, Path in, String strategy, String filterLimit) throws IOException {
    Path r = dir.resolve("fuse.yaml");
    Files.writeString(r, String.join("\n",
        "name: fuse-test",
        "stages:",
        "  - name: imported",
        "    type: import",
        "    in: " + in,
        "    with: {license: CC-BY-4.0, dataset-name: mixed, shard-size: 40}",
        "  - name: filtered",
        "    type: filter",
        "    with: {preset: sft-default, shard-size: 30, max-line-bytes: " + filterLimit + "}",
        "  - name: deduped",
        "    type: dedup",
        "    with: {threshold: 0.7, tokenizer: unicode, strategy: " + strategy + ", shard-size: 20}",
        ""), StandardCharsets.UTF_8);
    return r;
  }

  static final List<String> STAGES = List.of("imported", "filtered", "deduped");

  /** Every shard of every stage: its name, line count and SHA-256. */
  static String outputs(Path root) throws IOException {
    return outputs(root, STAGES);
  }

  static String outputs(Path root, List<String> stages) throws IOException {
    StringBuilder b = new StringBuilder();
    for (String stage : stages) {
      OutputLayout l = new OutputLayout(root.resolve(stage).toString());
      for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
        b.append(stage).append('/').append(k.dir()).append(' ').append(l.shardFiles(k).size()).append(" shards\n");
        for (String f : l.shardFiles(k)) {
          // a reject names its file by its absolute path, under this run's root
          byte[] bytes = Files.readString(Path.of(f), StandardCharsets.UTF_8).replace(root.toString(), "ROOT")
              .getBytes(StandardCharsets.UTF_8);
          b.append("  ").append(Path.of(f).getFileName()).append(' ').append(io.instructflow.schemas.Ids.sha256Hex(bytes))
              .append('\n');
        }
      }
    }
    return b.toString();
  }

  /** Asserts that two runs wrote the same shards, naming the first line that differs. */
  static void assertSameOutputs(Path expected, Path actual) throws IOException {
    assertSameOutputs(expected, actual, STAGES);
  }

  static void assertSameOutputs(Path expected, Path actual, List<String> stages) throws IOException {
    String e = outputs(expected, stages);
    String a = outputs(actual, stages);
    if (e.equals(a)) {
      return;
    }
    for (String stage : stages) {
      for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
        List<String> x = io.instructflow.pipelines.TestFiles.lines(new OutputLayout(expected.resolve(stage).toString()), k);
        List<String> y = io.instructflow.pipelines.TestFiles.lines(new OutputLayout(actual.resolve(stage).toString()), k);
        for (int i = 0; i < Math.max(x.size(), y.size()); i++) {
          String p = i < x.size() ? x.get(i).replace(expected.toString(), "ROOT") : "(none)";
          String q = i < y.size() ? y.get(i).replace(actual.toString(), "ROOT") : "(none)";
          if (!p.equals(q)) {
            assertEquals(p, q, stage + "/" + k.dir() + " line " + (i + 1) + " of " + x.size() + " / " + y.size());
          }
        }
      }
    }
    assertEquals(e, a);
  }

  static JsonNode summary(Path root, String stage) throws IOException {
    return Json.mapper().readTree(Files.readString(root.resolve(stage).resolve("run-summary.json"), StandardCharsets.UTF_8));
  }

  /** The summary's input files, relative to the output root, so that two roots compare. */
  static List<String> inputsOf(Path root, String stage) throws IOException {
    List<String> out = new ArrayList<>();
    summary(root, stage).path("inputs").forEach(n -> out.add(n.asText().replace(root.toString(), "ROOT")));
    return out;
  }

  @Test
  void fusedStagesWriteWhatTheyWriteOneByOne(@TempDir Path tmp) throws Exception {
    Path in = inputs(tmp, 150);
    Path r = recipe(tmp, in, "components", "700");
    Path fused = tmp.resolve("fused");
    String out = MainTest.cli(0, "run", r.toString(), "--out", fused.toString(), "--runner", "direct")[0];
    assertTrue(out.contains("stages imported+filtered+deduped fused into one pipeline"), out);
    Path apart = tmp.resolve("apart");
    String out2 = MainTest.cli(0, "run", r.toString(), "--out", apart.toString(), "--runner", "direct", "--no-fuse")[0];
    assertFalse(out2.contains("fused"), out2);

    assertSameOutputs(apart, fused);
    String shards = outputs(fused);
    for (String stage : List.of("imported", "filtered", "deduped")) {
      JsonNode s = summary(fused, stage);
      JsonNode t = summary(apart, stage);
      assertEquals(t.path("counts"), s.path("counts"), stage);
      assertTrue(s.path("reconciled").asBoolean(), stage + ": " + s);
      assertEquals(inputsOf(apart, stage), inputsOf(fused, stage), stage);
      assertEquals(t.path("rejected"), s.path("rejected"), stage);
    }
    // what the test means to cover: a fragment larger than a shard (a.jsonl's) and shards packed of
    // several fragments (b and c), records the filter's reader rejects, drops at every stage
    assertTrue(shards.contains("imported/data 2 shards"), shards);
    JsonNode f = summary(fused, "filtered");
    assertTrue(f.path("counts").path("rejected").asLong() > 0, "lines over 700 bytes are rejected by the reader: " + f);
    assertTrue(f.path("counts").path("filtered").asLong() > 0, f.toString());
    assertTrue(summary(fused, "deduped").path("counts").path("filtered").asLong() > 0);
    assertTrue(summary(fused, "imported").path("counts").path("rejected").asLong() > 0);
    JsonNode reject = Json.mapper().readTree(io.instructflow.pipelines.TestFiles.lines(
        new OutputLayout(fused.resolve("filtered").toString()), OutputLayout.Kind.REJECTS).get(0));
    assertTrue(reject.toString().matches(".*part-0000[0-9]\\.jsonl:[0-9]+.*"), "the shard and line it came from: " + reject);

    // a rerun resumes: every stage finished with the same settings and inputs
    String again = MainTest.cli(0, "run", r.toString(), "--out", fused.toString(), "--runner", "direct")[0];
    assertEquals(3, again.split("finished earlier with the same settings", -1).length - 1, again);
  }

  @Test
  void anOrderedDedupEndsTheGroupAndDryRunsFuseToo(@TempDir Path tmp) throws Exception {
    Path in = inputs(tmp, 120);
    Path r = recipe(tmp, in, "sequential", "1048576");
    Path fused = tmp.resolve("fused");
    MainTest.cli(0, "run", r.toString(), "--out", fused.toString(), "--runner", "direct", "--dry-run", "40");
    Path apart = tmp.resolve("apart");
    MainTest.cli(0, "run", r.toString(), "--out", apart.toString(), "--runner", "direct", "--dry-run", "40",
        "--no-fuse");
    Path f = tmp.resolve("fused.dry-run");
    Path a = tmp.resolve("apart.dry-run");
    assertSameOutputs(a, f);
    assertEquals(40 + 2 + 2, summary(f, "imported").path("counts").path("read").asLong(), "the head of each input file");
    assertEquals(summary(a, "filtered").path("counts"), summary(f, "filtered").path("counts"));
  }

  @Test
  void onSparkTooFusedEqualsOneByOne(@TempDir Path tmp) throws Exception {
    Path in = inputs(tmp, 100);
    Path r = recipe(tmp, in, "components", "700");
    Path fused = tmp.resolve("fused");
    String out = MainTest.cli(0, "run", r.toString(), "--out", fused.toString())[0];
    assertTrue(out.contains("fused into one pipeline"), out);
    Path apart = tmp.resolve("apart");
    MainTest.cli(0, "run", r.toString(), "--out", apart.toString(), "--no-fuse");
    assertSameOutputs(apart, fused);
  }

  /** A stage that reads one shard of the previous stage (an @/PATH under its folder) is not fused. */
  @Test
  void aPathUnderThePreviousStageIsReadFromDisk(@TempDir Path tmp) throws Exception {
    Path in = inputs(tmp, 100);
    Path r = tmp.resolve("part.yaml");
    Files.writeString(r, String.join("\n",
        "name: part-test",
        "stages:",
        "  - {name: imported, type: import, in: '" + in + "', with: {license: CC-BY-4.0, shard-size: 40}}",
        "  - {name: filtered, type: filter, in: '@/imported/data/part-00001.jsonl', with: {preset: sft-default}}",
        ""), StandardCharsets.UTF_8);
    Path root = tmp.resolve("part");
    String out = MainTest.cli(0, "run", r.toString(), "--out", root.toString(), "--runner", "direct")[0];
    assertFalse(out.contains("fused"), out);
    JsonNode f = summary(root, "filtered");
    assertEquals(1, f.path("inputs").size(), f.toString());
    assertTrue(f.path("inputs").get(0).asText().endsWith("part-00001.jsonl"), f.toString());
    assertEquals(3, f.path("counts").path("read").asLong(), "b's and c's records, the second shard: " + f);
  }

  /**
   * A stage that cannot join the pipeline (its folder locked by a run elsewhere) makes the group run one
   * by one: the stages before it finish, it fails with its own usage error, and a rerun resumes.
   */
  @Test
  void aGroupThatCannotBeBuiltRunsOneByOne(@TempDir Path tmp) throws Exception {
    Path in = inputs(tmp, 60);
    Path r = recipe(tmp, in, "sequential", "1048576");
    Path root = tmp.resolve("locked");
    Files.createDirectories(root.resolve("deduped"));
    Files.writeString(root.resolve("deduped").resolve(OutputLayout.LOCK),
        "{\"pid\":4242,\"host\":\"another-host.example\",\"started\":\"2026-12-05T00:00:00Z\",\"command\":\"dedup\"}\n");
    String[] first = MainTest.cli(2, "run", r.toString(), "--out", root.toString(), "--runner", "direct");
    assertTrue(first[0].contains("stage deduped cannot join the fused pipeline"), first[0]);
    assertTrue(first[1].contains("in use by another run"), first[1]);
    JsonNode rows = Json.mapper().readTree(Files.readString(root.resolve("recipe-summary.json"))).path("stages");
    assertEquals("ok", rows.get(0).path("status").asText(), rows.toString());
    assertEquals("ok", rows.get(1).path("status").asText(), rows.toString());
    assertEquals("failed", rows.get(2).path("status").asText(), rows.toString());
    Files.delete(root.resolve("deduped").resolve(OutputLayout.LOCK));
    String again = MainTest.cli(0, "run", r.toString(), "--out", root.toString(), "--runner", "direct")[0];
    assertEquals(2, again.split("finished earlier with the same settings", -1).length - 1, again);
  }

  /**
   * The model stages fuse too: import, a filter, generate, score and tag on the real stories260K engine
   * in one pipeline write what they write one by one, a request too long for the context included (its
   * reject names the shard the record would have been read from).
   */
  @Test
  void modelStagesFuseWithTheSameBytes(@TempDir Path tmp) throws Exception {
    Path model = io.instructflow.pipelines.TestFiles.sharedData().getParent().resolve("models").resolve("stories260K.gguf");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(model), "needs ../shared/models/stories260K.gguf");
    Path in = tmp.resolve("in.jsonl");
    Files.write(in, List.of(
        Json.line(Map.of("instruction", "Tell a story about a cat.", "output", "Once upon a time.")),
        Json.line(Map.of("instruction", "讲一个关于小猫的故事。", "output", "从前有一只小猫。")),
        Json.line(Map.of("instruction", "Tell a story about a dog " + "and a very long day ".repeat(60), "output", "Ok.")),
        Json.line(Map.of("instruction", "Tell a story about a bird.", "output", "It flew.")),
        "{\"instruction\": 7}"), StandardCharsets.UTF_8);
    Path r = tmp.resolve("model.yaml");
    String engine = "model: '" + model + "', ctx-per-slot: 128, threads: 1, no-cache: true";
    Files.writeString(r, String.join("\n",
        "name: model-fuse",
        "stages:",
        "  - {name: imported, type: import, in: '" + in + "', with: {license: MIT, shard-size: 2}}",
        "  - {name: filtered, type: filter, with: {preset: sft-default, shard-size: 3}}",
        "  - {name: generated, type: generate, with: {" + engine + ", max-tokens: 6, temperature: 0}}",
        "  - {name: scored, type: score, with: {" + engine + ", scores: [ifd]}}",
        "  - {name: tagged, type: tag, with: {" + engine + ", tags: [difficulty]}}",
        ""), StandardCharsets.UTF_8);
    List<String> stages = List.of("imported", "filtered", "generated", "scored", "tagged");
    Path fused = tmp.resolve("fused");
    String out = MainTest.cli(0, "run", r.toString(), "--out", fused.toString(), "--runner", "direct")[0];
    assertTrue(out.contains("stages imported+filtered+generated+scored+tagged fused into one pipeline"), out);
    Path apart = tmp.resolve("apart");
    MainTest.cli(0, "run", r.toString(), "--out", apart.toString(), "--runner", "direct", "--no-fuse");
    assertSameOutputs(apart, fused, stages);
    JsonNode g = summary(fused, "generated");
    assertEquals(1, g.path("rejected").path("prompt_too_long").asLong(), g.toString());
    String reject = io.instructflow.pipelines.TestFiles.lines(new OutputLayout(fused.resolve("generated").toString()),
        OutputLayout.Kind.REJECTS).get(0);
    assertTrue(reject.contains(fused.resolve("filtered").resolve("data").resolve("part-00000.jsonl").toString()), reject);
    assertEquals(summary(fused, "scored").path("counts").path("kept").asLong(),
        summary(fused, "tagged").path("counts").path("read").asLong(), "tag reads what score kept, in the pipeline");
    assertTrue(g.path("counts").path("kept").asLong() >= 3, g.toString());
  }
}
