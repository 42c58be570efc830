package io.instructflow.pipelines.cli;

import picocli.CommandLine.Option;

/** The run seed; shared by every command that samples or sends seeded requests (issue 20). */
final class SeedOptions {
  @Option(names = "--seed", defaultValue = "0", paramLabel = "S",
      description = "Run seed: every model request's seed derives from it and the request's record or prompt, and so "
          + "do the command's seeded draws (examples, operations, shuffles, tie picks). Default: ${DEFAULT-VALUE}.")
  long seed;
}
