package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.runtime.Runner;
import picocli.CommandLine.Option;

/** Where a command's pipelines run; shared by every command. */
public final class RunOptions {
  @Option(names = "--runner", defaultValue = "spark", paramLabel = "spark|direct",
      description = "Beam runner: spark (embedded local[*] unless --spark-master) or direct. Default: ${DEFAULT-VALUE}.")
  String runner;

  @Option(names = "--spark-master", paramLabel = "URL",
      description = "Spark master, e.g. spark://host:7077 or local[4]. Default: local[*] (embedded).")
  String sparkMaster;

  /** The runner these options select. */
  public Runner toRunner() {
    try {
      return new Runner(runner, sparkMaster);
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
  }
}
