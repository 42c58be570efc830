package io.instructflow.pipelines.cli;

import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.pipelines.stage.AnnotationRun;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * The options of a command that adds what a model says to every record ({@code score}, {@code tag}; issue
 * 20): what to read, where to run and write, the model with its engine and cache, the template overrides
 * and the batch size. The command adds what is asked of the model, and its {@code --prompt-format}: the
 * commands word it apart (score's endpoint takes text prompts only), and the recipe schema
 * ({@code docs/recipe.schema.json}) has each command's words, which a shared option's resource-bundle text
 * would not give it.
 */
final class AnnotationOptions {
  @Mixin InputOptions input;
  @Mixin RunOptions run;
  @Mixin OutputOptions output;
  @Mixin ModelOptions models;
  @Mixin EngineOptions engine;
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
   * The run's shared settings, with the command's {@code --prompt-format}.
   *
   * @throws IllegalArgumentException on a bad or contradicting option, naming it
   */
  AnnotationRun.Settings settings(String promptFormat) {
    return new AnnotationRun.Settings(input.toReadOptions(), output.out, models.toSpec(output.out, engine),
        PromptFormat.parse(promptFormat), batch.batchSize, output.shardSize, run.toRunner());
  }
}
