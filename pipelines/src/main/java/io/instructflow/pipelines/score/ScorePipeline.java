package io.instructflow.pipelines.score;

import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.score.Ifd;
import io.instructflow.generators.score.RecordScorer;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.llama.GgufMetadata;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stage.AnnotatingCall;
import io.instructflow.pipelines.stage.CallModel;
import io.instructflow.pipelines.stage.StageResult;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.RunSummary;
import java.io.IOException;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.values.PCollectionList;

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
   * @param read what to read
   * @param out output folder
   * @param model the scorer model and its cache
   * @param kinds the scores and their templates, format not yet resolved (see {@code format})
   * @param format how requests are sent: auto picks chat for a GGUF file with a chat template, else text
   * @param batchSize records per call to the model
   * @param shardSize records per output shard
   * @param runner where to run
   */
  public record Config(ReadOptions read, String out, ModelSpec model, RecordScorer.Settings kinds, PromptFormat format,
      int batchSize, long shardSize, Runner runner) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(model, "model");
      Objects.requireNonNull(kinds, "kinds");
      Objects.requireNonNull(format, "format");
      Objects.requireNonNull(runner, "runner");
      if (batchSize < 1) {
        throw new IllegalArgumentException("--batch-size must be positive, got " + batchSize);
      }
      if (shardSize < 1) {
        throw new IllegalArgumentException("--shard-size must be positive, got " + shardSize);
      }
      if (format == PromptFormat.CHAT && model.isRemote()) {
        throw new IllegalArgumentException("--prompt-format chat: an OpenAI-compatible endpoint scores text prompts only "
            + "(echo of the completions API)");
      }
    }

    Map<String, Object> asMap(RecordScorer.Settings resolved) {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.putAll(model.asMap());
      m.putAll(resolved.asMap());
      m.put("promptFormat", format.code());
      m.put("batchSize", batchSize);
      m.put("out", out);
      m.put("shardSize", shardSize);
      m.put("runner", runner.describe());
      return m;
    }
  }

  /**
   * Whether requests go as chat: {@code format} chat, or auto with a GGUF file that has a chat template
   * (an endpoint scores text only).
   */
  static boolean chat(PromptFormat format, boolean remote, GgufMetadata meta) {
    return format == PromptFormat.CHAT
        || format == PromptFormat.AUTO && !remote && meta != null && meta.chatTemplate().isPresent();
  }

  /**
   * Runs scoring and returns the summary.
   *
   * @throws InvalidModelException when the model file is missing or not GGUF (before anything runs)
   */
  public static RunSummary run(Config c, PrintStream console)
      throws InputFiles.InputException, IOException, InvalidModelException {
    GgufMetadata meta = c.model().check();
    boolean chat = chat(c.format(), c.model().isRemote(), meta);
    RecordScorer.Settings s = new RecordScorer.Settings(c.kinds().kinds(), chat, c.kinds().complexity(),
        c.kinds().quality());
    ModelRef ref = c.model().ref();
    PipelineRun run = PipelineRun.start(STEP, c.runner(), c.read(), c.out(), c.asMap(s), console);
    console.printf(Locale.ROOT, "score: %s with %s (%s requests%s), cache %s%n", s.asMap().get("scores"), ref.id(),
        chat ? "chat" : "text", c.format() == PromptFormat.AUTO ? ", auto" : "",
        c.model().cacheDir() == null ? "off" : c.model().cacheDir());
    ReadRecords.Result r = run.read();
    // counters (namespace "score"): records (seen), scored, failed (rejected), requests (score requests, cached
    // ones included)
    StageResult out = CallModel.Result.records(r.examples().apply("Score",
        CallModel.of(STEP, CallModel.ModelSource.of(c.model()), new AnnotatingCall(STEP, VERSION, s.asMap(),
            s.kinds().contains(RecordScorer.Kind.IFD) && !s.chat() ? Ifd.textTemplate() : null, "scored",
            (model, batch) -> RecordScorer.score(model, s, batch)),
            CallModel.EXAMPLES).withBatchSize(c.batchSize()).withInputs(run.inputPaths())));
    run.write(out.kept(), OutputLayout.Kind.DATA, "Data");
    run.write(PCollectionList.of(r.rejects()).and(out.rejects()).apply("AllRejects", Flatten.pCollections()),
        OutputLayout.Kind.REJECTS, "Rejects");
    long t0 = System.nanoTime();
    PipelineResult result = run.execute("read+score+write", Progress.READ, Progress.DECIDED);
    double seconds = (System.nanoTime() - t0) / 1e9;
    Map<String, Object> m = new LinkedHashMap<>();
    for (String name : List.of("records", "scored", "failed", "requests")) {
      m.put(name, PipelineRun.counter(result, STEP, name));
    }
    m.put("records_per_second", Math.round(PipelineRun.counter(result, STEP, "records") / Math.max(seconds, 1e-3)));
    run.report().metrics(STEP, m);
    console.printf(Locale.ROOT, "score: %,d records scored, %,d not (%,d requests), %,d records/s over the stage%n",
        m.get("scored"), m.get("failed"), m.get("requests"), m.get("records_per_second"));
    return run.finish(c.shardSize(), null, null);
  }
}
