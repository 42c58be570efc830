package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.importer.ImportPipeline;
import io.instructflow.pipelines.runtime.PipelineRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow import}: any supported shape to our records, with rejects and a run summary. */
@Command(
    name = "import",
    mixinStandardHelpOptions = true,
    description = {
      "Convert instruction data of any supported shape into instructflow records.",
      "Writes OUT/data/ (records), OUT/rejects/ (bad input with file:line and reason), "
          + "OUT/filtered/ (empty for import) and OUT/run-summary.json."
    })
public final class ImportCommand extends PipelineCommand<ImportPipeline.Config> implements Fusible<ImportPipeline.Config> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;

  @Mixin OutputOptions output;

  @Option(names = "--max-reject-ratio", paramLabel = "R",
      description = "Exit with status 3 (after writing everything) when rejected/read exceeds R, 0..1.")
  Double maxRejectRatio;

  @Override
  ImportPipeline.Config configure() {
    return new ImportPipeline.Config(input.toReadOptions(), output.out, output.shardSize, maxRejectRatio, run.toRunner());
  }


  @Override
  public ReadOptions read(ImportPipeline.Config c) {
    return c.read();
  }


  @Override
  public PipelineRun.Part plan(ImportPipeline.Config c, PipelineRun.Fusion fusion) throws Exception {
    return ImportPipeline.plan(c, System.out, fusion);
  }
}
