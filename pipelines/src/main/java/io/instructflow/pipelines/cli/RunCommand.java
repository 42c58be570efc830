package io.instructflow.pipelines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.runtime.RunReport;
import io.instructflow.pipelines.runtime.Storage;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code instructflow run RECIPE}: the stages of a {@link Recipe} in order, each as its command would run
 * it, into {@code OUT/<stage>} (or the stage's {@code out}); a stage whose {@code when} does not hold, or
 * that reads such a stage, is skipped with the reason ({@link Recipe#decided}). Everything is checked
 * before the first stage starts: the recipe against
 * its schema, every stage's options as its command parses them, and the settings of every stage whose
 * inputs already exist. A rerun skips each stage whose command line, inputs and upstream stages are
 * unchanged since it last finished, so a recipe stopped part way resumes where it stopped
 * ({@code --from} reruns from a stage on). Each stage's run summary names the recipe and its hash;
 * {@code OUT/recipe-summary.json} lists the stages with their counts and times.
 */
@Command(
    name = "run",
    mixinStandardHelpOptions = true,
    description = {
      "Run a recipe: stages (import, filter, dedup, generate, self-instruct, evol, pairs, score, tag, select, blend, "
          + "stats, audit) in order, each the command of its type with the options of its `with` block.",
      "Writes OUT/<stage>/ (or the stage's out) per stage and OUT/recipe-summary.json; stages whose `when` does not "
          + "hold are skipped, with the reason. See docs/recipes.md."
    })
public final class RunCommand implements Callable<Integer> {
  @Parameters(index = "0", arity = "0..1", paramLabel = "RECIPE", description = "The recipe (.yaml, .yml or .json).")
  Path recipeFile;

  @Option(names = "--out", paramLabel = "DIR", description = "Output root (overrides the recipe's `out`).")
  String out;

  @Option(names = "--dry-run", paramLabel = "N",
      description = "Check everything, then run every stage on the first N records of each input file into "
          + "OUT.dry-run (always from the start).")
  Long dryRun;

  @Option(names = "--from", paramLabel = "STAGE", description = "Rerun this stage and every stage after it, finished or not.")
  String from;

  @Option(names = "--no-fuse",
      description = "Run every stage as its own pipeline, instead of fusing consecutive import, filter and dedup "
          + "stages into one (same outputs either way).")
  boolean noFuse;

  @Option(names = "--print-schema", description = "Print the recipe JSON Schema and exit.")
  boolean printSchema;

  @Option(names = "--set", paramLabel = "NAME=VALUE",
      description = "Set a recipe variable ($${NAME} in the recipe), over its vars: value; repeatable.")
  Map<String, String> sets = new LinkedHashMap<>();

  @Mixin RunOptions run;

  /** Where a stage's run stands, as kept in {@code OUT/.recipe/<stage>.json}. */
  record StageState(String fingerprint, int exit) {}

  @Override
  public Integer call() throws Exception {
    PrintStream console = System.out;
    if (printSchema) {
      console.println(Json.pretty(RecipeSchema.tree()));
      return 0;
    }
    if (recipeFile == null) {
      throw new Main.UsageException("a recipe file is required (or --print-schema)");
    }
    if (!Files.isRegularFile(recipeFile)) {
      throw new Main.UsageException("no such recipe file: " + recipeFile);
    }
    if (dryRun != null && dryRun < 1) {
      throw new Main.UsageException("--dry-run must be at least 1, got " + dryRun);
    }
    Recipe recipe;
    try {
      recipe = Recipe.read(recipeFile, sets).decided();
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
    String rootText = out != null ? out : recipe.out();
    if (rootText == null) {
      throw new Main.UsageException("no output root: give --out DIR or `out:` in the recipe");
    }
    if (Storage.isUri(rootText)) {
      throw new Main.UsageException("--out: a recipe's output root is a local folder, got " + rootText);
    }
    Path root = Path.of(rootText).toAbsolutePath().normalize();
    long head = 0;
    if (dryRun != null) {
      root = root.resolveSibling(root.getFileName() + ".dry-run");
      head = dryRun;
    }
    if (from != null && recipe.stage(from) == null) {
      throw new Main.UsageException("--from: the recipe has no stage " + from);
    }
    List<String> runnerArgs = runnerArgs(run);
    Path state = root.resolve(".recipe");
    List<List<String>> commandLines = check(recipe, root, state, head, runnerArgs);
    Files.createDirectories(state);
    Files.writeString(state.resolve("recipe" + extension(recipeFile)), Files.readString(recipeFile, StandardCharsets.UTF_8),
        StandardCharsets.UTF_8);
    console.printf(Locale.ROOT, "run: recipe %s (%s), %d stage(s) -> %s%s%n", recipe.name(), recipe.hash().substring(0, 12),
        recipe.stages().size(), root, dryRun == null ? "" : " (dry run: the first " + dryRun + " records of each input file)");
    long started = System.nanoTime();
    Map<String, String> fingerprints = new HashMap<>();
    Map<String, Boolean> ranAgain = new HashMap<>();
    List<Map<String, Object>> rows = new ArrayList<>();
    boolean forced = dryRun != null;
    int exit = 0;
    for (int i = 0; i < recipe.stages().size(); i++) {
      Recipe.Stage s = recipe.stages().get(i);
      if (s.name().equals(from)) {
        forced = true;
      }
      List<String> args = commandLines.get(i);
      List<String> upstream = s.upstream(i == 0 ? null : recipe.stages().get(i - 1));
      String fingerprint = fingerprint(args, s, upstream, fingerprints);
      fingerprints.put(s.name(), fingerprint);
      boolean upstreamRan = upstream.stream().anyMatch(u -> ranAgain.getOrDefault(u, false));
      Path stateFile = state.resolve(s.name() + ".json");
      StageState before = readState(stateFile);
      Path stageOut = s.dir(root);
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("stage", s.name());
      row.put("type", s.type().type());
      row.put("out", stageOut.toString());
      if (s.skip() != null) {
        console.printf(Locale.ROOT, "run: stage %d/%d %s (%s): skipped, %s%n", i + 1, recipe.stages().size(), s.name(),
            s.type().type(), s.skip());
        row.put("status", "skipped");
        row.put("reason", s.skip());
        rows.add(row);
        continue;
      }
      if (!forced && !upstreamRan && before != null && before.exit() == 0 && before.fingerprint().equals(fingerprint)
          && Files.isRegularFile(stageOut.resolve("run-summary.json"))) {
        console.printf(Locale.ROOT, "run: stage %d/%d %s (%s): finished earlier with the same settings and inputs, skipped%n",
            i + 1, recipe.stages().size(), s.name(), s.type().type());
        ranAgain.put(s.name(), false);
        row.put("status", "skipped");
        row.putAll(counts(stageOut));
        rows.add(row);
        continue;
      }
      List<FusedStages.Member> group = noFuse ? List.of() : FusedStages.group(recipe, i, commandLines);
      Integer fused = group.size() > 1 ? runFused(group, recipe, state, root, fingerprints, ranAgain, rows, console) : null;
      if (fused != null) {
        if (group.stream().anyMatch(m -> m.stage().name().equals(from))) {
          forced = true;
        }
        if (fused != 0) {
          exit = fused;
          break;
        }
        i += group.size() - 1;
        continue;
      }
      console.printf(Locale.ROOT, "run: stage %d/%d %s (%s): %s%n", i + 1, recipe.stages().size(), s.name(),
          s.type().type(), String.join(" ", args));
      Files.deleteIfExists(stateFile);
      RunReport.inRecipe(Map.of("name", recipe.name(), "hash", recipe.hash(), "stage", s.name()));
      long t0 = System.nanoTime();
      int code;
      try {
        code = Main.execute(args.toArray(String[]::new));
      } finally {
        RunReport.inRecipe(null);
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      ranAgain.put(s.name(), true);
      row.put("status", code == 0 ? "ok" : "failed");
      row.put("exit", code);
      row.put("seconds", Math.round(seconds * 10) / 10.0);
      row.putAll(counts(stageOut));
      rows.add(row);
      Files.writeString(stateFile, Json.line(new StageState(fingerprint, code)) + "\n", StandardCharsets.UTF_8);
      if (code != 0) {
        console.printf(Locale.ROOT, "run: stage %s (%s) ended with exit status %d; the stages after it did not run "
            + "(fix it and run again: finished stages are skipped)%n", s.name(), s.type().type(), code);
        exit = code;
        break;
      }
    }
    double total = (System.nanoTime() - started) / 1e9;
    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("recipe", recipe.name());
    summary.put("hash", recipe.hash());
    summary.put("file", recipeFile.toAbsolutePath().toString());
    summary.put("dryRun", dryRun == null ? 0 : dryRun);
    summary.put("status", exit == 0 ? "ok" : "failed");
    summary.put("seconds", Math.round(total * 10) / 10.0);
    summary.put("stages", rows);
    Files.writeString(root.resolve("recipe-summary.json"), Json.pretty(summary) + "\n", StandardCharsets.UTF_8);
    printSummary(console, recipe, rows, total, exit);
    return exit;
  }

  /**
   * Runs {@code group} as one pipeline ({@link FusedStages}) and records each member as it ends, as the
   * loop records a stage run alone (its row, and its resume state at once); returns 0, the exit status of
   * the first member that failed, or null when the group could not be fused and nothing ran.
   */
  private static Integer runFused(List<FusedStages.Member> group, Recipe recipe, Path state, Path root,
      Map<String, String> fingerprints, Map<String, Boolean> ranAgain, List<Map<String, Object>> rows, PrintStream console)
      throws IOException {
    int n = recipe.stages().size();
    List<String> names = new ArrayList<>();
    Map<String, String> prints = new HashMap<>();
    for (FusedStages.Member m : group) {
      int i = m.index();
      Recipe.Stage s = m.stage();
      List<String> upstream = s.upstream(i == 0 ? null : recipe.stages().get(i - 1));
      prints.put(s.name(), fingerprint(m.args(), s, upstream, fingerprints));
      fingerprints.put(s.name(), prints.get(s.name()));
      names.add(s.name());
    }
    String label = String.join("+", names);
    for (FusedStages.Member m : group) {
      console.printf(Locale.ROOT, "run: stage %d/%d %s (%s): %s%n", m.index() + 1, n, m.stage().name(),
          m.stage().type().type(), String.join(" ", m.args()));
    }
    console.printf(Locale.ROOT, "run: stages %s fused into one pipeline (no disk round trip between them; the same "
        + "outputs as run one by one)%n", label);
    for (FusedStages.Member m : group) {
      Files.deleteIfExists(state.resolve(m.stage().name() + ".json"));
    }
    long t0 = System.nanoTime();
    int[] exit = {0};
    boolean ran = FusedStages.run(group, recipe, console, (m, code) -> {
      Recipe.Stage s = m.stage();
      Path stageOut = s.dir(root);
      ranAgain.put(s.name(), true);
      Map<String, Object> row = new LinkedHashMap<>();
      row.put("stage", s.name());
      row.put("type", s.type().type());
      row.put("out", stageOut.toString());
      row.put("status", code == null ? "not finished" : code == 0 ? "ok" : "failed");
      if (code != null) {
        row.put("exit", code);
      }
      // the one pipeline's time and this stage's finish (publishing, an ordered pass), from the group's start
      row.put("seconds", Math.round((System.nanoTime() - t0) / 1e8) / 10.0);
      row.put("fused", label);
      if (code != null) {
        row.putAll(counts(stageOut));
        Files.writeString(state.resolve(s.name() + ".json"), Json.line(new StageState(prints.get(s.name()), code)) + "\n",
            StandardCharsets.UTF_8);
      }
      rows.add(row);
      if (code != null && code != 0 && exit[0] == 0) {
        exit[0] = code;
        console.printf(Locale.ROOT, "run: stage %s (%s) ended with exit status %d; the stages after it did not finish "
            + "(fix it and run again: finished stages are skipped)%n", s.name(), s.type().type(), code);
      }
    });
    if (!ran) {
      return null;
    }
    return exit[0];
  }

  /**
   * Makes every stage's command line (writing inline blend specs), parses each as its command would, and
   * checks the settings of each stage whose inputs exist before the run (the others are checked as they
   * start); returns the command lines, by stage.
   */
  private List<List<String>> check(Recipe recipe, Path root, Path state, long head, List<String> runnerArgs)
      throws Exception {
    List<List<String>> commandLines = new ArrayList<>();
    for (int i = 0; i < recipe.stages().size(); i++) {
      Recipe.Stage s = recipe.stages().get(i);
      List<String> args = stageArgs(recipe, i, root, state, head, runnerArgs);
      commandLines.add(args);
      CommandLine cl = new CommandLine(new Main());
      CommandHelp.attach(cl);
      CommandLine.ParseResult parsed;
      try {
        parsed = cl.parseArgs(args.toArray(String[]::new));
      } catch (CommandLine.ParameterException e) {
        throw new Main.UsageException("stage " + s.name() + " (" + s.type().type() + "): " + e.getMessage());
      }
      Object command = parsed.subcommand().commandSpec().userObject();
      boolean inputsReady = s.skip() == null && s.upstream(i == 0 ? null : recipe.stages().get(i - 1)).isEmpty();
      if (inputsReady && command instanceof PipelineCommand<?> pc) {
        try {
          pc.configure();
        } catch (IllegalArgumentException e) {
          throw new Main.UsageException("stage " + s.name() + " (" + s.type().type() + "): " + e.getMessage());
        }
      }
    }
    return commandLines;
  }

  /** The stage's full command line; an inline blend spec is written under {@code state} first. */
  private static List<String> stageArgs(Recipe recipe, int i, Path root, Path state, long head, List<String> runnerArgs)
      throws IOException {
    Recipe.Stage s = recipe.stages().get(i);
    Path spec = recipe.specPath(i, root, state);
    if (s.type().type().equals("blend") && s.with().get("spec") != null && s.with().get("spec").isObject()) {
      Files.createDirectories(spec.getParent());
      Files.writeString(spec, Json.pretty(recipe.inlineSpec(i, root)) + "\n", StandardCharsets.UTF_8);
    }
    List<String> args = new ArrayList<>(recipe.args(i, root, spec, head));
    args.addAll(runnerArgs);
    return args;
  }

  /** The runner and storage options of {@code run} (or {@code demo}), passed on to every stage. */
  static List<String> runnerArgs(RunOptions run) {
    List<String> a = new ArrayList<>(List.of("--runner", run.runner));
    if (run.sparkMaster != null) {
      a.addAll(List.of("--spark-master", run.sparkMaster));
    }
    if (run.s3Endpoint != null) {
      a.addAll(List.of("--s3-endpoint", run.s3Endpoint));
    }
    if (run.s3Region != null) {
      a.addAll(List.of("--s3-region", run.s3Region));
    }
    if (run.s3PathStyle) {
      a.add("--s3-path-style");
    }
    return a;
  }

  /**
   * What decides a stage's output: its command line, its upstream stages' fingerprints and, for inputs and
   * files outside the recipe's outputs, each local file's path, size and modification time.
   */
  private static String fingerprint(List<String> args, Recipe.Stage s, List<String> upstream,
      Map<String, String> fingerprints) throws IOException {
    StringBuilder b = new StringBuilder(String.join("\u0000", args));
    for (String u : upstream) {
      b.append("\u0001").append(u).append('=').append(fingerprints.get(u));
    }
    for (String in : s.in()) {
      if (!in.startsWith("@")) {
        b.append("\u0002").append(fileStamps(in));
      }
    }
    return Ids.sha256Hex(b.toString().getBytes(StandardCharsets.UTF_8));
  }

  /** Path, size and modification time of each local file under {@code path}; empty for a URI or a glob. */
  private static String fileStamps(String path) throws IOException {
    if (Storage.isUri(path) || path.contains("*") || path.contains("?")) {
      return "";
    }
    Path p = Path.of(path);
    if (!Files.exists(p)) {
      return "";
    }
    StringBuilder b = new StringBuilder();
    try (Stream<Path> files = Files.walk(p)) {
      for (Path f : (Iterable<Path>) files.sorted()::iterator) {
        BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
        if (a.isRegularFile()) {
          b.append(f).append(':').append(a.size()).append(':').append(a.lastModifiedTime().toMillis()).append('\n');
        }
      }
    }
    return b.toString();
  }

  private static StageState readState(Path file) {
    try {
      return Files.isRegularFile(file) ? Json.parse(Files.readString(file, StandardCharsets.UTF_8).trim(), StageState.class)
          : null;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /** The counts of a stage's run summary, when it wrote one. */
  private static Map<String, Object> counts(Path stageOut) {
    Map<String, Object> m = new LinkedHashMap<>();
    Path summary = stageOut.resolve("run-summary.json");
    try {
      if (Files.isRegularFile(summary)) {
        JsonNode counts = Json.mapper().readTree(Files.readString(summary, StandardCharsets.UTF_8)).path("counts");
        for (String k : List.of("read", "kept", "filtered", "rejected")) {
          if (counts.has(k)) {
            m.put(k, counts.get(k).asLong());
          }
        }
      }
    } catch (IOException | RuntimeException e) {
      m.put("summary", "unreadable: " + e.getMessage());
    }
    return m;
  }

  private static void printSummary(PrintStream console, Recipe recipe, List<Map<String, Object>> rows, double total,
      int exit) {
    console.printf(Locale.ROOT, "run: recipe %s %s in %.1f s%n", recipe.name(), exit == 0 ? "finished" : "stopped", total);
    console.printf(Locale.ROOT, "  %-18s %-13s %-8s %10s %10s %10s %10s %8s%n", "stage", "type", "status", "read", "kept",
        "filtered", "rejected", "seconds");
    for (Map<String, Object> r : rows) {
      console.printf(Locale.ROOT, "  %-18s %-13s %-8s %10s %10s %10s %10s %8s%n", r.get("stage"), r.get("type"),
          r.get("status"), n(r.get("read")), n(r.get("kept")), n(r.get("filtered")), n(r.get("rejected")),
          r.containsKey("seconds") ? r.get("seconds") : "-");
    }
  }

  private static String n(Object o) {
    return o instanceof Long l ? String.format(Locale.ROOT, "%,d", l) : "-";
  }

  private static String extension(Path file) {
    String name = file.getFileName().toString();
    int dot = name.lastIndexOf('.');
    return dot < 0 ? ".yaml" : name.substring(dot);
  }
}
