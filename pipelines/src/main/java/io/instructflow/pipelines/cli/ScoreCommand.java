package io.instructflow.pipelines.cli;

import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.score.RecordScorer;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.pipelines.runtime.RunReport;
import io.instructflow.pipelines.score.ScorePipeline;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
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
public final class ScoreCommand implements Callable<Integer> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;
  @Mixin OutputOptions output;
  @Mixin ModelOptions models;
  @Mixin EngineOptions engine;

  @Option(names = "--scores", defaultValue = "ifd", split = ",", paramLabel = "LIST",
      description = "Which scores: ifd, complexity, quality (comma-separated). Default: ${DEFAULT-VALUE}.")
  List<String> scores = new ArrayList<>();

  @Option(names = "--prompt-format", defaultValue = "auto", paramLabel = "auto|chat|text",
      description = "chat: the model's chat template; text: plain text; auto: chat for a GGUF file with a chat "
          + "template, else text (an --endpoint scores text only). Default: ${DEFAULT-VALUE}.")
  String promptFormat;

  @Option(names = "--templates", paramLabel = "DIR",
      description = "Prompt-template overrides: DIR/score/deita-complexity@1.txt ({{instruction}}) and "
          + "DIR/score/deita-quality@1.txt ({{instruction}}, {{output}}).")
  Path templates;

  @Option(names = "--batch-size", defaultValue = "16", paramLabel = "N",
      description = "Records per call to the model. Default: ${DEFAULT-VALUE}.")
  int batchSize;

  @Override
  public Integer call() throws Exception {
    ScorePipeline.Config c;
    try {
      if (templates != null && !Files.isDirectory(templates)) {
        throw new IllegalArgumentException("--templates: no such folder: " + templates);
      }
      List<RecordScorer.Kind> kinds = new ArrayList<>();
      for (String s : scores) {
        kinds.add(RecordScorer.Kind.parse(s));
      }
      c = new ScorePipeline.Config(input.toReadOptions(), output.out, models.toSpec(output.out, engine),
          RecordScorer.Settings.of(kinds, false, templates), PromptFormat.parse(promptFormat), batchSize,
          output.shardSize, run.toRunner());
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
    try {
      return RunReport.exitCode(ScorePipeline.run(c, System.out));
    } catch (InvalidModelException e) {
      throw new Main.UsageException(e.getMessage());
    }
  }
}
