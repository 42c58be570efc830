package io.instructflow.pipelines.tag;

import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.tag.RecordTagger;
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
   * @param read what to read
   * @param out output folder
   * @param model the judge model and its cache
   * @param tags the tags and their templates, format and grammar not yet resolved
   * @param format how requests are sent: auto picks chat for a GGUF file with a chat template, else text
   * @param batchSize records per call to the model
   * @param shardSize records per output shard
   * @param runner where to run
   */
  public record Config(ReadOptions read, String out, ModelSpec model, RecordTagger.Settings tags, PromptFormat format,
      int batchSize, long shardSize, Runner runner) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(model, "model");
      Objects.requireNonNull(tags, "tags");
      Objects.requireNonNull(format, "format");
      Objects.requireNonNull(runner, "runner");
      if (batchSize < 1) {
        throw new IllegalArgumentException("--batch-size must be positive, got " + batchSize);
      }
      if (shardSize < 1) {
        throw new IllegalArgumentException("--shard-size must be positive, got " + shardSize);
      }
    }

    Map<String, Object> asMap(RecordTagger.Settings resolved) {
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

  /** Whether requests go as chat: {@code format} chat, or auto with a GGUF file that has a chat template. */
  static boolean chat(PromptFormat format, boolean remote, GgufMetadata meta) {
    return format == PromptFormat.CHAT
        || format == PromptFormat.AUTO && !remote && meta != null && meta.chatTemplate().isPresent();
  }

  /**
   * Runs tagging and returns the summary.
   *
   * @throws InvalidModelException when the model file is missing or not GGUF (before anything runs)
   */
  public static RunSummary run(Config c, PrintStream console)
      throws InputFiles.InputException, IOException, InvalidModelException {
    GgufMetadata meta = c.model().check();
    boolean chat = chat(c.format(), c.model().isRemote(), meta);
    // an endpoint takes no grammar: its replies are read strictly instead (RecordTagger.parse)
    RecordTagger.Settings s = c.tags().resolved(chat, !c.model().isRemote());
    ModelRef ref = c.model().ref();
    PipelineRun run = PipelineRun.start(STEP, c.runner(), c.read(), c.out(), c.asMap(s), console);
    console.printf(Locale.ROOT, "tag: %s with %s (%s requests%s, %s), cache %s%n", s.asMap().get("tags"), ref.id(),
        chat ? "chat" : "text", c.format() == PromptFormat.AUTO ? ", auto" : "", s.grammar() ? "grammar" : "no grammar",
        c.model().cacheDir() == null ? "off" : c.model().cacheDir());
    ReadRecords.Result r = run.read();
    // counters (namespace "tag"): records (seen), tagged, failed (rejected), requests (generation requests, cached
    // ones included)
    StageResult out = CallModel.Result.records(r.examples().apply("Tag",
        CallModel.of(STEP, CallModel.ModelSource.of(c.model()), new AnnotatingCall(STEP, VERSION, s.asMap(), null, "tagged",
            (model, batch) -> RecordTagger.tag(model, s, batch)),
            CallModel.EXAMPLES).withBatchSize(c.batchSize()).withInputs(run.inputPaths())));
    run.write(out.kept(), OutputLayout.Kind.DATA, "Data");
    run.write(PCollectionList.of(r.rejects()).and(out.rejects()).apply("AllRejects", Flatten.pCollections()),
        OutputLayout.Kind.REJECTS, "Rejects");
    long t0 = System.nanoTime();
    PipelineResult result = run.execute("read+tag+write", Progress.READ, Progress.DECIDED);
    double seconds = (System.nanoTime() - t0) / 1e9;
    Map<String, Object> m = new LinkedHashMap<>();
    for (String name : List.of("records", "tagged", "failed", "requests")) {
      m.put(name, PipelineRun.counter(result, STEP, name));
    }
    m.put("records_per_second", Math.round(PipelineRun.counter(result, STEP, "records") / Math.max(seconds, 1e-3)));
    run.report().metrics(STEP, m);
    console.printf(Locale.ROOT, "tag: %,d records tagged, %,d not (%,d requests), %,d records/s over the stage%n",
        m.get("tagged"), m.get("failed"), m.get("requests"), m.get("records_per_second"));
    return run.finish(c.shardSize(), null, null);
  }
}
