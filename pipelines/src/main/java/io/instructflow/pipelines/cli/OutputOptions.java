package io.instructflow.pipelines.cli;

import picocli.CommandLine.Option;

/** Where a record-writing command writes; shared by the commands with the standard output layout. */
public final class OutputOptions {
  @Option(names = "--out", required = true, paramLabel = "DIR",
      description = "Output folder: data/, filtered/, rejects/, run-summary.json, MANIFEST.json and, last, the completion "
          + "marker _SUCCESS (earlier outputs in it are replaced). A local folder, or a scheme Beam's FileSystems can write.")
  String out;

  @Option(names = "--shard-size", defaultValue = "50000", paramLabel = "N",
      description = "Records per output shard (about). Default: ${DEFAULT-VALUE}.")
  long shardSize;
}
