package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.select.ScoreExpression;
import io.instructflow.pipelines.select.SelectPipeline;
import io.instructflow.schemas.RunSummary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow select}: the best N records by a score, each unlike those chosen before it (Deita's rule). */
@Command(
    name = "select",
    mixinStandardHelpOptions = true,
    description = {
      "Select a budget of records: ranked by a score (highest first), a record is taken when its embedding's cosine "
          + "to every record taken before it is below --diversity, until --budget records are taken (Deita's rule).",
      "Writes OUT/data/ (selected, in input order), OUT/filtered/ (the rest: too similar, naming the nearest selected "
          + "record and the cosine; over the budget; no score), OUT/rejects/, OUT/run-summary.json."
    })
public final class SelectCommand extends PipelineCommand<SelectPipeline.Config> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;

  @Mixin OutputOptions output;

  @Option(names = "--budget", required = true, paramLabel = "N", description = "Records to select.")
  long budget;

  @Option(names = "--by", required = true, paramLabel = "EXPR",
      description = "A score name in metadata.scores (as the score command writes them), or a product of names, "
          + "e.g. quality*complexity.")
  String by;

  @Option(names = "--diversity", defaultValue = "0.9", paramLabel = "T",
      description = "Take a record only when its cosine to every record taken before it is below T. Default: ${DEFAULT-VALUE}.")
  double diversity;

  @Option(names = "--embedder", defaultValue = "auto", paramLabel = "auto|MODEL",
      description = "Sentence embedder, as semantic_dedup's model: auto sends mostly-CJK text to BGE-small-zh and the "
          + "rest to MiniLM, and compares texts of one model only. Default: ${DEFAULT-VALUE}.")
  String embedder;

  @Option(names = "--field", defaultValue = "prompt", paramLabel = "prompt|instruction|all",
      description = "Embedded text. Default: ${DEFAULT-VALUE}.")
  String field;

  @Override
  SelectPipeline.Config configure() {
    return new SelectPipeline.Config(input.toReadOptions(), output.out, budget, ScoreExpression.parse(by), diversity,
        embedder, field, output.shardSize, run.toRunner());
  }

  @Override
  RunSummary run(SelectPipeline.Config c) throws Exception {
    return SelectPipeline.run(c, System.out);
  }
}
