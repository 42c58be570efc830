package io.instructflow.pipelines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stats.StatsPipeline;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code instructflow demo}: the main job on the embedded default runner. Runs the most complete
 * curation path that exists in this version on data that ships with the repository, plus the shared
 * public data when it is there, and says what it skipped and why.
 *
 * <p>The path is the shipped recipe {@value #RECIPE_RESOURCE} (issue 20; docs/recipes.md shows it):
 * import our own seed tasks (English and Chinese, Apache-2.0, shipped in the jar) → import a few shared
 * public sets, each with its license → ROUGE-L near-duplicate filtering over everything imported → the
 * sft-default filter chain with decontamination → statistics of the result → with the toy model: a
 * completion per seed, two small Self-Instruct rounds, two Evol-Instruct epochs and preference pairs →
 * a blend with a dataset card → its audit. This command is its front: it writes the shipped inputs
 * into {@code OUT/inputs/}, runs the recipe as {@code instructflow run} does (every stage from the
 * start, {@code inputs}, {@code data} and {@code model} set from its options) and prints the demo's table of stages
 * and what was skipped. Its exit status is the run's: 0, or that of the stage that stopped it.
 */
@Command(
    name = "demo",
    mixinStandardHelpOptions = true,
    description = {
      "Run the main curation path end to end on shipped and shared data, on the embedded Spark runner.",
      "Uses ../shared/data and ../shared/models when present (--data-dir, --model to point elsewhere)."
    })
public final class DemoCommand implements Callable<Integer> {
  /** Our seed tasks, shipped in the jar. */
  static final String SEEDS_RESOURCE = "/io/instructflow/pipelines/demo/seed_tasks.jsonl";

  /** The prompts of the first six seed tasks, {@code {"prompt": ...}} a line, for the pairs stage. */
  static final String PAIR_PROMPTS_RESOURCE = "/io/instructflow/pipelines/demo/pair_prompts.jsonl";

  /** The demo's recipe, shipped in the jar. */
  static final String RECIPE_RESOURCE = "/io/instructflow/pipelines/demo/demo.yaml";

  /** The stage that starts the recipe: the run is forced from it, so every stage runs again. */
  static final String FIRST_STAGE = "instructflow-seeds";

  /** The demo table's name of each stage type (an import is named {@code import NAME}). */
  static final Map<String, String> LABELS = Map.of("dedup", "dedup (ROUGE-L > 0.7)", "filter", "filter (sft-default)",
      "stats", "stats", "generate", "generate (llama.cpp)", "self-instruct", "self-instruct (2 rounds)",
      "evol", "evol (2 epochs)", "pairs", "pairs (DPO)", "blend", "blend", "audit", "audit (commercial use)");

  @Mixin RunOptions run;

  @Option(names = "--out", defaultValue = "demo-out", paramLabel = "DIR", description = "Output folder. Default: ${DEFAULT-VALUE}.")
  String out;

  @Option(names = "--data-dir", paramLabel = "DIR",
      description = "Shared public data (default: ../shared/data beside the repository).")
  String dataDir;

  @Option(names = "--model", paramLabel = "GGUF",
      description = "GGUF model for generation stages (default: ../shared/models/stories260K.gguf).")
  String model;

  @Override
  public Integer call() throws Exception {
    PrintStream con = System.out;
    Runner runner = run.toRunner();
    Path root = Paths.get(out).toAbsolutePath().normalize();
    Path home = Paths.get(System.getProperty("instructflow.home", ".")).toAbsolutePath().normalize();
    Path data = dataDir != null ? Paths.get(dataDir) : home.resolve("../shared/data").normalize();
    Path gguf = model != null ? Paths.get(model) : home.resolve("../shared/models/stories260K.gguf").normalize();
    if (dataDir != null && !Files.isDirectory(data)) {
      throw new Main.UsageException("--data-dir is not a folder: " + dataDir);
    }
    if (model != null && !Files.isRegularFile(gguf)) {
      throw new Main.UsageException("--model does not exist: " + model);
    }
    long t0 = System.nanoTime();

    // imports of an earlier demo run in the same folder would be read by the dedup stage's glob; rounds and
    // epochs of an earlier run would be resumed instead of run again
    deleteTree(root.resolve("import"));
    if (Files.isRegularFile(gguf)) {
      deleteTree(root.resolve("self-instruct").resolve("rounds"));
      deleteTree(root.resolve("evol").resolve("epochs"));
    }
    Files.deleteIfExists(root.resolve("recipe-summary.json"));
    Path inputs = root.resolve("inputs");
    Files.createDirectories(inputs);
    copyResource(SEEDS_RESOURCE, inputs.resolve("instructflow-seeds.jsonl"));
    copyResource(PAIR_PROMPTS_RESOURCE, inputs.resolve("pair-prompts.jsonl"));
    Path recipeFile = inputs.resolve("demo.yaml");
    copyResource(RECIPE_RESOURCE, recipeFile);

    Map<String, String> sets = new java.util.LinkedHashMap<>();
    sets.put("inputs", inputs.toString());
    sets.put("data", data.toAbsolutePath().normalize().toString());
    sets.put("model", gguf.toAbsolutePath().toString());
    List<String> args = new ArrayList<>(List.of("run", recipeFile.toString(), "--out", root.toString(), "--from",
        FIRST_STAGE));
    sets.forEach((k, v) -> args.addAll(List.of("--set", k + "=" + v)));
    args.addAll(RunCommand.runnerArgs(run));
    int exit = Main.execute(args.toArray(String[]::new));
    Path summary = root.resolve("recipe-summary.json");
    if (!Files.isRegularFile(summary)) {
      return exit;
    }
    Recipe recipe = Recipe.read(recipeFile, sets).decided();

    List<String[]> rows = new ArrayList<>();
    JsonNode ran = Json.mapper().readTree(Files.readString(summary, StandardCharsets.UTF_8)).path("stages");
    for (JsonNode r : ran) {
      if (r.path("status").asText().equals("skipped")) {
        continue;
      }
      rows.add(row(recipe.stage(r.path("stage").asText()), Path.of(r.path("out").asText())));
    }
    con.printf("%n== demo finished in %.1f s on %s ==%n", (System.nanoTime() - t0) / 1e9, runner.describe());
    con.printf(Locale.ROOT, "  %-28s %-8s %9s %9s %9s %9s  %s%n", "stage", "status", "read", "kept", "filtered", "rejected", "output");
    for (String[] r : rows) {
      con.printf(Locale.ROOT, "  %-28s %-8s %9s %9s %9s %9s  %s%n", (Object[]) r);
    }
    for (String s : skipped(recipe, data, gguf)) {
      con.println("  skipped: " + s);
    }
    con.println("  statistics: " + root.resolve("stats").resolve(StatsPipeline.STATS_FILE));
    return exit;
  }

  /** The demo table's row of a stage that ran: its name, status and counts from its run summary, its folder. */
  private static String[] row(Recipe.Stage stage, Path dir) throws IOException {
    String type = stage.type().type();
    String label = type.equals("import") ? "import " + stage.name() : LABELS.getOrDefault(type, stage.name());
    Path file = dir.resolve("run-summary.json");
    if (!Files.isRegularFile(file)) {
      return new String[] {label, "failed", "-", "-", "-", "-", dir.toString()};
    }
    JsonNode s = Json.mapper().readTree(Files.readString(file, StandardCharsets.UTF_8));
    JsonNode c = s.path("counts");
    if (type.equals("stats")) {
      return new String[] {label, s.path("status").asText(), c.path("read").asText(), "-", "-", "-", dir.toString()};
    }
    return new String[] {label, s.path("status").asText(), c.path("read").asText(), c.path("kept").asText(),
        type.equals("import") ? "0" : c.path("filtered").asText(), c.path("rejected").asText(), dir.toString()};
  }

  /**
   * What the demo left out and why, from the recipe's decisions: the shared sources that are not there
   * (or the whole shared data), decontamination when no evaluation set is there, the model stages when
   * the model is not.
   */
  private static List<String> skipped(Recipe recipe, Path data, Path gguf) {
    List<String> out = new ArrayList<>();
    if (!Files.isDirectory(data)) {
      out.add("shared public data: " + data + " is not there (pass --data-dir DIR); only the shipped seed tasks were used");
    } else {
      Path abs = data.toAbsolutePath().normalize();
      for (Recipe.Stage s : recipe.stages()) {
        if (s.type().type().equals("import") && s.skip() != null && !s.in().isEmpty()) {
          Path in = Path.of(s.in().get(0));
          String rel = in.startsWith(abs) ? abs.relativize(in).toString().replace('\\', '/') : in.toString();
          out.add("shared source " + rel + ": not found under " + data);
        }
      }
    }
    Recipe.Stage filter = recipe.stage("filter");
    boolean anyBenchmark = false;
    for (JsonNode b : filter.with().getOrDefault("benchmarks", Json.mapper().createArrayNode())) {
      anyBenchmark |= Files.isRegularFile(Path.of(b.asText()));
    }
    if (!anyBenchmark) {
      out.add("decontamination: no benchmark files under " + data.resolve("eval"));
    }
    Recipe.Stage generate = recipe.stage("generate");
    if (generate.skip() != null) {
      out.add("generate, self-instruct and evol: no model at " + gguf + " (pass --model GGUF)");
    }
    return out;
  }

  private static void copyResource(String resource, Path to) throws IOException {
    try (InputStream in = DemoCommand.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IOException("the jar lacks " + resource);
      }
      Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  private static void deleteTree(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      return;
    }
    try (var walk = Files.walk(dir)) {
      for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }
}
