package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Recipe parsing without running anything: variables (typed when a string is one variable alone, text
 * inside a longer one, {@code $${} literal), overrides, errors naming the stage and variable, the hash
 * (the same for YAML and JSON of one recipe, another for other values) and the command lines stages get.
 */
class RecipeTest {
  static final String RECIPE = String.join("\n",
      "name: vars-test",
      "vars: {src: data/中文.jsonl, t: 0.7, tag: run1}",
      "stages:",
      "  - {name: imported, type: import, in: '${src}', with: {dataset-name: 'zh-${tag}', license: CC-BY-4.0}}",
      "  - {name: deduped, type: dedup, with: {threshold: '${t}', field: instruction}}",
      "  - {name: note, type: stats, in: '@imported', with: {dataset-name: 'cost $${x}'}}",
      "");

  @Test
  void variablesAreReplacedTypedOrAsText() {
    Recipe r = Recipe.parse(RECIPE, "yaml", "r.yaml");
    Path root = Path.of("/out");
    assertEquals(List.of("import", "--in", "data/中文.jsonl", "--out", "/out/imported", "--dataset-name", "zh-run1",
        "--license", "CC-BY-4.0"), r.args(0, root, null, 0));
    assertEquals(List.of("dedup", "--in", "/out/imported", "--out", "/out/deduped", "--threshold", "0.7", "--field",
        "instruction"), r.args(1, root, null, 0));
    assertEquals(List.of("stats", "--in", "/out/imported", "--out", "/out/note", "--dataset-name", "cost ${x}"),
        r.args(2, root, null, 0));
    assertTrue(r.stages().get(1).with().get("threshold").isNumber(), "a string that is one variable takes its type");
    assertEquals(List.of("import", "--in", "data/中文.jsonl", "--head", "5", "--out", "/out/imported", "--dataset-name",
        "zh-run1", "--license", "CC-BY-4.0"), r.args(0, root, null, 5));
  }

  @Test
  void setOverridesAVariableAndChangesTheHash() {
    Recipe plain = Recipe.parse(RECIPE, "yaml", "r.yaml");
    Recipe set = Recipe.parse(RECIPE, "yaml", "r.yaml", Map.of("t", "0.5"));
    assertEquals("0.5", set.args(1, Path.of("/o"), null, 0).get(6));
    assertNotEquals(plain.hash(), set.hash());
    assertEquals(plain.hash(), Recipe.parse(RECIPE, "yaml", "r.yaml", Map.of("t", "0.7")).hash());
  }

  @Test
  void theHashIsOfTheRecipeNotItsSyntax() {
    String json = "{\"stages\": [{\"type\": \"import\", \"name\": \"a\", \"in\": \"x.jsonl\"}], \"name\": \"h\"}";
    String yaml = "# a comment\nname: h\nstages:\n  - name: a\n    type: import\n    in: x.jsonl\n";
    assertEquals(Recipe.parse(json, "json", "j").hash(), Recipe.parse(yaml, "yaml", "y").hash());
  }

  @Test
  void badVariablesNameTheStageAndTheVariable() {
    IllegalArgumentException unset = assertThrows(IllegalArgumentException.class, () -> Recipe.parse(
        "name: x\nstages:\n  - {name: a, type: import, in: '${nowhere}'}\n", "yaml", "r.yaml"));
    assertEquals("r.yaml: stage a: ${nowhere} is not set (give it in vars: or with --set nowhere=VALUE)", unset.getMessage());
    IllegalArgumentException unused = assertThrows(IllegalArgumentException.class,
        () -> Recipe.parse(RECIPE, "yaml", "r.yaml", Map.of("treshold", "0.5")));
    assertEquals("r.yaml: --set treshold: the recipe uses no ${treshold}", unused.getMessage());
    IllegalArgumentException typed = assertThrows(IllegalArgumentException.class,
        () -> Recipe.parse(RECIPE, "yaml", "r.yaml", Map.of("t", "high")));
    assertTrue(typed.getMessage().contains("threshold"), typed.getMessage());
  }

  /** The recipe README's quick start runs: 40 seed tasks, 50 records, 10 ROUGE-L duplicates, an audit. */
  @Test
  void theQuickStartRecipeRunsAsTheReadmeSays(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
    Path seeds = Path.of("src", "main", "resources", "io", "instructflow", "pipelines", "demo", "seed_tasks.jsonl")
        .toAbsolutePath();
    Path root = tmp.resolve("quick");
    String out = MainTest.cli(0, "run", Path.of("..", "examples", "quickstart.yaml").toString(), "--out", root.toString(),
        "--set", "seeds=" + seeds, "--runner", "direct")[0];
    assertTrue(out.contains("stages imported+filtered+deduped fused into one pipeline"), out);
    com.fasterxml.jackson.databind.JsonNode s = io.instructflow.schemas.Json.mapper().readTree(
        java.nio.file.Files.readString(root.resolve("recipe-summary.json")));
    assertEquals("ok", s.path("status").asText(), s.toString());
    com.fasterxml.jackson.databind.JsonNode stages = s.path("stages");
    assertEquals(5, stages.size());
    assertEquals(50, stages.get(0).path("kept").asLong(), "one record per instance of the 40 tasks");
    assertEquals(50, stages.get(1).path("kept").asLong(), "sft-default and the language filter keep them all");
    assertEquals(10, stages.get(2).path("filtered").asLong(), "later instances repeat their task's instruction");
    assertTrue(java.nio.file.Files.isRegularFile(root.resolve("audit").resolve("audit.html")), out);
  }
}
