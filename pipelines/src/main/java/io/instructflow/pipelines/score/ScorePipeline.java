package io.instructflow.pipelines.score;

import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.score.Ifd;
import io.instructflow.generators.score.RecordScorer;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stage.AnnotatingCall;
import io.instructflow.pipelines.stage.AnnotationRun;
import io.instructflow.schemas.RunSummary;
import java.io.IOException;
import java.io.PrintStream;
import java.util.Objects;

/**
 * The {@code score} command (issue 22): IFD and the Deita-style complexity and quality scores of every
 * record from a model's token log-probabilities ({@link RecordScorer}), nothing sampled.
 *
 * <p>The model is loaded once per JVM and shared by every worker, behind the response cache (a rerun
 * reads its scores back). Records are batched by their place in the input (file and line), not by bundle,
 * so every runner sends the same batches. A scored record goes to {@code data/} with its scores in
 * {@code metadata.scores} and a {@value #STEP} step naming the model and the templates; a record that
 * cannot be scored (no response for ifd or quality, a context longer than the model's, a chat context
 * without a chat template) goes to {@code rejects/} with the reason. Nothing is filtered here: the
 * {@code score_range} filter rule keeps records by score.
 */
public final class ScorePipeline {
  private ScorePipeline() {}

  /** Provenance step name and metrics namespace. */
  public static final String STEP = "score";
  static final String VERSION = "1";

  /**
   * Settings of a score run.
   *
   * @param common what every annotating command has: input, output, model, prompt format, batch size, runner
   * @param kinds the scores and their templates, format not yet resolved (see the settings' format)
   */
  public record Config(AnnotationRun.Settings common, RecordScorer.Settings kinds) {
    public Config {
      Objects.requireNonNull(common, "common");
      Objects.requireNonNull(kinds, "kinds");
      if (common.format() == PromptFormat.CHAT && common.model().isRemote()) {
        throw new IllegalArgumentException("--prompt-format chat: an OpenAI-compatible endpoint scores text prompts only "
            + "(echo of the completions API)");
      }
    }

    /** A run from its parts. */
    public Config(ReadOptions read, String out, ModelSpec model, RecordScorer.Settings kinds, PromptFormat format,
        int batchSize, long shardSize, Runner runner) {
      this(new AnnotationRun.Settings(read, out, model, format, batchSize, shardSize, runner), kinds);
    }
  }

  /**
   * Builds scoring into a run, alone ({@code PipelineRun.Fusion.NONE}, then {@code runAlone()}) or fused with the
   * commands around it (issue 20).
   *
   * @throws InvalidModelException when the model file is missing or not GGUF (before anything runs)
   */
  public static io.instructflow.pipelines.runtime.PipelineRun.Part plan(Config c, PrintStream console,
      io.instructflow.pipelines.runtime.PipelineRun.Fusion fusion)
      throws InputFiles.InputException, IOException, InvalidModelException {
    AnnotationRun.Settings a = c.common();
    boolean chat = a.chat();
    RecordScorer.Settings s = new RecordScorer.Settings(c.kinds().kinds(), chat, c.kinds().complexity(),
        c.kinds().quality());
    AnnotatingCall call = new AnnotatingCall(STEP, VERSION, s.asMap(),
        s.kinds().contains(RecordScorer.Kind.IFD) && !s.chat() ? Ifd.textTemplate() : null, "scored",
        (model, batch) -> RecordScorer.score(model, s, batch));
    // counters (namespace "score"): records (seen), scored, failed (rejected), requests (score requests, cached
    // ones included)
    return AnnotationRun.plan(a, "Score", call, a.describe(STEP, s.asMap().get("scores"), chat, ""), console, fusion);
  }
}
