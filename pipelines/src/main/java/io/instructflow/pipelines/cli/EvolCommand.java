package io.instructflow.pipelines.cli;

import io.instructflow.generators.evol.Evol;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.evol.EvolPipeline;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow evol}: Evol-Instruct epochs over a dataset. */
@Command(
    name = "evol",
    mixinStandardHelpOptions = true,
    description = {
      "Evol-Instruct (WizardLM): each epoch rewrites every instruction of the pool with one operation (add "
          + "constraints, deepen, concretize, add reasoning steps, complicate the input, or in-breadth mutation), asks "
          + "a judge whether the rewrite equals its parent, answers the rewrite, and eliminates failed evolutions "
          + "(judged equal; a short 'sorry' answer; an answer of stop words only; prompt words copied). A surviving "
          + "evolution replaces its parent in the pool; a failed one leaves the parent for the next epoch.",
      "Prompts go out as chat messages (a system message, then the prompt as the user's turn, formatted by the "
          + "model's own chat template) for an endpoint or a GGUF file with a chat template, else as raw text; "
          + "--prompt-format chooses. A rewrite or response cut at its token limit is eliminated "
          + "(evol_truncated). Rewrites and responses are sampled as WizardLM's code does: temperature 1, top-p 0.95, "
          + "up to 2,048 tokens, so the embedded engine needs --ctx-per-slot above 2,048 plus the prompt (e.g. 4096) "
          + "or smaller limits.",
      "Writes OUT/data/ (every surviving evolution, with its lineage), OUT/filtered/ (eliminations with rule and "
          + "evidence), OUT/rejects/ (bad input lines, failed requests), OUT/epochs/ (per-epoch state), "
          + "OUT/run-summary.json. A rerun with the same settings continues after the last finished epoch."
    })
public final class EvolCommand extends PipelineCommand<EvolPipeline.Config> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;
  @Mixin OutputOptions output;
  @Mixin ModelOptions models;
  @Mixin EngineOptions engine;

  @Option(names = "--epochs", defaultValue = "4", paramLabel = "M", description = "Default: ${DEFAULT-VALUE} (the paper's).")
  int epochs;

  @Option(names = "--ops", paramLabel = "OP=W,...",
      description = "Operation weights, e.g. add_constraints=1,deepen=1,concretize=1,add_reasoning=1,"
          + "complicate_input=1,breadth=1 (left-out operations get 0). Default: all 1.")
  String ops;

  @Option(names = "--keep-original", description = "Put the input records into data/ too (before the evolutions).")
  boolean keepOriginal;

  @Option(names = "--mix", defaultValue = "epochs", paramLabel = "epochs|wizardlm",
      description = "data/: epochs (each epoch's evolutions in order, after the input records with --keep-original) "
          + "or wizardlm (WizardLM's training mix: the input records and every epoch's evolutions, shuffled, seeded "
          + "by --seed). Default: ${DEFAULT-VALUE}.")
  String mix;

  @Option(names = "--prompt-format", defaultValue = "auto", paramLabel = "auto|chat|text",
      description = "chat: messages through the model's chat template; text: raw prompts (the rewrite then stops at "
          + "the template's #labels#); auto: chat for an endpoint or a GGUF file with a chat template, else text. "
          + "Default: ${DEFAULT-VALUE}.")
  String promptFormat;

  @Mixin SeedOptions seed;

  @Option(names = "--max-added-words", defaultValue = "20", paramLabel = "N",
      description = "Words an in-depth rewrite may add (the paper: 10 to 20). Default: ${DEFAULT-VALUE}.")
  int maxAddedWords;

  @Mixin SamplingOptions sampling = SamplingOptions.defaults(2048, 1.0, 0.95);

  @Option(names = "--response-max-tokens", defaultValue = "2048", paramLabel = "N",
      description = "Tokens per response. Default: ${DEFAULT-VALUE} (the reference's).")
  int responseMaxTokens;

  @Option(names = "--response-temperature", defaultValue = "1.0", paramLabel = "T",
      description = "Responses; 0 for greedy. Default: ${DEFAULT-VALUE} (the reference's).")
  double responseTemperature;

  @Option(names = "--response-top-p", defaultValue = "0.95", paramLabel = "P",
      description = "Responses. Default: ${DEFAULT-VALUE} (the reference's).")
  double responseTopP;

  @Option(names = "--stop", paramLabel = "STR",
      description = "Rewrites: a stop string (repeatable), not included in the rewrite. Default: none (the reference's).")
  List<String> stop;

  @Option(names = "--response-stop", paramLabel = "STR",
      description = "Responses: a stop string (repeatable), not included in the response. Default: none (the "
          + "reference's).")
  List<String> responseStop;

  @Mixin TemplatesOptions templates;

  @Mixin BatchOptions batch;

  @Option(names = "--stop-after-epoch", defaultValue = "0", hidden = true,
      description = "Stop after this epoch as if killed (for resume tests).")
  int stopAfterEpoch;

  @Override
  EvolPipeline.Config configure() {
    Path overrides = templates.folder();
    // epochs, state and resume live beside the output, written with local file operations
    output.out = io.instructflow.pipelines.io.OutputLayout.requireLocal(output.out, "evol --out");
    ModelSpec spec = models.toSpec(output.out, engine);
    Evol.Settings d = Evol.Settings.defaults(seed.seed);
    Evol.Settings s = new Evol.Settings(seed.seed, ops == null ? d.weights() : Evol.Settings.parseWeights(ops),
        maxAddedWords, new SamplingParams(sampling.maxTokens, sampling.temperature, sampling.topP, 0,
            stop != null ? stop : d.evolveParams().stop(), 1), d.judgeParams(),
        new SamplingParams(responseMaxTokens, responseTemperature, responseTopP, 0,
            responseStop != null ? responseStop : d.responseParams().stop(), 1),
        PromptFormat.parse(promptFormat));
    return new EvolPipeline.Config(input.toReadOptions(), output.out, spec, s, overrides, epochs, keepOriginal,
        batch.batchSize, output.shardSize, run.toRunner(), stopAfterEpoch, EvolPipeline.Mix.parse(mix));
  }

  @Override
  RunSummary run(EvolPipeline.Config c) throws Exception {
    return EvolPipeline.run(c, System.out);
  }
}
