package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.generators.score.RecordScorer;
import io.instructflow.pipelines.score.ScorePipeline;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow score}: IFD and Deita-style scores of every record from token log-probabilities. */
@Command(
    name = "score",
    mixinStandardHelpOptions = true,
    description = {
      "Score every record with a model's token log-probabilities, nothing sampled (issue 22): ifd (perplexity of "
          + "the response after the instruction / perplexity of the response alone, Cherry LLM), complexity and "
          + "quality (Deita-style: the expected rating 1-6 under the model's probabilities of the six answers).",
      "Scores go into metadata.scores.<name> with the model and template hash; keep records by score with the "
          + "filter rule {\"type\":\"score_range\",\"score\":\"ifd\",\"max\":1.0,\"maxExclusive\":true}.",
      "Writes OUT/data/ (scored), OUT/rejects/ (no response, too long for the context, no chat template), "
          + "OUT/run-summary.json. Scores are cached (default OUT/cache/)."
    })
public final class ScoreCommand extends PipelineCommand<ScorePipeline.Config> implements Fusible<ScorePipeline.Config> {
  @Mixin AnnotationOptions options;

  @Option(names = "--scores", defaultValue = "ifd", split = ",", paramLabel = "LIST",
      description = "Which scores: ifd, complexity, quality (comma-separated). Default: ${DEFAULT-VALUE}.")
  List<String> scores = new ArrayList<>();

  @Option(names = "--prompt-format", defaultValue = "auto", paramLabel = "auto|chat|text",
      description = "chat: the model's chat template; text: plain text; auto: chat for a GGUF file with a chat "
          + "template, else text (an --endpoint scores text only). Default: ${DEFAULT-VALUE}.")
  String promptFormat;

  @Override
  ScorePipeline.Config configure() throws java.io.IOException {
    Path overrides = options.templates();
    List<RecordScorer.Kind> kinds = new ArrayList<>();
    for (String s : scores) {
      kinds.add(RecordScorer.Kind.parse(s));
    }
    return new ScorePipeline.Config(options.settings(promptFormat), RecordScorer.Settings.of(kinds, false, overrides));
  }


  @Override
  public ReadOptions read(ScorePipeline.Config c) {
    return c.common().read();
  }


  @Override
  public PipelineRun.Part plan(ScorePipeline.Config c,
      PipelineRun.Fusion fusion) throws Exception {
    return ScorePipeline.plan(c, System.out, fusion);
  }
}
