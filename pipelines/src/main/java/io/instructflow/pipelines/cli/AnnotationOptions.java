package io.instructflow.pipelines.cli;

import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.pipelines.stage.AnnotationRun;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The options of a command that adds what a model says to every record ({@code score}, {@code tag}; issue
 * 20): what to read, where to run and write, the model with its engine and cache, the prompt format, the
 * template overrides and the batch size; the command adds what is asked of the model. A command says what
 * {@code --prompt-format} auto does with an endpoint in its own words with the resource-bundle key
 * {@code prompt-format.endpoint} (see {@link CommandHelp}).
 */
final class AnnotationOptions {
  @Mixin InputOptions input;
  @Mixin RunOptions run;
  @Mixin OutputOptions output;
  @Mixin ModelOptions models;
  @Mixin EngineOptions engine;

  @Option(names = "--prompt-format", defaultValue = "auto", paramLabel = "auto|chat|text",
      description = "chat: the model's chat template; text: plain text; auto: chat for a GGUF file with a chat "
          + "template, else text${bundle:prompt-format.endpoint:-}. Default: ${DEFAULT-VALUE}.")
  String promptFormat;

  @Mixin TemplatesOptions templates;

  @Mixin BatchOptions batch;

  /**
   * The template overrides folder, or null.
   *
   * @throws IllegalArgumentException when the folder does not exist
   */
  Path templates() {
    return templates.folder();
  }

  /**
   * The run's shared settings.
   *
   * @throws IllegalArgumentException on a bad or contradicting option, naming it
   */
  AnnotationRun.Settings settings() {
    return new AnnotationRun.Settings(input.toReadOptions(), output.out, models.toSpec(output.out, engine),
        PromptFormat.parse(promptFormat), batch.batchSize, output.shardSize, run.toRunner());
  }
}
