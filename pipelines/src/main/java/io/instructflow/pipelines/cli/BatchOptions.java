package io.instructflow.pipelines.cli;

import picocli.CommandLine.Option;

/**
 * How many requests one worker sends to the model in one call; shared by the model-calling commands
 * (issue 20). How many of them the model works on at once is {@code --parallel} ({@link EngineOptions}).
 * A command whose model is not its main one names it with the resource-bundle key
 * {@code batch-size.model} (see {@link CommandHelp}).
 */
final class BatchOptions {
  @Option(names = "--batch-size", defaultValue = "16", paramLabel = "N",
      description = "Requests sent to ${bundle:batch-size.model:-the model} in one call from one worker. "
          + "Default: ${DEFAULT-VALUE}.")
  int batchSize;
}
