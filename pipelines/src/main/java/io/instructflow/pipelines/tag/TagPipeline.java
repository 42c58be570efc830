package io.instructflow.pipelines.tag;

import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.tag.RecordTagger;
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
 * The {@code tag} command (issue 22, item 5): Magpie-style tags of every record (task category,
 * difficulty, input quality), each a label from a fixed set chosen by a judge model ({@link RecordTagger}):
 * greedy, held to the labels by a GBNF grammar on the embedded engine.
 *
 * <p>Built like {@code score}: the model is loaded once per JVM and shared by every worker, behind the
 * response cache (a rerun reads its labels back); records are batched by their place in the input (file and
 * line), not by bundle, so every runner sends the same batches. A tagged record goes to {@code data/} with
 * its labels in {@code metadata.tags} and a {@value #STEP} step naming the model and the templates' hashes;
 * a record that cannot be tagged goes to {@code rejects/} with the reason. Nothing is filtered here: the
 * blend's {@code tagQuotas} cap rows per label.
 */
public final class TagPipeline {
  private TagPipeline() {}

  /** Provenance step name and metrics namespace. */
  public static final String STEP = "tag";
  static final String VERSION = "1";

  /**
   * Settings of a tag run.
   *
   * @param common what every annotating command has: input, output, model, prompt format, batch size, runner
   * @param tags the tags and their templates, format and grammar not yet resolved
   */
  public record Config(AnnotationRun.Settings common, RecordTagger.Settings tags) {
    public Config {
      Objects.requireNonNull(common, "common");
      Objects.requireNonNull(tags, "tags");
    }

    /** A run from its parts. */
    public Config(ReadOptions read, String out, ModelSpec model, RecordTagger.Settings tags, PromptFormat format,
        int batchSize, long shardSize, Runner runner) {
      this(new AnnotationRun.Settings(read, out, model, format, batchSize, shardSize, runner), tags);
    }
  }

  /**
   * Builds tagging into a run, alone ({@code PipelineRun.Fusion.NONE}, then {@code runAlone()}) or fused with the
   * commands around it (issue 20).
   *
   * @throws InvalidModelException when the model file is missing or not GGUF (before anything runs)
   */
  public static io.instructflow.pipelines.runtime.PipelineRun.Part plan(Config c, PrintStream console,
      io.instructflow.pipelines.runtime.PipelineRun.Fusion fusion)
      throws InputFiles.InputException, IOException, InvalidModelException {
    AnnotationRun.Settings a = c.common();
    boolean chat = a.chat();
    // an endpoint takes no grammar: its replies are read strictly instead (RecordTagger.parse)
    RecordTagger.Settings s = c.tags().resolved(chat, !a.model().isRemote());
    AnnotatingCall call = new AnnotatingCall(STEP, VERSION, s.asMap(), null, "tagged",
        (model, batch) -> RecordTagger.tag(model, s, batch));
    // counters (namespace "tag"): records (seen), tagged, failed (rejected), requests (generation requests, cached
    // ones included)
    return AnnotationRun.plan(a, "Tag", call,
        a.describe(STEP, s.asMap().get("tags"), chat, s.grammar() ? ", grammar" : ", no grammar"), console, fusion);
  }
}
