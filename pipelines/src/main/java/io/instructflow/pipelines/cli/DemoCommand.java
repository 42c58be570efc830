package io.instructflow.pipelines.cli;

import io.instructflow.generators.pairs.Binarize;
import io.instructflow.generators.pairs.CandidateSpec;
import io.instructflow.pipelines.audit.AuditPipeline;
import io.instructflow.pipelines.audit.AuditTerms;
import io.instructflow.pipelines.blend.BlendPipeline;
import io.instructflow.pipelines.pairs.PairsPipeline;
import io.instructflow.pipelines.blend.BlendSpec;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.schemas.Json;
import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.quality.DecontaminationFilter;
import io.instructflow.filters.rouge.DedupText;
import io.instructflow.generators.evol.Evol;
import io.instructflow.generators.selfinstruct.SelfInstruct;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.dedup.DedupPipeline;
import io.instructflow.pipelines.evol.EvolPipeline;
import io.instructflow.pipelines.filter.FilterPipeline;
import io.instructflow.pipelines.generate.GeneratePipeline;
import io.instructflow.pipelines.importer.ImportPipeline;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.RunReport;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.selfinstruct.SelfInstructPipeline;
import io.instructflow.pipelines.stats.StatsPipeline;
import io.instructflow.schemas.RunSummary;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code instructflow demo}: the main job on the embedded default runner. Runs the most complete
 * curation path that exists in this version on data that ships with the repository, plus the shared
 * public data when it is there, and says what it skipped and why.
 *
 * <p>Today's path: import our own seed tasks (English and Chinese, Apache-2.0, shipped in the jar) →
 * import a few shared public sets, each with its license → ROUGE-L near-duplicate filtering over
 * everything imported → the sft-default filter chain with decontamination → statistics of the result →
 * with the toy model: a completion per seed, two
 * small Self-Instruct rounds and two Evol-Instruct epochs.
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

  @Mixin RunOptions run;

  @Option(names = "--out", defaultValue = "demo-out", paramLabel = "DIR", description = "Output folder. Default: ${DEFAULT-VALUE}.")
  String out;

  @Option(names = "--data-dir", paramLabel = "DIR",
      description = "Shared public data (default: ../shared/data beside the repository).")
  String dataDir;

  @Option(names = "--model", paramLabel = "GGUF",
      description = "GGUF model for generation stages (default: ../shared/models/stories260K.gguf).")
  String model;

  /** A shared public source the demo imports when present. */
  record Source(String relPath, String name, String license, String why) {}

  static final List<Source> SHARED = List.of(
      new Source("seed/self-instruct_seed_tasks.jsonl", "self-instruct-seeds", "Apache-2.0",
          "the 175 human-written Self-Instruct seed tasks"),
      new Source("corpora/alpagasus/dolly_3k.json", "dolly-3k", "CC-BY-SA-3.0",
          "LLM-filtered databricks-dolly subset"),
      new Source("corpora/alpaca_zh_carbonz0/zh-data-part-00.json", "alpaca-zh", "CC-BY-NC-4.0",
          "Chinese Alpaca-format data (derived from Stanford Alpaca, non-commercial)"),
      new Source("corpora/gpteacher/codegen-instruct.json", "gpteacher-codegen", "MIT",
          "GPT-4-generated code instructions (field 'response')"),
      new Source("eval/lima_test_set.jsonl", "lima-test", "CC-BY-NC-SA-4.0",
          "LIMA test prompts: 'conversations' is a string, not turns, so every row is rejected with its line"));

  /** The evaluation sets under the shared data's {@code eval/} that decontamination checks against. */
  static final List<String> BENCHMARKS = List.of("mt_bench_question.jsonl", "vicuna_bench_question.jsonl",
      "koala_test_set.jsonl", "lima_test_set.jsonl", "wizardlm_testset.jsonl",
      "self-instruct_user_oriented_instructions.jsonl");

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
    List<String> skipped = new ArrayList<>();
    List<String[]> rows = new ArrayList<>();
    int worst = 0;
    long t0 = System.nanoTime();

    // imports of an earlier demo run in the same folder would be counted by the statistics step
    deleteTree(root.resolve("import"));
    Path inputs = root.resolve("inputs");
    Files.createDirectories(inputs);
    Path seeds = inputs.resolve("instructflow-seeds.jsonl");
    try (InputStream in = DemoCommand.class.getResourceAsStream(SEEDS_RESOURCE)) {
      if (in == null) {
        throw new IOException("the jar lacks " + SEEDS_RESOURCE);
      }
      Files.copy(in, seeds, StandardCopyOption.REPLACE_EXISTING);
    }
    con.println("demo: step 1 — import instructflow's own seed tasks (English + Chinese, Apache-2.0)");
    worst = Math.max(worst, importOne(seeds.toString(), "instructflow-seeds", "Apache-2.0", root, runner, rows, con));

    if (Files.isDirectory(data)) {
      int step = 2;
      for (Source s : SHARED) {
        Path p = data.resolve(s.relPath());
        if (!Files.isRegularFile(p)) {
          skipped.add("shared source " + s.relPath() + ": not found under " + data);
          continue;
        }
        con.printf("%ndemo: step %d — import %s (%s, %s): %s%n", step++, s.relPath(), s.name(), s.license(), s.why());
        worst = Math.max(worst, importOne(p.toString(), s.name(), s.license(), root, runner, rows, con));
      }
    } else {
      skipped.add("shared public data: " + data + " is not there (pass --data-dir DIR); only the shipped seed tasks were used");
    }

    con.printf("%ndemo: dedup — the Self-Instruct ROUGE-L rule (F > 0.7) over everything imported, Unicode tokenizer "
        + "so Chinese instructions are compared too%n");
    Path dedupOut = root.resolve("dedup");
    RunSummary dd = DedupPipeline.run(new DedupPipeline.Config(
        ReadOptions.of(root.resolve("import").toString() + "/*/data/*.jsonl"), dedupOut.toString(), 0.7,
        DedupText.INSTRUCTION, "unicode", false, null, "sequential", 50_000, runner), con);
    rows.add(new String[] {"dedup (ROUGE-L > 0.7)", dd.status(), String.valueOf(dd.counts().read()),
        String.valueOf(dd.counts().kept()), String.valueOf(dd.counts().filtered()), String.valueOf(dd.counts().rejected()),
        dedupOut.toString()});
    worst = Math.max(worst, RunReport.exitCode(dd));

    List<String> benchmarks = new ArrayList<>();
    for (String b : BENCHMARKS) {
      Path p = data.resolve("eval").resolve(b);
      if (Files.isRegularFile(p)) {
        benchmarks.add(p.toAbsolutePath().toString());
      }
    }
    FilterChain chain = FilterChain.preset("sft-default");
    if (benchmarks.isEmpty()) {
      skipped.add("decontamination: no benchmark files under " + data.resolve("eval"));
    } else {
      chain = chain.plus(DecontaminationFilter.of(benchmarks), String.join("\n", benchmarks));
    }
    con.printf("%ndemo: filter — the sft-default chain (PII redaction, length, refusals, echoes, code fences, "
        + "repetition, symbols)%s over the deduplicated data%n",
        benchmarks.isEmpty() ? "" : " and decontamination against " + benchmarks.size() + " evaluation sets");
    Path filterOut = root.resolve("filter");
    RunSummary fl = FilterPipeline.run(new FilterPipeline.Config(ReadOptions.of(dedupOut.resolve("data").toString()),
        filterOut.toString(), chain, List.of(), null, 50_000, runner), con);
    rows.add(new String[] {"filter (sft-default)", fl.status(), String.valueOf(fl.counts().read()),
        String.valueOf(fl.counts().kept()), String.valueOf(fl.counts().filtered()), String.valueOf(fl.counts().rejected()),
        filterOut.toString()});
    worst = Math.max(worst, RunReport.exitCode(fl));

    con.printf("%ndemo: statistics of the filtered data%n");
    RunSummary st = StatsPipeline.run(new StatsPipeline.Config(
        ReadOptions.of(filterOut.resolve("data").toString()), root.resolve("stats").toString(), runner), con);
    rows.add(new String[] {"stats", st.status(), String.valueOf(st.counts().read()), "-", "-", "-", root.resolve("stats").toString()});
    worst = Math.max(worst, RunReport.exitCode(st));

    if (Files.isRegularFile(gguf)) {
      con.printf("%ndemo: generate — a completion for each of instructflow's seed instructions from %s, in-process "
          + "with llama.cpp (greedy, one slot and one thread: reproducible, and the fastest setting for this toy "
          + "story model, which proves the engine, cache and provenance, not answer quality)%n", gguf.getFileName());
      Path genOut = root.resolve("generate");
      ModelSpec spec = ModelSpec.local(gguf.toAbsolutePath().toString(), 1, 0, 1, 0, false,
          genOut.resolve("cache").toAbsolutePath().toString());
      RunSummary g = GeneratePipeline.run(new GeneratePipeline.Config(
          ReadOptions.of(root.resolve("import").resolve("instructflow-seeds").resolve("data").toString()),
          genOut.toString(), spec, SamplingParams.greedy(48), 0, 16, 50_000, runner), con);
      rows.add(new String[] {"generate (llama.cpp)", g.status(), String.valueOf(g.counts().read()),
          String.valueOf(g.counts().kept()), String.valueOf(g.counts().filtered()), String.valueOf(g.counts().rejected()),
          genOut.toString()});
      worst = Math.max(worst, RunReport.exitCode(g));
      worst = Math.max(worst, selfInstruct(gguf, data, seeds, root, runner, rows, con));
      worst = Math.max(worst, evol(gguf, seeds, root, runner, rows, con));
      worst = Math.max(worst, pairs(gguf, root, runner, rows, con));
    } else {
      skipped.add("generate, self-instruct and evol: no model at " + gguf + " (pass --model GGUF)");
    }

    worst = Math.max(worst, blend(data, root, runner, rows, con));
    con.printf("%ndemo: audit — the blend's rows against commercial use: licenses, model terms, composition%n");
    RunSummary au = AuditPipeline.run(new AuditPipeline.Config(List.of(root.resolve("blend").toString()),
        root.resolve("audit").toString(), "commercial", AuditTerms.load(null), runner), con);
    rows.add(new String[] {"audit (commercial use)", au.status(), String.valueOf(au.counts().read()),
        String.valueOf(au.counts().kept()), String.valueOf(au.counts().filtered()), String.valueOf(au.counts().rejected()),
        root.resolve("audit").toString()});
    worst = Math.max(worst, RunReport.exitCode(au));

    con.printf("%n== demo finished in %.1f s on %s ==%n", (System.nanoTime() - t0) / 1e9, runner.describe());
    con.printf(Locale.ROOT, "  %-28s %-8s %9s %9s %9s %9s  %s%n", "stage", "status", "read", "kept", "filtered", "rejected", "output");
    for (String[] r : rows) {
      con.printf(Locale.ROOT, "  %-28s %-8s %9s %9s %9s %9s  %s%n", (Object[]) r);
    }
    for (String s : skipped) {
      con.println("  skipped: " + s);
    }
    con.println("  statistics: " + root.resolve("stats").resolve(StatsPipeline.STATS_FILE));
    return worst;
  }

  /**
   * Two small Self-Instruct rounds on the toy model: prompts from the published seed tasks (or ours),
   * responses cut at the first sentence so that some tasks pass the rules and reach the classification
   * and instance steps. The toy writes stories, so nearly everything lands in filtered/ with its reason.
   */
  private static int selfInstruct(Path gguf, Path data, Path ownSeeds, Path root, Runner runner, List<String[]> rows,
      PrintStream con) throws IOException, InvalidModelException {
    Path published = data.resolve("seed/self-instruct_seed_tasks.jsonl");
    Path seedFile = Files.isRegularFile(published) ? published : ownSeeds;
    con.printf("%ndemo: self-instruct — 2 rounds of 3 prompts from %s on %s (instructions cut at the first sentence "
        + "so the toy's text reaches the classification and instance steps; expect nearly all of it filtered, "
        + "each with its filter and reason)%n", seedFile.getFileName(), gguf.getFileName());
    Path siOut = root.resolve("self-instruct");
    deleteTree(siOut.resolve("rounds"));
    ModelSpec spec = ModelSpec.local(gguf.toAbsolutePath().toString(), 1, 4096, 1, 0, false,
        siOut.resolve("cache").toAbsolutePath().toString());
    SelfInstruct.Settings s = SelfInstruct.Settings.defaults(SelfInstruct.Preset.SELF_INSTRUCT, 0).withPromptsPerRound(3);
    s = s.withParams(new SamplingParams(48, 0.7, 0.5, 0, List.of("."), 1), s.classifyParams(),
        new SamplingParams(32, 0, 1, 0, s.instanceParams().stop(), 1)).withOrigin("self-instruct-demo", "Apache-2.0");
    RunSummary r = SelfInstructPipeline.run(new SelfInstructPipeline.Config(seedFile.toAbsolutePath(), siOut.toString(),
        spec, s, null, 100, 2, 16, 50_000, runner, 0), con);
    rows.add(new String[] {"self-instruct (2 rounds)", r.status(), String.valueOf(r.counts().read()),
        String.valueOf(r.counts().kept()), String.valueOf(r.counts().filtered()), String.valueOf(r.counts().rejected()),
        siOut.toString()});
    return RunReport.exitCode(r);
  }

  /**
   * Two Evol-Instruct epochs over instructflow's own seed instructions on the toy model: every lineage,
   * judge answer and elimination is recorded; the toy's rewrites are stories, not harder tasks.
   */
  private static int evol(Path gguf, Path seeds, Path root, Runner runner, List<String[]> rows, PrintStream con)
      throws IOException, InvalidModelException, InputFiles.InputException {
    con.printf("%ndemo: evol — 2 Evol-Instruct epochs over instructflow's seed instructions on %s (rewrite, "
        + "equality judge, response, the truncation and four elimination rules; lineage on every record; rewrites and "
        + "answers cut at the first sentence, so the toy's stories end before the token limit)%n", gguf.getFileName());
    Path evolOut = root.resolve("evol");
    deleteTree(evolOut.resolve("epochs"));
    ModelSpec spec = ModelSpec.local(gguf.toAbsolutePath().toString(), 1, 0, 1, 0, false,
        evolOut.resolve("cache").toAbsolutePath().toString());
    Evol.Settings d = Evol.Settings.defaults(0);
    // small limits for the toy's context and speed, and a stop at the first sentence: a rewrite or answer that
    // ran into its limit would be eliminated as truncated (issue 19), leaving nothing to show the lineage with
    Evol.Settings s = d.withParams(new SamplingParams(48, 0.7, 0.95, 0, List.of("."), 1), d.judgeParams(),
        new SamplingParams(48, 0, 1, 0, List.of("."), 1));
    ReadOptions read = new ReadOptions(seeds.toString(), null, "instructflow-seeds", "Apache-2.0", 1 << 20);
    RunSummary r = EvolPipeline.run(new EvolPipeline.Config(read, evolOut.toString(), spec, s, null, 2, false, 16, 50_000,
        runner, 0), con);
    rows.add(new String[] {"evol (2 epochs)", r.status(), String.valueOf(r.counts().read()),
        String.valueOf(r.counts().kept()), String.valueOf(r.counts().filtered()), String.valueOf(r.counts().rejected()),
        evolOut.toString()});
    return RunReport.exitCode(r);
  }

  /**
   * Preference pairs for six of instructflow's seed prompts: the toy model writes two candidates at
   * temperature 0.7 and two at 1.0, then rates each on the four aspects (grammar-constrained, sampled
   * at 1.0 so the toy's ratings vary), and best-vs-random makes the pairs.
   */
  private static int pairs(Path gguf, Path root, Runner runner, List<String[]> rows, PrintStream con)
      throws IOException, InvalidModelException, InputFiles.InputException {
    Path prompts = root.resolve("inputs").resolve("pair-prompts.jsonl");
    List<String> lines = Files.readAllLines(root.resolve("inputs").resolve("instructflow-seeds.jsonl"));
    StringBuilder b = new StringBuilder();
    for (String l : lines.subList(0, Math.min(6, lines.size()))) {
      b.append(Json.line(Map.of("prompt", Json.mapper().readTree(l).path("instruction").asText()))).append('\n');
    }
    Files.writeString(prompts, b.toString());
    con.printf("%ndemo: pairs — preference pairs for 6 seed prompts: %s writes 2 candidates at t=0.7 and 2 at t=1.0, "
        + "rates each on the four UltraFeedback aspects (grammar-constrained), best-vs-random pairs them (a toy's "
        + "ratings: the plumbing, not the judgement)%n", gguf.getFileName());
    Path out = root.resolve("pairs");
    String model = gguf.toAbsolutePath().toString();
    ModelSpec spec = ModelSpec.local(model, 2, 0, 0, 0, false, out.resolve("cache").toAbsolutePath().toString());
    List<CandidateSpec> cands = CandidateSpec.parseList(model + ":t=0.7:n=2:max=48," + model + ":t=1.0:n=2:max=48");
    RunSummary r = PairsPipeline.run(PairsPipeline.Config.of(prompts.toString(), out.toString(), "Apache-2.0", cands,
        List.of(spec, spec), spec, 1.0, Binarize.Strategy.BEST_VS_RANDOM, 0, 0, 50_000, runner), con);
    rows.add(new String[] {"pairs (DPO)", r.status(), String.valueOf(r.counts().read()), String.valueOf(r.counts().kept()),
        String.valueOf(r.counts().filtered()), String.valueOf(r.counts().rejected()), out.toString()});
    return RunReport.exitCode(r);
  }

  /**
   * A blend of the demo's outputs and one shared dataset that no stage imported: the filtered imports
   * (each record keeps its own license), the model's completions, and GPTeacher roleplay (MIT); 5% held
   * out, exported as JSONL, chat messages and Parquet, with a dataset card.
   */
  private static int blend(Path data, Path root, Runner runner, List<String[]> rows, PrintStream con)
      throws IOException, InputFiles.InputException {
    List<Map<String, Object>> sources = new ArrayList<>();
    sources.add(Map.of("path", "filter", "name", "filtered-imports", "weight", 0.7));
    // only a finished generate output (sealed with its completion marker) is a source
    if (Files.isRegularFile(root.resolve("generate").resolve(OutputLayout.MARKER))) {
      sources.add(Map.of("path", "generate", "name", "generated", "fraction", 1.0));
    }
    Path roleplay = data.resolve("corpora/gpteacher/roleplay-simple-deduped-roleplay-instruct.json").toAbsolutePath();
    if (Files.isRegularFile(roleplay)) {
      sources.add(Map.of("path", roleplay.toString(), "name", "gpteacher-roleplay", "license", "MIT", "weight", 0.3));
    }
    Map<String, Object> spec = new LinkedHashMap<>();
    spec.put("name", "instructflow-demo-mix");
    spec.put("target", 1500);
    spec.put("seed", 0);
    spec.put("validation", 0.05);
    spec.put("sources", sources);
    spec.put("formats", List.of("jsonl", "messages", "parquet"));
    Path specFile = root.resolve("blend-spec.json");
    Files.writeString(specFile, Json.pretty(spec) + "\n");
    con.printf("%ndemo: blend — %d sources into 1,500 rows (70%% filtered imports, 30%% GPTeacher roleplay, every "
        + "generated completion), 5%% validation, JSONL + chat messages + Parquet, dataset card: %s%n", sources.size(), specFile);
    Path out = root.resolve("blend");
    RunSummary b = BlendPipeline.run(new BlendPipeline.Config(BlendSpec.read(specFile), out.toString(), runner), con);
    rows.add(new String[] {"blend", b.status(), String.valueOf(b.counts().read()), String.valueOf(b.counts().kept()),
        String.valueOf(b.counts().filtered()), String.valueOf(b.counts().rejected()), out.toString()});
    return RunReport.exitCode(b);
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

  private static int importOne(String in, String name, String license, Path root, Runner runner, List<String[]> rows, PrintStream con)
      throws IOException, InputFiles.InputException {
    Path out = root.resolve("import").resolve(name);
    RunSummary s = ImportPipeline.run(new ImportPipeline.Config(
        new ReadOptions(in, null, name, license, 1 << 20), out.toString(), 50_000, null, runner), con);
    rows.add(new String[] {"import " + name, s.status(), String.valueOf(s.counts().read()), String.valueOf(s.counts().kept()),
        "0", String.valueOf(s.counts().rejected()), out.toString()});
    return RunReport.exitCode(s);
  }
}
