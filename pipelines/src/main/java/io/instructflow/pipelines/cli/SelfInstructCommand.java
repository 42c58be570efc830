package io.instructflow.pipelines.cli;

import io.instructflow.generators.selfinstruct.SelfInstruct;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.selfinstruct.SelfInstructPipeline;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow self-instruct}: grow an instruction dataset from seed tasks, round by round. */
@Command(
    name = "self-instruct",
    mixinStandardHelpOptions = true,
    description = {
      "Self-Instruct: from a seed pool, each round prompts the model with 8 pool instructions (6 seeds, 2 generated), "
          + "parses the new tasks it lists, drops those failing the reference rules (word count, unsuitable words, "
          + "'write a program', first character) or with ROUGE-L F > 0.7 against the pool; a task that passes joins "
          + "the pool at once. Then it asks whether each is a classification task and has it write up to 5 instances "
          + "(input-first, or output-first for classification), each kept when it passes the instance rules. Rounds "
          + "repeat until the pool holds --target generated tasks.",
      "--preset alpaca instead writes 20 whole tasks (instruction, input, output) per prompt from 3 seed examples.",
      "Writes OUT/data/ (one record per instance), OUT/filtered/ (every dropped task or instance with its filter and "
          + "reason), OUT/rejects/ (bad seed lines, failed requests), OUT/rounds/ (per-round state), "
          + "OUT/run-summary.json. A rerun with the same settings continues after the last finished round.",
      "Sampling defaults are the published ones; a small model needs a smaller --max-tokens to fit its context."
    })
public final class SelfInstructCommand extends PipelineCommand<SelfInstructPipeline.Config> {
  @Option(names = "--seeds", required = true, paramLabel = "JSONL",
      description = "Seed tasks: Self-Instruct's seed file shape (instruction, instances, is_classification) or "
          + "instruction records.")
  Path seeds;

  @Mixin RunOptions run;
  @Mixin OutputOptions output;
  @Mixin ModelOptions models;
  @Mixin EngineOptions engine;

  @Option(names = "--target", required = true, paramLabel = "N",
      description = "Stop once N generated tasks passed the filters and joined the pool (the reference's "
          + "num_instructions_to_generate).")
  int target;

  @Option(names = "--preset", defaultValue = "self-instruct", paramLabel = "self-instruct|alpaca",
      description = "Default: ${DEFAULT-VALUE}.")
  String preset;

  @Option(names = "--max-rounds", defaultValue = "1000", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
  int maxRounds;

  @Option(names = "--prompts-per-round", paramLabel = "N", description = "Default: 20.")
  Integer promptsPerRound;

  @Mixin SeedOptions seed;

  @Option(names = "--seed-examples", paramLabel = "N", description = "Seed instructions per prompt. Default: 6 (alpaca 3).")
  Integer seedExamples;

  @Option(names = "--machine-examples", paramLabel = "N", description = "Generated instructions per prompt. Default: 2 (alpaca 0).")
  Integer machineExamples;

  @Mixin SamplingOptions sampling = SamplingOptions.fromPreset();

  @Option(names = "--instance-max-tokens", paramLabel = "N", description = "Tokens per instance response. Default: 350.")
  Integer instanceMaxTokens;

  @Option(names = "--presence-penalty", paramLabel = "X",
      description = "Instruction generation, in [-2, 2]. Default: 2 as the self-instruct reference (alpaca 0).")
  Double presencePenalty;

  @Option(names = "--instance-presence-penalty", paramLabel = "X",
      description = "Instance generation, in [-2, 2]. Default: 1.5 as the self-instruct reference.")
  Double instancePresencePenalty;

  @Option(names = "--stop", paramLabel = "STR",
      description = "Instruction generation: a stop string (repeatable), replacing the preset's (a blank line or task "
          + "16; alpaca: task 20).")
  java.util.List<String> stop;

  @Option(names = "--rouge-threshold", defaultValue = "0.7", paramLabel = "T", description = "Default: ${DEFAULT-VALUE}.")
  double rougeThreshold;

  @Option(names = "--tokenizer", defaultValue = "rouge", paramLabel = "rouge|unicode",
      description = "ROUGE-L tokens: rouge (the reference's, English only) or unicode (CJK too). Default: ${DEFAULT-VALUE}.")
  String tokenizer;

  @Option(names = "--allow-non-ascii-first",
      description = "Lift the reference rule that drops instructions starting with a non-ASCII character (for "
          + "non-English pools; the word-count rule still splits on whitespace).")
  boolean allowNonAscii;

  @Option(names = "--classification-only",
      description = "Prompt with the classification seed tasks only, under a header asking for classification tasks "
          + "(the reference's --use_clf_seed_tasks_only; template self-instruct/instructions-classification@1); "
          + "self-instruct preset only.")
  boolean classificationOnly;

  @Mixin TemplatesOptions templates;

  @Option(names = "--dataset-name", paramLabel = "NAME", description = "Origin dataset of the records. Default: the preset.")
  String datasetName;

  @Option(names = "--license", defaultValue = "unknown", paramLabel = "SPDX",
      description = "License recorded in every record's origin (the model's terms decide it). Default: ${DEFAULT-VALUE}.")
  String license;

  @Mixin BatchOptions batch;

  @Option(names = "--stop-after-round", defaultValue = "0", hidden = true,
      description = "Stop after this round as if killed (for resume tests).")
  int stopAfterRound;

  @Override
  SelfInstructPipeline.Config configure() {
    if (!Files.isRegularFile(seeds)) {
      throw new IllegalArgumentException("--seeds: no such file: " + seeds);
    }
    // rounds, state and resume live beside the output, written with local file operations
    output.out = io.instructflow.pipelines.io.OutputLayout.requireLocal(output.out, "self-instruct --out");
    Path overrides = templates.folder();
    ModelSpec spec = models.toSpec(output.out, engine);
    return new SelfInstructPipeline.Config(seeds.toAbsolutePath(), output.out, spec, settings(), overrides, target,
        maxRounds, batch.batchSize, output.shardSize, run.toRunner(), stopAfterRound);
  }

  @Override
  RunSummary run(SelfInstructPipeline.Config c) throws Exception {
    return SelfInstructPipeline.run(c, System.out);
  }

  SelfInstruct.Settings settings() {
    SelfInstruct.Settings s = SelfInstruct.Settings.defaults(SelfInstruct.Preset.named(preset), seed.seed);
    if (promptsPerRound != null) {
      s = s.withPromptsPerRound(promptsPerRound);
    }
    s = s.withExamples(seedExamples != null ? seedExamples : s.seedExamples(),
        machineExamples != null ? machineExamples : s.machineExamples());
    SamplingParams g = s.instructionParams();
    g = new SamplingParams(sampling.maxTokens(g.maxTokens()), sampling.temperature(g.temperature()),
        sampling.topP(g.topP()), g.topK(), stop != null ? stop : g.stop(), 1)
        .withPenalties(presencePenalty != null ? presencePenalty : g.presencePenalty(), g.frequencyPenalty(),
            g.repetitionPenalty());
    SamplingParams i = s.instanceParams();
    i = new SamplingParams(instanceMaxTokens != null ? instanceMaxTokens : i.maxTokens(), i.temperature(), i.topP(),
        i.topK(), i.stop(), 1)
        .withPenalties(instancePresencePenalty != null ? instancePresencePenalty : i.presencePenalty(), i.frequencyPenalty(),
            i.repetitionPenalty());
    s = s.withParams(g, s.classifyParams(), i);
    s = s.withFiltering(s.rules().withAsciiFirst(!allowNonAscii), tokenizer, rougeThreshold);
    return s.withOrigin(datasetName != null ? datasetName : s.dataset(), license).withClassificationOnly(classificationOnly);
  }
}
