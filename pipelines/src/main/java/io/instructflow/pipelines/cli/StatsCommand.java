package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.stats.StatsPipeline;
import io.instructflow.schemas.RunSummary;
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
public final class StatsCommand extends PipelineCommand<StatsPipeline.Config> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder for stats.json, rejects and the summary.")
  String out;

  @Override
  StatsPipeline.Config configure() {
    return new StatsPipeline.Config(input.toReadOptions(), out, run.toRunner());
  }

  @Override
  RunSummary run(StatsPipeline.Config c) throws Exception {
    return StatsPipeline.run(c, System.out);
  }
}
