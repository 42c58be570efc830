package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code instructflow run RECIPE} (issue 20): a recipe writes what its stages' commands write when run one
 * by one, names itself in each stage's summary, resumes by skipping finished stages and reruns what a
 * change reaches; bad recipes are usage errors before anything runs; a dry run reads the head of each
 * input; the committed schema is the one the commands make.
 */
class RunCommandTest {
  static final Path SCHEMA_DOC = Path.of("..", "docs", "recipe.schema.json");

  /** The mixed file plus near-duplicate English and Chinese records, so that every stage drops something. */
  static Path input(Path dir) throws IOException {
    Path f = TestFiles.mixedFile(dir);
    Files.write(f, List.of(
        Json.line(java.util.Map.of("instruction", "Write a short poem about the sea at night.", "output", "Waves hum.")),
        Json.line(java.util.Map.of("instruction", "Write a short poem about the sea at dawn.", "output", "Gulls cry.")),
        Json.line(java.util.Map.of("instruction", "用中文写一首关于春天的短诗。", "output", "春风又绿江南岸。")),
        Json.line(java.util.Map.of("instruction", "用中文写一首关于春天的短诗！", "output", "春眠不觉晓。")),
        Json.line(java.util.Map.of("instruction", "Explain recursion to a ten-year-old.", "output", "")),
        Json.line(java.util.Map.of("instruction", "List three prime numbers greater than ten.", "output", "11, 13, 17"))),
        StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    return f;
  }

  static Path recipe(Path dir, String dedupThreshold) throws IOException {
    Path r = dir.resolve("clean.yaml");
    Files.writeString(r, String.join("\n",
        "name: clean-test",
        "stages:",
        "  - name: imported",
        "    type: import",
        "    in: " + dir.resolve("mixed.jsonl"),
        "    with: {license: CC-BY-4.0, dataset-name: mixed, max-line-bytes: 256}",
        "  - name: filtered",
        "    type: filter",
        "    with:",
        "      preset: sft-default",
        "  - name: deduped",
        "    type: dedup",
        "    with: {threshold: " + dedupThreshold + "}",
        ""), StandardCharsets.UTF_8);
    return r;
  }

  static String outputs(Path folder) throws IOException {
    OutputLayout l = new OutputLayout(folder.toString());
    return TestFiles.fingerprint(l, OutputLayout.Kind.DATA) + "|" + TestFiles.fingerprint(l, OutputLayout.Kind.FILTERED)
        + "|" + TestFiles.fingerprint(l, OutputLayout.Kind.REJECTS);
  }

  static JsonNode summary(Path folder) throws IOException {
    return Json.mapper().readTree(Files.readString(folder.resolve("run-summary.json"), StandardCharsets.UTF_8));
  }

  @Test
  void aRecipeWritesWhatItsCommandsWriteAndResumes(@TempDir Path tmp) throws Exception {
    Path in = input(tmp);
    Path file = recipe(tmp, "0.7");
    Path root = tmp.resolve("run");
    String first = MainTest.cli(0, "run", file.toString(), "--out", root.toString(), "--runner", "direct")[0];
    assertTrue(first.contains("run: recipe clean-test finished"), first);

    // the same three commands, one by one
    Path one = tmp.resolve("one");
    MainTest.cli(0, "import", "--in", in.toString(), "--out", one.resolve("i").toString(), "--license", "CC-BY-4.0",
        "--dataset-name", "mixed", "--max-line-bytes", "256", "--runner", "direct");
    MainTest.cli(0, "filter", "--in", one.resolve("i").toString(), "--out", one.resolve("f").toString(), "--preset",
        "sft-default", "--runner", "direct");
    MainTest.cli(0, "dedup", "--in", one.resolve("f").toString(), "--out", one.resolve("d").toString(), "--threshold",
        "0.7", "--runner", "direct");
    assertEquals(outputs(one.resolve("i")), outputs(root.resolve("imported")));
    assertEquals(outputs(one.resolve("f")), outputs(root.resolve("filtered")));
    assertEquals(outputs(one.resolve("d")), outputs(root.resolve("deduped")));
    for (String stage : List.of("imported", "filtered", "deduped")) {
      JsonNode r = summary(root.resolve(stage)).path("config").path("recipe");
      assertEquals("clean-test", r.path("name").asText());
      assertEquals(Recipe.read(file).hash(), r.path("hash").asText());
      assertEquals(stage, r.path("stage").asText());
    }
    JsonNode s = Json.mapper().readTree(Files.readString(root.resolve("recipe-summary.json"), StandardCharsets.UTF_8));
    assertEquals("ok", s.path("status").asText());
    assertEquals(3, s.path("stages").size());
    long read = s.path("stages").get(0).path("read").asLong();
    assertEquals(read, s.path("stages").get(0).path("kept").asLong() + s.path("stages").get(0).path("rejected").asLong());
    assertTrue(s.path("stages").get(0).path("rejected").asLong() > 0, s.toString());
    assertTrue(s.path("stages").get(2).path("filtered").asLong() > 0, "dedup drops the near-duplicate: " + s);

    // a rerun skips every stage and leaves the outputs as they were
    String kept = outputs(root.resolve("deduped"));
    String again = MainTest.cli(0, "run", file.toString(), "--out", root.toString(), "--runner", "direct")[0];
    assertEquals(3, again.split("finished earlier with the same settings", -1).length - 1, again);
    assertEquals(kept, outputs(root.resolve("deduped")));

    // a changed dedup threshold reruns dedup only
    recipe(tmp, "0.5");
    String changed = MainTest.cli(0, "run", file.toString(), "--out", root.toString(), "--runner", "direct")[0];
    assertTrue(changed.contains("stage 1/3 imported (import): finished earlier"), changed);
    assertTrue(changed.contains("stage 2/3 filtered (filter): finished earlier"), changed);
    assertTrue(changed.contains("stage 3/3 deduped (dedup): dedup --in"), changed);
    assertEquals("0.5", summary(root.resolve("deduped")).path("config").path("threshold").asText());

    // --from reruns a finished stage and what follows it
    String from = MainTest.cli(0, "run", file.toString(), "--out", root.toString(), "--runner", "direct", "--from",
        "filtered")[0];
    assertTrue(from.contains("stage 1/3 imported (import): finished earlier"), from);
    assertFalse(from.contains("stage 2/3 filtered (filter): finished earlier"), from);
  }

  @Test
  void aDryRunReadsTheHeadOfEachInput(@TempDir Path tmp) throws Exception {
    input(tmp);
    Path file = recipe(tmp, "0.7");
    Path root = tmp.resolve("run");
    String out = MainTest.cli(0, "run", file.toString(), "--out", root.toString(), "--runner", "direct", "--dry-run", "4")[0];
    assertTrue(out.contains("dry run"), out);
    Path dry = tmp.resolve("run.dry-run");
    JsonNode counts = summary(dry.resolve("imported")).path("counts");
    assertEquals(4, counts.path("read").asLong(), counts.toString());
    assertEquals(2, counts.path("kept").asLong(), "lines 1 and 4 are the good ones of the first four: " + counts);
    assertFalse(Files.exists(root), "a dry run writes beside the output root, not in it");
  }

  @Test
  void badRecipesAreUsageErrorsBeforeAnythingRuns(@TempDir Path tmp) throws Exception {
    Path in = input(tmp);
    Path root = tmp.resolve("run");
    String[][] cases = {
        {"name: x\nstages:\n  - {name: a, type: import, in: " + in + ", with: {lisence: MIT}}\n", "lisence"},
        {"name: x\nstages:\n  - {name: a, type: sort, in: " + in + "}\n", "type"},
        {"name: x\nstages:\n  - {name: a, type: import, in: " + in + "}\n  - {name: a, type: filter}\n",
            "a second stage of this name"},
        {"name: x\nstages:\n  - {name: a, type: import, in: " + in + "}\n  - {name: b, type: filter, in: '@c'}\n",
            "in: @c names no earlier stage"},
        {"name: x\nstages:\n  - {name: a, type: filter}\n", "the first stage needs an input"},
        {"name: x\nstages:\n  - {name: a, type: filter, in: " + in + ", with: {preset: no-such-chain}}\n",
            "stage a (filter)"},
        {"name: x\nstages:\n  - {name: a, type: dedup, in: " + in + ", with: {threshold: high}}\n", "threshold"},
    };
    for (String[] c : cases) {
      Path r = tmp.resolve("bad.yaml");
      Files.writeString(r, c[0], StandardCharsets.UTF_8);
      String err = MainTest.cli(2, "run", r.toString(), "--out", root.toString(), "--runner", "direct")[1];
      assertTrue(err.contains(c[1]), c[0] + " -> " + err);
      assertFalse(Files.exists(root.resolve("a")), "nothing ran for " + c[0]);
    }
    Path noOut = tmp.resolve("noout.yaml");
    Files.writeString(noOut, "name: x\nstages:\n  - {name: a, type: import, in: " + in + "}\n", StandardCharsets.UTF_8);
    assertTrue(MainTest.cli(2, "run", noOut.toString())[1].contains("no output root"));
  }

  @Test
  void theCommittedSchemaIsTheOneTheCommandsMake() throws IOException {
    String made = Json.pretty(RecipeSchema.tree()) + "\n";
    if (Boolean.getBoolean("golden.update")) {
      Files.writeString(SCHEMA_DOC, made, StandardCharsets.UTF_8);
    }
    assertEquals(Files.readString(SCHEMA_DOC, StandardCharsets.UTF_8), made,
        "docs/recipe.schema.json is stale: rerun with -Dgolden.update=true");
    assertEquals(made.trim(), MainTest.cli(0, "run", "--print-schema")[0].trim());
  }
}
