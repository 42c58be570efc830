package io.instructflow.pipelines.stage;

import io.instructflow.generators.prompt.PromptFormat;
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
 * The run of a command that adds what a model says to every record and filters nothing ({@code score},
 * {@code tag}; issue 20): the settings such a command shares, how its prompt format is resolved, and the
 * pipeline from reading to the summary around its {@link AnnotatingCall}. The command keeps only what is
 * its own: its settings resolved for the model, and the annotator.
 *
 * <pre>{@code
 * AnnotationRun.Settings a = config.common();
 * boolean chat = a.chat();
 * AnnotatingCall call = new AnnotatingCall("score", "1", resolved.asMap(), null, "scored", annotator);
 * return AnnotationRun.plan(a, "Score", call, a.describe("score", what, chat, ""), console, fusion);
 * }</pre>
 */
public final class AnnotationRun {
  private AnnotationRun() {}

  /** Counter of every record the model call routed (a {@code ModelCounters} counter). */
  static final String RECORDS = "records";
  /** Counter of requests sent, cached ones included (a {@code ModelCounters} counter). */
  static final String REQUESTS = "requests";
  /** Records per second over the stage, in the summary's metrics. */
  static final String RATE = "records_per_second";

  /**
   * The settings an annotating command shares, checked when built.
   *
   * @param read what to read
   * @param out output folder
   * @param model the model and its cache
   * @param format how requests are sent: auto picks chat for a GGUF file with a chat template, else text
   * @param batchSize records per call to the model
   * @param shardSize records per output shard
   * @param runner where to run
   */
  public record Settings(ReadOptions read, String out, ModelSpec model, PromptFormat format, int batchSize,
      long shardSize, Runner runner) {
    public Settings {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(format, "format");
      ConfigChecks.modelCall(model, batchSize);
      ConfigChecks.output(out, shardSize, runner);
    }

    /**
     * Whether requests go as chat ({@link AnnotationRun#chat}); checks the model file on the way.
     *
     * @throws InvalidModelException when the model file is missing or not GGUF
     */
    public boolean chat() throws InvalidModelException {
      GgufMetadata meta = model.check();
      return AnnotationRun.chat(format, model.isRemote(), meta);
    }

    /**
     * The run's settings as the summary has them: the input's, the model's, then {@code resolved} (the
     * command's own settings, resolved for the model), then these.
     */
    public Map<String, Object> asMap(Map<String, Object> resolved) {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.putAll(model.asMap());
      m.putAll(resolved);
      m.put("promptFormat", format.code());
      m.put("batchSize", batchSize);
      m.put("out", out);
      m.put("shardSize", shardSize);
      m.put("runner", runner.describe());
      return m;
    }

    /**
     * The console line that opens a run: {@code COMMAND: WHAT with MODEL-ID (chat|text requests[, auto]MORE),
     * cache DIR|off}.
     *
     * @param what what is asked of the model (the scores, the tags)
     * @param more what the command adds inside the parentheses, from its comma on, or empty
     */
    public String describe(String command, Object what, boolean chat, String more) {
      return String.format(Locale.ROOT, "%s: %s with %s (%s requests%s%s), cache %s%n", command, what, model.ref().id(),
          chat ? "chat" : "text", format == PromptFormat.AUTO ? ", auto" : "", more,
          model.cacheDir() == null ? "off" : model.cacheDir());
    }
  }

  /**
   * Whether an annotating command's requests go as chat: {@code format} chat, or auto with a GGUF file
   * that has a chat template. Under auto an endpoint gets text requests (unlike a generating command's
   * {@link PromptFormat#resolve}): scores are read from the completions API's echo, and both commands
   * ask an endpoint the same way.
   *
   * @param meta the model file's metadata, or null for an endpoint
   */
  public static boolean chat(PromptFormat format, boolean remote, GgufMetadata meta) {
    return format == PromptFormat.CHAT
        || format == PromptFormat.AUTO && !remote && meta != null && meta.chatTemplate().isPresent();
  }

  /**
   * Builds an annotating command into a run, alone or fused with the commands around it (issue 20;
   * {@link PipelineRun.Part#runAlone} runs it alone): starts the run (command and counter namespace: the
   * call's step name; settings: {@link Settings#asMap} of the call's params), prints {@code opening}
   * ({@link Settings#describe}), reads the records, sends them through {@code call} in batches of
   * {@code s.batchSize()} input places ({@link CallModel}, Beam step {@code stepName}), writes the annotated
   * records to {@code data/} and the unreadable lines with the records that could not be annotated to
   * {@code rejects/}, runs the pipeline, puts the counters {@code records}, the call's done counter,
   * {@code failed} and {@code requests} and {@code records_per_second} (over the stage) into the summary's
   * metrics, and prints them in one line.
   *
   * @throws InputFiles.InputException when the input cannot be listed (before anything runs)
   */
  public static PipelineRun.Part plan(Settings s, String stepName, AnnotatingCall call, String opening,
      PrintStream console, PipelineRun.Fusion fusion) throws InputFiles.InputException, IOException {
    String ns = call.step();
    String done = call.doneCounter();
    PipelineRun run = PipelineRun.start(ns, s.runner(), s.read(), s.out(), s.asMap(call.params()), console, fusion)
        .shardSize(s.shardSize());
    console.print(opening);
    ReadRecords.Result r = run.read();
    StageResult out = CallModel.Result.records(r.examples().apply(stepName,
        CallModel.of(ns, CallModel.ModelSource.of(s.model()), call, CallModel.EXAMPLES)
            .withBatchSize(s.batchSize()).withInputs(run.inputNames())));
    run.write(out.kept(), OutputLayout.Kind.DATA, "Data");
    run.write(PCollectionList.of(r.rejects()).and(out.rejects()).apply("AllRejects", Flatten.pCollections()),
        OutputLayout.Kind.REJECTS, "Rejects");
    return new PipelineRun.Part(run, "read+" + ns + "+write", List.of(Progress.READ, Progress.DECIDED), result -> {
      double seconds = run.pipelineMillis() / 1e3;
      Map<String, Object> m = new LinkedHashMap<>();
      for (String name : List.of(RECORDS, done, AnnotatingCall.FAILED, REQUESTS)) {
        m.put(name, PipelineRun.counter(result, ns, name));
      }
      m.put(RATE, Math.round(PipelineRun.counter(result, ns, RECORDS) / Math.max(seconds, 1e-3)));
      run.report().metrics(ns, m);
      console.printf(Locale.ROOT, "%s: %,d records %s, %,d not (%,d requests), %,d records/s over the stage%n", ns,
          m.get(done), done, m.get(AnnotatingCall.FAILED), m.get(REQUESTS), m.get(RATE));
      return run.finish(s.shardSize(), null, null);
    });
  }
}
