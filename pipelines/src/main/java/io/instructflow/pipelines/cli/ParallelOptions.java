package io.instructflow.pipelines.cli;

import picocli.CommandLine.Option;

/**
 * How many sequences a model works on at once; shared by the engine options and by {@code pairs}, whose
 * models are named in its own option strings (issue 20). How many requests one worker hands over in one
 * call is {@code --batch-size} ({@link BatchOptions}).
 */
final class ParallelOptions {
  @Option(names = "--parallel", defaultValue = "1", paramLabel = "P",
      description = "Sequences the embedded engine decodes at once, or requests in flight to an endpoint. Outputs do "
          + "not depend on it under the default invariant schedule. Default: ${DEFAULT-VALUE}.")
  int parallel;
}
