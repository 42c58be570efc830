package io.instructflow.pipelines.cli;

import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.generate.GeneratePipeline;
import io.instructflow.pipelines.runtime.RunReport;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow generate}: a completion for every record from the embedded llama.cpp engine. */
@Command(
    name = "generate",
    mixinStandardHelpOptions = true,
    description = {
      "Complete every record with a GGUF model run in-process by llama.cpp (--parallel sequences decoded at "
          + "once, shared by all workers), or with a model behind an OpenAI-compatible --endpoint.",
      "Single-turn records are sent as text (instruction, blank line, input); {\"prompt\": ...} records as their "
          + "prompt unchanged; chat records through the model's own chat template. The completion goes into "
          + "output (or a final assistant turn).",
      "Tiny models (like the shared stories260K) run fastest with --threads 1.",
      "Writes OUT/data/, OUT/rejects/ (prompt too long, no chat template, generation failed), OUT/run-summary.json. "
          + "Finished generations are cached (default OUT/cache/), so a rerun after a crash resumes."
    })
public final class GenerateCommand implements Callable<Integer> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;
  @Mixin OutputOptions output;

  @Mixin ModelOptions models;

  @Mixin EngineOptions engine;

  @Option(names = "--max-tokens", defaultValue = "256", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
  int maxTokens;

  @Option(names = "--temperature", defaultValue = "0", paramLabel = "T",
      description = "0 is greedy decoding (the same text on every run). Default: ${DEFAULT-VALUE}.")
  double temperature;

  @Option(names = "--top-p", defaultValue = "1", paramLabel = "P", description = "Default: ${DEFAULT-VALUE}.")
  double topP;

  @Option(names = "--top-k", defaultValue = "0", paramLabel = "K", description = "0 turns it off. Default: ${DEFAULT-VALUE}.")
  int topK;

  @Option(names = "--presence-penalty", defaultValue = "0", paramLabel = "X",
      description = "Subtracted from the logit of every token the completion already holds, in [-2, 2]; 0 turns it "
          + "off. Default: ${DEFAULT-VALUE}.")
  double presencePenalty;

  @Option(names = "--frequency-penalty", defaultValue = "0", paramLabel = "X",
      description = "Subtracted once per earlier occurrence in the completion, in [-2, 2]. Default: ${DEFAULT-VALUE}.")
  double frequencyPenalty;

  @Option(names = "--repetition-penalty", defaultValue = "1", paramLabel = "X",
      description = "Divides the logits of tokens the completion already holds (llama.cpp, vLLM); 1 turns it off. "
          + "Default: ${DEFAULT-VALUE}.")
  double repetitionPenalty;

  @Option(names = "--seed", defaultValue = "0", paramLabel = "S",
      description = "Run seed; each record's seed is derived from it and the record id. Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--stop", paramLabel = "STR", description = "A stop string (repeatable); not included in the output.")
  List<String> stop = new ArrayList<>();

  @Option(names = "--batch-size", defaultValue = "16", paramLabel = "N",
      description = "Records per call from one worker. Default: ${DEFAULT-VALUE}.")
  int batchSize;

  @Override
  public Integer call() throws Exception {
    GeneratePipeline.Config c;
    try {
      ModelSpec spec = models.toSpec(output.out, engine);
      SamplingParams params = new SamplingParams(maxTokens, temperature, topP, topK, stop, 1)
          .withPenalties(presencePenalty, frequencyPenalty, repetitionPenalty);
      c = new GeneratePipeline.Config(input.toReadOptions(), output.out, spec, params, seed, batchSize,
          output.shardSize, run.toRunner());
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
    try {
      return RunReport.exitCode(GeneratePipeline.run(c, System.out));
    } catch (InvalidModelException e) {
      throw new Main.UsageException(e.getMessage());
    }
  }
}
