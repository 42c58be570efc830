package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.quality.DecontaminationFilter;
import io.instructflow.filters.quality.LanguageFilter;
import io.instructflow.generators.selfinstruct.SeedTask;
import io.instructflow.generators.selfinstruct.SeedTasks;
import io.instructflow.pipelines.filter.FilterPipeline;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.filter.JudgeStage;
import io.instructflow.schemas.Ids;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow filter}: a filter chain over a dataset, every drop with its filter, reason and evidence. */
@Command(
    name = "filter",
    mixinStandardHelpOptions = true,
    description = {
      "Apply a filter chain: per-record filters in order (the first drop decides), then, when the chain ends with "
          + "rouge_l, the ROUGE-L rule in input order against the records kept before and the --pool texts.",
      "Presets: self-instruct and alpaca (the instruction rules of those papers, then ROUGE-L F > 0.7). "
          + "--config FILE gives a chain as JSON (see docs/commands.md, filter).",
      "Writes OUT/data/ (kept), OUT/filtered/ (dropped, with filter, reason and evidence), OUT/rejects/, "
          + "OUT/run-summary.json."
    })
public final class FilterCommand extends PipelineCommand<FilterPipeline.Config> implements Fusible<FilterPipeline.Config> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;
  @Mixin OutputOptions output;
  @Mixin ModelOptions models;
  @Mixin EngineOptions engine;

  @Mixin SeedOptions seed;
  @Mixin BatchOptions batch;
  @Mixin TemplatesOptions templates;

  @Option(names = "--preset", paramLabel = "NAME",
      description = "A built-in chain: self-instruct, alpaca, evol-elimination or sft-default.")
  String preset;

  @Option(names = "--config", paramLabel = "FILE", description = "A chain as JSON, instead of --preset.")
  Path config;

  @Option(names = "--benchmarks", paramLabel = "FILE", split = ",",
      description = "Benchmark files (JSONL or JSON, any shape) to decontaminate against: a record sharing a 13-token "
          + "run with an item, or whose prompt has ROUGE-L F >= 0.8 against one, is dropped (comma-separated or "
          + "repeated).")
  List<Path> benchmarks = new ArrayList<>();

  @Option(names = "--missing-benchmarks", defaultValue = "error", paramLabel = "error|skip",
      description = "A --benchmarks file that does not exist: error (a usage error) or skip (decontaminate against the "
          + "others, named on the console; none left: no decontamination). Default: ${DEFAULT-VALUE}.")
  String missingBenchmarks;

  @Option(names = "--benchmarks-hash", defaultValue = "content", paramLabel = "content|path",
      description = "What the chain hash (in every record's provenance) takes from the benchmark files: content (each "
          + "file's name and SHA-256) or path (their absolute paths, one a line: what demo has always used). "
          + "Default: ${DEFAULT-VALUE}.")
  String benchmarksHash;

  @Option(names = "--languages", paramLabel = "CODES", split = ",",
      description = "Keep only records in these languages (ISO 639-1 codes, e.g. en,zh), identified by Lingua over "
          + "instruction, input and output joined (see the language filter in docs/commands.md for its settings).")
  List<String> languages = new ArrayList<>();

  @Option(names = "--pool", paramLabel = "JSONL",
      description = "Instructions that count as already kept by the ROUGE-L rule (e.g. the seed tasks): records or "
          + "seed tasks with an 'instruction'.")
  Path pool;

  @Override
  FilterPipeline.Config configure() throws IOException {
    if (preset != null && config != null
        || preset == null && config == null && benchmarks.isEmpty() && languages.isEmpty()) {
      throw new IllegalArgumentException("give --preset NAME or --config FILE (or only --benchmarks / --languages)");
    }
    FilterChain chain = preset != null ? FilterChain.preset(preset)
        : config != null ? FilterChain.read(config) : FilterChain.parse("{\"name\":\"none\",\"filters\":[]}", "none");
    if (!languages.isEmpty()) {
      LanguageFilter lf = LanguageFilter.of(languages);
      chain = chain.plus(lf, "languages " + String.join(",", lf.languages()));
    }
    List<Path> present = presentBenchmarks();
    if (!present.isEmpty()) {
      List<String> files = new ArrayList<>();
      StringBuilder hashes = new StringBuilder();
      for (Path b : present) {
        files.add(b.toAbsolutePath().toString());
        hashes.append(b.getFileName()).append(' ').append(Ids.sha256Hex(Files.readAllBytes(b))).append('\n');
      }
      chain = chain.plus(DecontaminationFilter.of(files),
          benchmarksHash.equals("path") ? String.join("\n", files) : hashes.toString());
    }
    return new FilterPipeline.Config(input.toReadOptions(), output.out, chain, poolTexts(),
        pool == null ? null : pool.toString(), output.shardSize, run.toRunner(), judging(chain));
  }


  @Override
  public ReadOptions read(FilterPipeline.Config c) {
    return c.read();
  }

  @Override
  public boolean handsOnInPipeline(FilterPipeline.Config c) {
    return !FilterPipeline.decidesAfterPipeline(c);
  }

  @Override
  public PipelineRun.Part plan(FilterPipeline.Config c, PipelineRun.Fusion fusion) throws Exception {
    return FilterPipeline.plan(c, System.out, fusion);
  }

  /**
   * The --benchmarks files to decontaminate against, in the order given: all of them (a missing one is a
   * usage error), or with {@code --missing-benchmarks skip} those that exist, each missing one named on
   * the console. Also checks {@code --benchmarks-hash}.
   */
  private List<Path> presentBenchmarks() {
    if (!benchmarksHash.equals("content") && !benchmarksHash.equals("path")) {
      throw new IllegalArgumentException("--benchmarks-hash is content or path, not '" + benchmarksHash + "'");
    }
    if (!missingBenchmarks.equals("error") && !missingBenchmarks.equals("skip")) {
      throw new IllegalArgumentException("--missing-benchmarks is error or skip, not '" + missingBenchmarks + "'");
    }
    List<Path> present = new ArrayList<>();
    for (Path b : benchmarks) {
      if (Files.isRegularFile(b)) {
        present.add(b);
      } else if (missingBenchmarks.equals("skip")) {
        System.out.println("filter: benchmark file " + b + " does not exist; decontaminating without it");
      } else {
        throw new IllegalArgumentException("--benchmarks: no such file: " + b);
      }
    }
    return present;
  }

  /** The judge's settings when the chain has an llm_judge; a model without one is a usage error. */
  private JudgeStage.Settings judging(FilterChain chain) throws IOException {
    boolean modelGiven = models.model != null || models.endpoint != null;
    if (chain.judge() == null) {
      if (modelGiven) {
        throw new IllegalArgumentException("--model / --endpoint name the llm_judge model, but chain " + chain.name()
            + " has no llm_judge");
      }
      return null;
    }
    Path overrides = templates.folder();
    return FilterPipeline.Config.judging(models.toSpec(output.out, engine), chain.judge(), overrides, seed.seed,
        batch.batchSize);
  }

  /** The pool's instructions; a pool with a bad line is a usage error (it is configuration, not data). */
  private List<String> poolTexts() throws IOException {
    List<String> out = new ArrayList<>();
    if (pool == null) {
      return out;
    }
    if (!Files.isRegularFile(pool)) {
      throw new IllegalArgumentException("--pool: no such file: " + pool);
    }
    SeedTasks.Result r = SeedTasks.read(pool);
    if (!r.problems().isEmpty()) {
      SeedTasks.Problem p = r.problems().get(0);
      throw new IllegalArgumentException(String.format("--pool: %d bad line(s), the first at %s: %s",
          r.problems().size(), p.location(), p.message()));
    }
    r.tasks().forEach((SeedTask t) -> out.add(t.instruction()));
    return out;
  }
}
