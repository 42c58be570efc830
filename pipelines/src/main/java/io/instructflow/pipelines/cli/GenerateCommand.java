package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.generate.GeneratePipeline;
import java.util.ArrayList;
import java.util.List;
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
public final class GenerateCommand extends PipelineCommand<GeneratePipeline.Config> implements Fusible<GeneratePipeline.Config> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;
  @Mixin OutputOptions output;

  @Mixin ModelOptions models;

  @Mixin EngineOptions engine;

  @Mixin SamplingOptions sampling = SamplingOptions.defaults(256, 0, 1);

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

  @Mixin SeedOptions seed;

  @Option(names = "--stop", paramLabel = "STR", description = "A stop string (repeatable); not included in the output.")
  List<String> stop = new ArrayList<>();

  @Mixin BatchOptions batch;

  @Override
  GeneratePipeline.Config configure() {
    ModelSpec spec = models.toSpec(output.out, engine);
    SamplingParams params = new SamplingParams(sampling.maxTokens, sampling.temperature, sampling.topP, topK, stop, 1)
        .withPenalties(presencePenalty, frequencyPenalty, repetitionPenalty);
    return new GeneratePipeline.Config(input.toReadOptions(), output.out, spec, params, seed.seed, batch.batchSize,
        output.shardSize, run.toRunner());
  }


  @Override
  public ReadOptions read(GeneratePipeline.Config c) {
    return c.read();
  }


  @Override
  public PipelineRun.Part plan(GeneratePipeline.Config c,
      PipelineRun.Fusion fusion) throws Exception {
    return GeneratePipeline.plan(c, System.out, fusion);
  }
}
