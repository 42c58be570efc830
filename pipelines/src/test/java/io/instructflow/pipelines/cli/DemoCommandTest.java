package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.quality.DecontaminationFilter;
import io.instructflow.filters.rouge.DedupText;
import io.instructflow.generators.evol.Evol;
import io.instructflow.generators.pairs.Binarize;
import io.instructflow.generators.pairs.CandidateSpec;
import io.instructflow.generators.selfinstruct.SelfInstruct;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.audit.AuditPipeline;
import io.instructflow.pipelines.audit.AuditTerms;
import io.instructflow.pipelines.blend.BlendPipeline;
import io.instructflow.pipelines.blend.BlendSpec;
import io.instructflow.pipelines.dedup.DedupPipeline;
import io.instructflow.pipelines.evol.EvolPipeline;
import io.instructflow.pipelines.filter.FilterPipeline;
import io.instructflow.pipelines.generate.GeneratePipeline;
import io.instructflow.pipelines.importer.ImportPipeline;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.pairs.PairsPipeline;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.selfinstruct.SelfInstructPipeline;
import io.instructflow.pipelines.stats.StatsPipeline;
import io.instructflow.schemas.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code instructflow demo} as the shipped recipe (issue 20): its outputs are those of the pipeline calls
 * the demo made before it was a recipe, its model stages get the settings those calls used, the docs
 * show the recipe as shipped, and the pair prompts are the first six seed instructions.
 */
class DemoCommandTest {
  static final Path RECIPES_DOC = Path.of("..", "docs", "recipes.md");

  static String resource(String name) throws IOException {
    try (InputStream in = DemoCommand.class.getResourceAsStream(name)) {
      assertNotNull(in, name);
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void theDocsShowTheShippedRecipe() throws IOException {
    String doc = Files.readString(RECIPES_DOC, StandardCharsets.UTF_8);
    assertTrue(doc.contains("```yaml\n" + resource(DemoCommand.RECIPE_RESOURCE) + "```\n"),
        "docs/recipes.md, The demo as a recipe: copy " + DemoCommand.RECIPE_RESOURCE + " into it");
  }

  @Test
  void thePairPromptsAreTheFirstSixSeedInstructions() throws IOException {
    StringBuilder b = new StringBuilder();
    List<String> seeds = resource(DemoCommand.SEEDS_RESOURCE).lines().toList();
    for (String l : seeds.subList(0, 6)) {
      b.append(Json.line(Map.of("prompt", Json.mapper().readTree(l).path("instruction").asText()))).append('\n');
    }
    assertEquals(b.toString(), resource(DemoCommand.PAIR_PROMPTS_RESOURCE));
    assertTrue(b.toString().contains("请帮我写一段简短的请假申请"), "the Chinese seed prompts are among them");
  }

  /** The demo recipe with its variables set as {@code demo} sets them for {@code root}, its conditions decided. */
  static Recipe demoRecipe(Path root, Path data, Path model) throws IOException {
    return Recipe.parse(resource(DemoCommand.RECIPE_RESOURCE), "yaml", "demo.yaml", Map.of("inputs",
        root.resolve("inputs").toString(), "data", data.toString(), "model", model.toString())).decided();
  }

  /** What the command of stage {@code name} configures from the recipe's command line. */
  static Object configured(Recipe r, String name, Path root) throws Exception {
    int i = r.stages().indexOf(r.stage(name));
    List<String> args = new ArrayList<>(r.args(i, root, null, 0));
    args.addAll(List.of("--runner", "direct"));
    CommandLine cl = new CommandLine(new Main());
    Object command = cl.parseArgs(args.toArray(String[]::new)).subcommand().commandSpec().userObject();
    return ((PipelineCommand<?>) command).configure();
  }

  @Test
  void theModelStagesGetTheSettingsTheDemoAlwaysUsed(@TempDir Path tmp) throws Exception {
    Path data = Files.createDirectories(tmp.resolve("data/seed"));
    Path published = Files.writeString(data.resolve("self-instruct_seed_tasks.jsonl"),
        resource(DemoCommand.SEEDS_RESOURCE));
    Path gguf = Files.writeString(tmp.resolve("model.gguf"), "");
    Path root = tmp.resolve("out");
    Files.createDirectories(root.resolve("inputs"));
    Path seeds = Files.writeString(root.resolve("inputs/instructflow-seeds.jsonl"), resource(DemoCommand.SEEDS_RESOURCE));
    Recipe r = demoRecipe(root, tmp.resolve("data"), gguf);
    String model = gguf.toAbsolutePath().toString();
    Runner runner = new Runner("direct", null);

    GeneratePipeline.Config g = (GeneratePipeline.Config) configured(r, "generate", root);
    assertEquals(root.resolve("import/instructflow-seeds").toString(), g.read().in());
    assertEquals(new GeneratePipeline.Config(g.read(), root.resolve("generate").toString(),
        ModelSpec.local(model, 1, 0, 1, 0, false, root.resolve("generate/cache").toString()), SamplingParams.greedy(48), 0,
        16, 50_000, runner), g);

    // published seeds there: the self-instruct stage runs on them, its alternative on ours is skipped
    assertNull(r.stage("self-instruct").skip());
    assertTrue(r.stage("self-instruct-own-seeds").skip().endsWith("self-instruct_seed_tasks.jsonl exists"));
    SelfInstruct.Settings s = SelfInstruct.Settings.defaults(SelfInstruct.Preset.SELF_INSTRUCT, 0).withPromptsPerRound(3);
    s = s.withParams(new SamplingParams(48, 0.7, 0.5, 0, List.of("."), 1), s.classifyParams(),
        new SamplingParams(32, 0, 1, 0, s.instanceParams().stop(), 1)).withOrigin("self-instruct-demo", "Apache-2.0");
    ModelSpec siModel = ModelSpec.local(model, 1, 4096, 1, 0, false, root.resolve("self-instruct/cache").toString());
    assertEquals(new SelfInstructPipeline.Config(published.toAbsolutePath(), root.resolve("self-instruct").toString(),
        siModel, s, null, 100, 2, 16, 50_000, runner, 0), configured(r, "self-instruct", root));
    Files.delete(published);
    Recipe own = demoRecipe(root, tmp.resolve("data"), gguf);
    assertNull(own.stage("self-instruct-own-seeds").skip());
    assertTrue(own.stage("self-instruct").skip().endsWith("self-instruct_seed_tasks.jsonl does not exist"));
    assertEquals(new SelfInstructPipeline.Config(seeds.toAbsolutePath(), root.resolve("self-instruct").toString(),
        siModel, s, null, 100, 2, 16, 50_000, runner, 0), configured(own, "self-instruct-own-seeds", root));

    Evol.Settings d = Evol.Settings.defaults(0);
    Evol.Settings e = d.withParams(new SamplingParams(48, 0.7, 0.95, 0, List.of("."), 1), d.judgeParams(),
        new SamplingParams(48, 0, 1, 0, List.of("."), 1));
    assertEquals(new EvolPipeline.Config(new ReadOptions(seeds.toString(), null, "instructflow-seeds", "Apache-2.0", 1 << 20),
        root.resolve("evol").toString(), ModelSpec.local(model, 1, 0, 1, 0, false, root.resolve("evol/cache").toString()),
        e, null, 2, false, 16, 50_000, runner, 0), configured(r, "evol", root));

    ModelSpec pairModel = ModelSpec.local(model, 2, 0, 0, 0, false, root.resolve("pairs/cache").toString());
    assertEquals(PairsPipeline.Config.of(root.resolve("inputs/pair-prompts.jsonl").toString(),
        root.resolve("pairs").toString(), "Apache-2.0",
        CandidateSpec.parseList(model + ":t=0.7:n=2:max=48," + model + ":t=1.0:n=2:max=48"), List.of(pairModel, pairModel),
        pairModel, 1.0, Binarize.Strategy.BEST_VS_RANDOM, 0, 0, 50_000, runner), configured(r, "pairs", root));

    // without the model every model stage is skipped, and the blend leaves out the generated source
    Recipe noModel = demoRecipe(root, tmp.resolve("data"), tmp.resolve("none.gguf"));
    for (String stage : List.of("generate", "self-instruct", "self-instruct-own-seeds", "evol", "pairs")) {
      assertTrue(noModel.stage(stage).skip().contains("none.gguf does not exist"), stage);
    }
    assertNull(noModel.stage("blend").skip());
    assertEquals(1, noModel.stage("blend").with().get("spec").get("sources").size(), "only the filtered imports");
  }

  /**
   * Shared data in miniature: an English and Chinese corpus with a near-duplicate of a seed task and a
   * benchmark item in it, one benchmark file of the six, and the roleplay set the blend draws on.
   */
  static Path miniData(Path dir) throws IOException {
    Path data = dir.resolve("data");
    Files.createDirectories(data.resolve("corpora/alpagasus"));
    Files.createDirectories(data.resolve("corpora/gpteacher"));
    Files.createDirectories(data.resolve("eval"));
    List<Map<String, String>> dolly = new ArrayList<>();
    dolly.add(alpaca("Compose a short thank-you note to a neighbor who watered your plants while you traveled.",
        "Dear Ann, thank you for looking after my plants."));
    dolly.add(alpaca("用三句话介绍长城的历史。", "长城始建于春秋战国时期。秦朝把各国长城连接起来。明朝又大规模重修。"));
    dolly.add(alpaca("Compose a poem about the first snow of winter falling on a quiet mountain village.",
        "White hush on the roofs, smoke curls from every chimney, the village sleeps in wool."));
    dolly.add(alpaca("Explain why the sky looks blue on a clear day, in two sentences.",
        "Air molecules scatter short blue wavelengths of sunlight more than long red ones. So blue light reaches our "
            + "eyes from every direction of the sky."));
    dolly.add(alpaca("What is your email address?", "Write to me at jane.doe@example.com any time."));
    dolly.add(alpaca("列出三种常见的水果，并简单说明它们的营养价值。", "苹果富含膳食纤维，香蕉含钾丰富，橙子富含维生素C。"));
    Files.writeString(data.resolve("corpora/alpagasus/dolly_3k.json"), Json.pretty(dolly));
    Files.writeString(data.resolve("eval/mt_bench_question.jsonl"), Json.line(Map.of("question_id", 81, "category",
        "writing", "turns", List.of("Compose a poem about the first snow of winter falling on a quiet mountain village."))) + "\n");
    List<Map<String, String>> roleplay = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      roleplay.add(Map.of("instruction", "Pretend you are a lighthouse keeper on night " + i + " and describe the storm.",
          "input", "", "response", "The lamp turns, the sea roars, and I keep the light burning until dawn " + i + "."));
    }
    Files.writeString(data.resolve("corpora/gpteacher/roleplay-simple-deduped-roleplay-instruct.json"), Json.pretty(roleplay));
    return data;
  }

  private static Map<String, String> alpaca(String instruction, String output) {
    Map<String, String> m = new LinkedHashMap<>();
    m.put("instruction", instruction);
    m.put("input", "");
    m.put("output", output);
    return m;
  }

  /**
   * The calls the demo made before it was a recipe (without a model), into {@code root}: the shipped
   * seeds and dolly-3k imported, the ROUGE-L dedup over the imports, sft-default with decontamination
   * against the benchmark files there, statistics, the blend from a spec file beside the stages, and the
   * audit.
   */
  static void directCalls(Path data, Path root) throws Exception {
    Runner runner = new Runner("direct", null);
    PrintStream con = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    Files.createDirectories(root.resolve("inputs"));
    Path seeds = Files.writeString(root.resolve("inputs/instructflow-seeds.jsonl"), resource(DemoCommand.SEEDS_RESOURCE));
    ImportPipeline.run(new ImportPipeline.Config(new ReadOptions(seeds.toString(), null, "instructflow-seeds", "Apache-2.0",
        1 << 20), root.resolve("import/instructflow-seeds").toString(), 50_000, null, runner), con);
    ImportPipeline.run(new ImportPipeline.Config(new ReadOptions(data.resolve("corpora/alpagasus/dolly_3k.json").toString(),
        null, "dolly-3k", "CC-BY-SA-3.0", 1 << 20), root.resolve("import/dolly-3k").toString(), 50_000, null, runner), con);
    DedupPipeline.run(new DedupPipeline.Config(ReadOptions.of(root.resolve("import") + "/*/data/*.jsonl"),
        root.resolve("dedup").toString(), 0.7, DedupText.INSTRUCTION, "unicode", false, null, "sequential", 50_000, runner),
        con);
    List<String> benchmarks = List.of(data.resolve("eval/mt_bench_question.jsonl").toAbsolutePath().toString());
    FilterChain chain = FilterChain.preset("sft-default").plus(DecontaminationFilter.of(benchmarks),
        String.join("\n", benchmarks));
    FilterPipeline.run(new FilterPipeline.Config(ReadOptions.of(root.resolve("dedup/data").toString()),
        root.resolve("filter").toString(), chain, List.of(), null, 50_000, runner), con);
    StatsPipeline.run(new StatsPipeline.Config(ReadOptions.of(root.resolve("filter/data").toString()),
        root.resolve("stats").toString(), runner), con);
    Map<String, Object> spec = new LinkedHashMap<>();
    spec.put("name", "instructflow-demo-mix");
    spec.put("target", 1500);
    spec.put("seed", 0);
    spec.put("validation", 0.05);
    spec.put("sources", List.of(Map.of("path", "filter", "name", "filtered-imports", "weight", 0.7),
        Map.of("path", data.resolve("corpora/gpteacher/roleplay-simple-deduped-roleplay-instruct.json").toAbsolutePath()
            .toString(), "name", "gpteacher-roleplay", "license", "MIT", "weight", 0.3)));
    spec.put("formats", List.of("jsonl", "messages", "parquet"));
    Path specFile = Files.writeString(root.resolve("blend-spec.json"), Json.pretty(spec) + "\n");
    BlendPipeline.run(new BlendPipeline.Config(BlendSpec.read(specFile), root.resolve("blend").toString(), runner), con);
    AuditPipeline.run(new AuditPipeline.Config(List.of(root.resolve("blend").toString()), root.resolve("audit").toString(),
        "commercial", AuditTerms.load(null), runner), con);
  }

  @Test
  void theRecipeWritesWhatTheDemosPipelineCallsWrote(@TempDir Path tmp) throws Exception {
    Path data = miniData(tmp);
    Path recipe = tmp.resolve("recipe");
    // no --model: the default (../shared/models beside the module) is not there, so the model stages are skipped
    String out = MainTest.cli(0, "demo", "--out", recipe.toString(), "--runner", "direct", "--data-dir",
        data.toString())[0];
    assertTrue(out.contains("== demo finished"), out);
    assertTrue(out.contains("skipped: generate, self-instruct and evol: no model at"), out);
    assertTrue(out.contains("skipped: shared source corpora/alpaca_zh_carbonz0/zh-data-part-00.json: not found under "
        + data), out);
    assertTrue(out.contains("  import dolly-3k "), out);
    assertTrue(out.contains("  filter (sft-default) "), out);
    // the run's own summary says what was skipped and why
    com.fasterxml.jackson.databind.JsonNode rows = Json.mapper().readTree(
        Files.readString(recipe.resolve("recipe-summary.json"), StandardCharsets.UTF_8)).path("stages");
    Map<String, String> status = new LinkedHashMap<>();
    rows.forEach(r -> status.put(r.path("stage").asText(), r.path("status").asText() + " " + r.path("reason").asText("")));
    assertEquals("skipped " + data.toAbsolutePath().normalize().resolve("corpora/alpaca_zh_carbonz0/zh-data-part-00.json")
        + " does not exist", status.get("alpaca-zh"));
    assertEquals("ok ", status.get("dolly-3k"));
    assertTrue(status.get("pairs").startsWith("skipped ") && status.get("pairs").endsWith("stories260K.gguf does not exist"),
        status.toString());
    Path direct = tmp.resolve("direct");
    directCalls(data.toAbsolutePath().normalize(), direct);
    for (String stage : List.of("import/instructflow-seeds", "import/dolly-3k", "dedup", "filter", "stats", "blend",
        "audit")) {
      assertEquals(RunCommandTest.outputs(direct.resolve(stage)), RunCommandTest.outputs(recipe.resolve(stage)), stage);
    }
    String dropped = String.join("\n", TestFiles.lines(new OutputLayout(recipe.resolve("filter").toString()),
        OutputLayout.Kind.FILTERED));
    assertTrue(dropped.contains("decontamination") && dropped.contains("first snow"), "the benchmark item: " + dropped);
    for (String f : List.of("blend-spec.json", "blend/README.md", "blend/blend-plan.json",
        "blend/export/jsonl/train-00000.jsonl", "blend/export/messages/validation-00000.jsonl",
        "blend/export/parquet/train-00000.parquet", "stats/stats.json")) {
      assertArrayEquals(Files.readAllBytes(direct.resolve(f)), Files.readAllBytes(recipe.resolve(f)), f);
    }
  }
}
