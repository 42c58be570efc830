package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.filters.rouge.DedupText;
import io.instructflow.pipelines.dedup.DedupPipeline;
import io.instructflow.pipelines.runtime.PipelineRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow dedup}: the Self-Instruct ROUGE-L near-duplicate rule. */
@Command(
    name = "dedup",
    mixinStandardHelpOptions = true,
    description = {
      "Drop near-duplicates with the Self-Instruct rule: in order, a record whose ROUGE-L F against any earlier "
          + "kept record is above the threshold is dropped.",
      "Writes OUT/data/ (kept), OUT/filtered/ (dropped, naming the kept record matched and the score), OUT/rejects/, "
          + "OUT/run-summary.json."
    })
public final class DedupCommand extends PipelineCommand<DedupPipeline.Config> implements Fusible<DedupPipeline.Config> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;

  @Mixin OutputOptions output;

  @Option(names = "--threshold", defaultValue = "0.7", paramLabel = "T",
      description = "Drop a record whose ROUGE-L F against an earlier kept one is > T. Default: ${DEFAULT-VALUE}.")
  double threshold;

  @Option(names = "--field", defaultValue = "instruction", paramLabel = "instruction|instruction+input",
      description = "Text compared. Default: ${DEFAULT-VALUE}.")
  String field;

  @Option(names = "--tokenizer", defaultValue = "rouge", paramLabel = "rouge|unicode",
      description = "rouge: rouge_score's tokenizer (ASCII letters and digits only; non-ASCII text has no tokens); "
          + "unicode: any script, each CJK character a token. Default: ${DEFAULT-VALUE}.")
  String tokenizer;

  @Option(names = "--stem", description = "Porter-stem tokens longer than three characters (rouge_score's use_stemmer).")
  boolean stem;

  @Option(names = "--order-by", paramLabel = "FIELD",
      description = "Decide in the order of this field (a record field, or metadata.KEY) instead of input order.")
  String orderBy;

  @Option(names = "--strategy", defaultValue = "sequential", paramLabel = "sequential|components",
      description = "sequential: an incremental index of kept records; components: all similar pairs in parallel, "
          + "then the rule per connected component. Same result. Default: ${DEFAULT-VALUE}.")
  String strategy;


  @Override
  DedupPipeline.Config configure() {
    return new DedupPipeline.Config(input.toReadOptions(), output.out, threshold, DedupText.fromCode(field), tokenizer,
        stem, orderBy, strategy, output.shardSize, run.toRunner());
  }


  @Override
  public ReadOptions read(DedupPipeline.Config c) {
    return c.read();
  }

  @Override
  public boolean handsOnInPipeline(DedupPipeline.Config c) {
    return !DedupPipeline.decidesAfterPipeline(c);
  }

  @Override
  public PipelineRun.Part plan(DedupPipeline.Config c, PipelineRun.Fusion fusion) throws Exception {
    return DedupPipeline.plan(c, System.out, fusion);
  }
}
