package io.instructflow.pipelines.score;

import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.score.Ifd;
import io.instructflow.generators.score.RecordScorer;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.llama.GgufMetadata;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.PromptRef;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptors;

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

  static final TupleTag<KV<OrderKey, Example>> DONE = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Reject>> FAILED = new TupleTag<>() {};

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
    KvCoder<OrderKey, Example> coder = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class));
    int size = c.batchSize();
    PCollectionTuple out = r.examples()
        .apply("ScoreBatchKeys", WithKeys.of((KV<OrderKey, Example> kv) -> kv.getKey().source() + "/"
            + kv.getKey().position() / size).withKeyType(TypeDescriptors.strings()))
        .setCoder(KvCoder.of(StringUtf8Coder.of(), coder))
        .apply("ScoreBatches", GroupByKey.create())
        .apply("Score", ParDo.of(new ScoreFn(c.model(), s, run.inputPaths()))
            .withOutputTags(DONE, TupleTagList.of(FAILED)));
    run.write(out.get(DONE).setCoder(coder), OutputLayout.Kind.DATA, "Data");
    run.write(PCollectionList.of(r.rejects())
        .and(out.get(FAILED).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class))))
        .apply("AllRejects", Flatten.pCollections()), OutputLayout.Kind.REJECTS, "Rejects");
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

  /**
   * Scores one batch of records with one call to the model. Counters (namespace {@value #STEP}):
   * {@code records} (records seen), {@code scored}, {@code failed} (records rejected) and {@code requests}
   * (score requests sent, cached ones included).
   */
  static final class ScoreFn extends DoFn<KV<String, Iterable<KV<OrderKey, Example>>>, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final ModelSpec spec;
    private final RecordScorer.Settings settings;
    private final List<String> inputs;
    private final Counter records = Metrics.counter(STEP, "records");
    private final Counter scored = Metrics.counter(STEP, "scored");
    private final Counter failed = Metrics.counter(STEP, "failed");
    private final Counter requests = Metrics.counter(STEP, "requests");
    private transient LanguageModel model;

    ScoreFn(ModelSpec spec, RecordScorer.Settings settings, List<String> inputs) {
      this.spec = spec;
      this.settings = settings;
      this.inputs = List.copyOf(inputs);
    }

    @Setup
    public void setup() {
      model = spec.open();
    }

    @ProcessElement
    public void process(@Element KV<String, Iterable<KV<OrderKey, Example>>> batch, MultiOutputReceiver out) {
      List<KV<OrderKey, Example>> items = new ArrayList<>();
      batch.getValue().forEach(items::add);
      items.sort(Comparator.comparing((KV<OrderKey, Example> kv) -> kv.getKey()));
      List<Example> recs = new ArrayList<>(items.size());
      items.forEach(kv -> recs.add(kv.getValue()));
      List<RecordScorer.Outcome> outcomes = RecordScorer.score(model, settings, recs);
      ModelRef ref = model.ref();
      Map<String, Object> params = settings.asMap();
      PromptRef prompt = settings.kinds().contains(RecordScorer.Kind.IFD) && !settings.chat() ? Ifd.textTemplate() : null;
      for (int i = 0; i < items.size(); i++) {
        OrderKey key = items.get(i).getKey();
        Example e = items.get(i).getValue();
        records.inc();
        RecordScorer.Outcome o = outcomes.get(i);
        if (o instanceof RecordScorer.Outcome.Scored sc) {
          requests.inc(sc.requests());
          scored.inc();
          Step step = new Step(STEP, VERSION, params, Verdict.KEPT, List.of(), null, ref, prompt, null);
          out.get(DONE).output(KV.of(key, sc.record().withStep(step)));
        } else {
          RecordScorer.Outcome.Failed f = (RecordScorer.Outcome.Failed) o;
          requests.inc(f.requests());
          failed.inc();
          String source = key.source() >= 0 && key.source() < inputs.size() ? inputs.get(key.source()) : "";
          byte[] raw = Json.line(e).getBytes(StandardCharsets.UTF_8);
          out.get(FAILED).output(KV.of(key, Reject.of(source, e.provenance().origin().location(), f.reason(),
              f.message(), STEP, raw, raw.length)));
        }
      }
      Progress.add(Progress.DECIDED, items.size());
    }
  }
}
