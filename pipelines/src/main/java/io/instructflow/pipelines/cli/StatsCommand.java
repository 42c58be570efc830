package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.runtime.RunReport;
import io.instructflow.pipelines.stats.StatsPipeline;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow stats}: counts, composition and length distributions. */
@Command(
    name = "stats",
    mixinStandardHelpOptions = true,
    description = {
      "Count records, show composition by dataset / license / format and the length distribution of each field.",
      "Reads any supported shape. Writes OUT/stats.json, OUT/rejects/ and OUT/run-summary.json."
    })
public final class StatsCommand implements Callable<Integer> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder for stats.json, rejects and the summary.")
  String out;

  @Override
  public Integer call() throws Exception {
    StatsPipeline.Config c = new StatsPipeline.Config(input.toReadOptions(), out, run.toRunner());
    return RunReport.exitCode(StatsPipeline.run(c, System.out));
  }
}
