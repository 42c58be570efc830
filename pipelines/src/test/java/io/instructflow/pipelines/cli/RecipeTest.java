package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

  /** Two imports into import/, a dedup over both by a glob under the root, and a conditional blend. */
  static final String GATHER = String.join("\n",
      "name: gather",
      "vars: {data: data, model: m.gguf}",
      "stages:",
      "  - {name: en, type: import, in: '${data}/en.jsonl', out: import/en}",
      "  - {name: zh, type: import, in: '${data}/中文.jsonl', out: import/zh, when: {exists: '${data}/中文.jsonl'}}",
      "  - {name: deduped, type: dedup, in: '@/import/*/data/*.jsonl'}",
      "  - {name: gen, type: generate, in: '@zh', when: {exists: '${model}'}, with: {model: '${model}'}}",
      "  - name: mix",
      "    type: blend",
      "    spec-file: mix-spec.json",
      "    with:",
      "      spec:",
      "        name: mix",
      "        target: 10",
      "        sources:",
      "          - {name: d, path: '@deduped', weight: 1}",
      "          - {name: g, path: '@gen', optional: true, fraction: 1.0}",
      "          - {name: extra, path: '${data}/extra.json', optional: true, weight: 1}",
      "");

  @Test
  void outFoldersRootPathsConditionsAndOptionalSources(@TempDir Path tmp) throws Exception {
    Path data = Files.createDirectories(tmp.resolve("data"));
    Files.writeString(data.resolve("中文.jsonl"), "{\"instruction\": \"写一首诗\"}\n");
    Path model = Files.writeString(tmp.resolve("m.gguf"), "");
    Path root = Path.of("/out");
    Recipe all = Recipe.parse(GATHER, "yaml", "g.yaml", Map.of("data", data.toString(), "model", model.toString()))
        .decided();
    assertEquals(List.of("import", "--in", data + "/en.jsonl", "--out", "/out/import/en"), all.args(0, root, null, 0));
    assertEquals(List.of("dedup", "--in", "/out/import/*/data/*.jsonl", "--out", "/out/deduped"),
        all.args(2, root, null, 0));
    assertEquals(List.of("en", "zh"), all.stage("deduped").upstream(all.stage("zh")), "the glob reads both imports");
    assertEquals("/out/import/zh", all.args(3, root, null, 0).get(2), "@zh is its out folder");
    assertTrue(all.stages().stream().allMatch(s -> s.skip() == null));
    // spec-file: written under the root, its stage sources relative to it; optional dropped with an absent path
    Path outRoot = tmp.resolve("o");
    JsonNode spec = all.inlineSpec(4, outRoot);
    assertEquals(outRoot.resolve("mix-spec.json"), all.specPath(4, outRoot, outRoot.resolve(".recipe")));
    assertEquals("deduped", spec.get("sources").get(0).get("path").asText());
    assertEquals("gen", spec.get("sources").get(1).get("path").asText());
    assertEquals(2, spec.get("sources").size(), "extra.json is not there: " + spec);
    assertFalse(spec.get("sources").get(1).has("optional"), "optional is the recipe's, not the spec's");

    // without the Chinese file and the model: zh and gen are skipped, the blend drops gen, the glob reads en alone
    Files.delete(data.resolve("中文.jsonl"));
    Files.delete(model);
    Recipe some = Recipe.parse(GATHER, "yaml", "g.yaml", Map.of("data", data.toString(), "model", model.toString()))
        .decided();
    assertEquals(data + "/中文.jsonl does not exist", some.stage("zh").skip());
    assertEquals(model + " does not exist", some.stage("gen").skip(), "its own condition decides first");
    assertEquals(null, some.stage("deduped").skip());
    assertEquals(null, some.stage("mix").skip());
    assertEquals(1, some.stage("mix").with().get("spec").get("sources").size());
    Recipe reads = Recipe.parse(GATHER.replace(", when: {exists: '${model}'}", ""), "yaml", "g.yaml",
        Map.of("data", data.toString(), "model", model.toString())).decided();
    assertEquals("it reads stage zh, which is skipped", reads.stage("gen").skip());
  }

  @Test
  void badOutFoldersAndAlternativesAreErrors(@TempDir Path tmp) throws Exception {
    String[][] cases = {
        {"  - {name: a, type: import, in: x.jsonl, out: ../up}\n", "stays under it"},
        {"  - {name: a, type: import, in: x.jsonl, out: /abs}\n", "stays under it"},
        {"  - {name: a, type: import, in: x.jsonl, out: .recipe/a}\n", "the recipe's own folder"},
        {"  - {name: a, type: import, in: x.jsonl}\n  - {name: b, type: filter, out: a}\n", "is stage a's folder too"},
        {"  - {name: a, type: import, in: x.jsonl, spec-file: s.json}\n", "spec-file"},
        {"  - {name: a, type: import, in: '@/../x'}\n", "stays under it"},
    };
    for (String[] c : cases) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> Recipe.parse("name: x\nstages:\n" + c[0], "yaml", "r.yaml"));
      assertTrue(e.getMessage().contains(c[1]), c[0] + " -> " + e.getMessage());
    }
    // alternatives share a folder; both running is an error once conditions are decided
    Path here = Files.writeString(tmp.resolve("here.txt"), "");
    String both = "name: x\nstages:\n  - {name: a, type: import, in: x.jsonl, out: o, when: {exists: '" + here + "'}}\n"
        + "  - {name: b, type: import, in: y.jsonl, out: o, when: {missing: '" + tmp.resolve("nowhere") + "'}}\n";
    Recipe r = Recipe.parse(both, "yaml", "r.yaml");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::decided);
    assertTrue(e.getMessage().contains("stages a and b both run and both write o"), e.getMessage());
    Recipe one = Recipe.parse(both.replace("missing", "exists"), "yaml", "r.yaml").decided();
    assertEquals(tmp.resolve("nowhere") + " does not exist", one.stage("b").skip());
  }
}
