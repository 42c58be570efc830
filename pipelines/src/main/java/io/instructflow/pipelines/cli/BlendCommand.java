package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.blend.BlendPipeline;
import io.instructflow.pipelines.blend.BlendSpec;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow blend}: a weighted, capped, deterministic mix of datasets, with exports and a dataset card. */
@Command(
    name = "blend",
    mixinStandardHelpOptions = true,
    description = {
      "Blend datasets by a spec (JSON or YAML; see docs/commands.md, blend): weights, fractions or counts per source, "
          + "caps, upsampling, a row or token target, temperature sampling, cross-source exact dedup, a validation split, "
          + "caps on rows per tag value (tagQuotas, e.g. at most 20% task_category coding).",
      "Writes OUT/data/ (the rows), OUT/export/<format>/ (jsonl, alpaca, messages, sharegpt, parquet), OUT/filtered/ "
          + "(records left out, with the reason), OUT/rejects/, OUT/README.md (dataset card), the spec, the quota plan "
          + "and OUT/run-summary.json."
    })
public final class BlendCommand extends PipelineCommand<BlendPipeline.Config> {
  @Mixin RunOptions run;

  @Option(names = "--spec", required = true, paramLabel = "FILE", description = "The blend spec (.json, .yaml or .yml).")
  Path spec;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder.")
  String out;

  @Override
  BlendPipeline.Config configure() throws Exception {
    if (!Files.isRegularFile(spec)) {
      throw new IllegalArgumentException("--spec: no such file: " + spec);
    }
    return new BlendPipeline.Config(BlendSpec.read(spec), out, run.toRunner());
  }

  @Override
  RunSummary run(BlendPipeline.Config c) throws Exception {
    return BlendPipeline.run(c, System.out);
  }
}
