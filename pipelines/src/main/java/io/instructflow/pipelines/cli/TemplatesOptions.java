package io.instructflow.pipelines.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * Prompt-template overrides; shared by the commands that prompt a model with built-in templates (issue
 * 20). A command names its own templates for the help with the resource-bundle key
 * {@code templates.example} (see {@link CommandHelp}).
 */
final class TemplatesOptions {
  @Option(names = "--templates", paramLabel = "DIR",
      description = "Prompt-template overrides: DIR/<id>.txt replaces the built-in template <id>${bundle:templates.example:-}; "
          + "docs/algorithms.md lists the ids.")
  Path templates;

  /**
   * The overrides folder, or null when none was given.
   *
   * @throws IllegalArgumentException when the folder does not exist
   */
  Path folder() {
    if (templates != null && !Files.isDirectory(templates)) {
      throw new IllegalArgumentException("--templates: no such folder: " + templates);
    }
    return templates;
  }
}
