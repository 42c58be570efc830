package io.instructflow.pipelines.generate;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
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
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.PromptRef;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RunSummary;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.joda.time.Instant;

/**
 * The {@code generate} command: a completion for every record, from the embedded llama.cpp engine.
 *
 * <p>Records are read in parallel and sent to the model in batches; the model is loaded once per JVM
 * and its sequences are shared by every worker thread, behind the response cache.
 * Each record with a completion goes to {@code data/} with a {@code generate} step; a record whose
 * request fails (prompt too long for the context, chat without a chat template, a backend error) goes
 * to {@code rejects/} with the reason. Output is in input order and, at temperature 0 or with a fixed
 * run seed, the same on every run, runner and batch size.
 */
public final class GeneratePipeline {
  private GeneratePipeline() {}

  /** Metrics namespace. */
  public static final String NAMESPACE = "generate";

  /**
   * Settings of a generate run.
   *
   * @param read what to read
   * @param out output folder
   * @param model the model and its cache
   * @param params sampling parameters of every request
   * @param seed the run seed, from which each record's seed is derived
   * @param batchSize records per call to the model from one worker
   * @param shardSize records per output shard
   * @param runner where to run
   */
  public record Config(ReadOptions read, String out, ModelSpec model, SamplingParams params, long seed, int batchSize,
      long shardSize, Runner runner) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(model, "model");
      Objects.requireNonNull(params, "params");
      Objects.requireNonNull(runner, "runner");
      if (params.n() != 1) {
        throw new IllegalArgumentException("generate writes one completion per record: n must be 1, got " + params.n());
      }
      if (batchSize < 1) {
        throw new IllegalArgumentException("--batch-size must be positive, got " + batchSize);
      }
      if (shardSize < 1) {
        throw new IllegalArgumentException("--shard-size must be positive, got " + shardSize);
      }
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.putAll(model.asMap());
      m.putAll(params.asMap());
      m.put("seed", seed);
      m.put("batchSize", batchSize);
      m.put("out", out);
      m.put("shardSize", shardSize);
      m.put("runner", runner.describe());
      return m;
    }
  }

  static final TupleTag<KV<OrderKey, Example>> DONE = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Reject>> FAILED = new TupleTag<>() {};
  static final TupleTag<GenerationStat> STATS = new TupleTag<>() {};

  /** What one request cost, for the metrics. */
  record GenerationStat(boolean ok, boolean cached, int promptTokens, int completionTokens)
      implements java.io.Serializable {}

  /** Turns {@link GenerationStat}s into the {@value #NAMESPACE} counters. */
  static final class CountFn extends DoFn<GenerationStat, Void> {
    private final Counter requests = Metrics.counter(NAMESPACE, "requests");
    private final Counter cacheHits = Metrics.counter(NAMESPACE, "cache_hits");
    private final Counter failures = Metrics.counter(NAMESPACE, "failures");
    private final Counter promptTokens = Metrics.counter(NAMESPACE, "prompt_tokens");
    private final Counter completionTokens = Metrics.counter(NAMESPACE, "completion_tokens");
    private final Counter modelCompletionTokens = Metrics.counter(NAMESPACE, "model_completion_tokens");

    @ProcessElement
    public void process(@Element GenerationStat st) {
      requests.inc();
      if (st.cached()) {
        cacheHits.inc();
      }
      if (!st.ok()) {
        failures.inc();
        return;
      }
      promptTokens.inc(st.promptTokens());
      completionTokens.inc(st.completionTokens());
      if (!st.cached()) {
        modelCompletionTokens.inc(st.completionTokens());
      }
    }
  }

  /**
   * Runs generation and returns its summary.
   *
   * @throws InvalidModelException when the model file is missing or not a GGUF model (before anything runs)
   */
  public static RunSummary run(Config c, PrintStream console)
      throws InputFiles.InputException, IOException, InvalidModelException {
    GgufMetadata meta = c.model().check();
    ModelRef ref = c.model().ref();
    PipelineRun run = PipelineRun.start("generate", c.runner(), c.read(), c.out(), c.asMap(), console);
    String what = c.model() instanceof ModelSpec.Remote r
        ? String.format(Locale.ROOT, "%s at %s (OpenAI-compatible)", ref.id(), r.endpoint())
        : String.format(Locale.ROOT, "%s (sha256 %s..., %s, llama.cpp in-process)", ref.id(), ref.sha256().substring(0, 12),
            meta.architecture().orElse("?"));
    console.printf(Locale.ROOT, "generate: %s, max %d tokens, temperature %s, seed %d, cache %s%n", what,
        c.params().maxTokens(), c.params().temperature(), c.seed(),
        c.model().cacheDir() == null ? "off" : c.model().cacheDir());
    ReadRecords.Result r = run.read();
    PCollectionTuple out = r.examples().apply("Generate",
        ParDo.of(new GenerateFn(c.model(), c.params(), c.seed(), c.batchSize(), meta == null ? null : meta.chatTemplate().orElse(null),
                run.inputPaths()))
            .withOutputTags(DONE, TupleTagList.of(FAILED).and(STATS)));
    // counted downstream, in processElement: counters updated in the generate step's FinishBundle (where
    // the last partial batch of a bundle runs) were sometimes lost by the DirectRunner (2 runs in 40)
    out.get(STATS).setCoder(SerializableCoder.of(GenerationStat.class)).apply("CountGeneration", ParDo.of(new CountFn()));
    run.write(out.get(DONE).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class))),
        OutputLayout.Kind.DATA, "Data");
    // read rejects and generation rejects share one writer, so rejects/ is in input order as a whole
    PCollection<KV<OrderKey, Reject>> rejects = PCollectionList.of(r.rejects())
        .and(out.get(FAILED).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class))))
        .apply("AllRejects", Flatten.pCollections());
    run.write(rejects, OutputLayout.Kind.REJECTS, "Rejects");
    long t0 = System.nanoTime();
    PipelineResult result = run.execute("read+generate+write", Progress.READ, Progress.GENERATED, Progress.TOKENS);
    double seconds = (System.nanoTime() - t0) / 1e9;
    Map<String, Object> m = new LinkedHashMap<>();
    long completionTokens = counter(result, "completion_tokens");
    m.put("requests", counter(result, "requests"));
    m.put("cache_hits", counter(result, "cache_hits"));
    m.put("model_requests", counter(result, "requests") - counter(result, "cache_hits"));
    m.put("failures", counter(result, "failures"));
    m.put("prompt_tokens", counter(result, "prompt_tokens"));
    m.put("completion_tokens", completionTokens);
    m.put("model_completion_tokens", counter(result, "model_completion_tokens"));
    m.put("model_tokens_per_second", Math.round(counter(result, "model_completion_tokens") / Math.max(seconds, 1e-3)));
    run.report().metrics(NAMESPACE, m);
    console.printf(Locale.ROOT, "generate: %,d requests (%,d from the cache, %,d failed), %,d prompt + %,d completion "
        + "tokens, %,d tokens/s from the model over the whole stage%n", m.get("requests"), m.get("cache_hits"), m.get("failures"),
        m.get("prompt_tokens"), completionTokens, m.get("model_tokens_per_second"));
    return run.finish(c.shardSize(), null, null);
  }

  private static long counter(PipelineResult result, String name) {
    return PipelineRun.counter(result, NAMESPACE, name);
  }

  /**
   * Sends records to the model in batches of {@code batchSize}; the last partial batch of a bundle
   * goes out when the bundle finishes.
   */
  static final class GenerateFn extends DoFn<KV<OrderKey, Example>, KV<OrderKey, Example>> {
    private final ModelSpec spec;
    private final SamplingParams params;
    private final long seed;
    private final int batchSize;
    private final String chatTemplate;
    private final List<String> inputs;
    private transient LanguageModel model;
    private transient ModelRef ref;
    private transient List<Pending> pending;

    private record Pending(KV<OrderKey, Example> element, Instant timestamp, BoundedWindow window) {}

    GenerateFn(ModelSpec spec, SamplingParams params, long seed, int batchSize, String chatTemplate,
        List<String> inputs) {
      this.spec = spec;
      this.params = params;
      this.seed = seed;
      this.batchSize = batchSize;
      this.chatTemplate = chatTemplate;
      this.inputs = List.copyOf(inputs);
    }

    @Setup
    public void setup() {
      model = spec.open();
      ref = model.ref();
    }

    @StartBundle
    public void startBundle() {
      pending = new ArrayList<>();
    }

    @ProcessElement
    public void process(ProcessContext c, BoundedWindow window) {
      pending.add(new Pending(c.element(), c.timestamp(), window));
      if (pending.size() >= batchSize) {
        List<Pending> batch = pending;
        pending = new ArrayList<>();
        for (Emitted e : call(batch)) {
          if (e.example != null) {
            c.output(KV.of(e.key, e.example));
          } else {
            c.output(FAILED, KV.of(e.key, e.reject));
          }
          c.output(STATS, e.stat);
        }
      }
    }

    @FinishBundle
    public void finishBundle(FinishBundleContext c) {
      List<Pending> batch = pending;
      pending = new ArrayList<>();
      List<Emitted> out = call(batch);
      for (int i = 0; i < out.size(); i++) {
        Emitted e = out.get(i);
        Pending p = batch.get(i);
        if (e.example != null) {
          c.output(KV.of(e.key, e.example), p.timestamp, p.window);
        } else {
          c.output(FAILED, KV.of(e.key, e.reject), p.timestamp, p.window);
        }
        c.output(STATS, e.stat, p.timestamp, p.window);
      }
    }

    private record Emitted(OrderKey key, Example example, Reject reject, GenerationStat stat) {}

    private List<Emitted> call(List<Pending> batch) {
      List<Emitted> out = new ArrayList<>(batch.size());
      if (batch.isEmpty()) {
        return out;
      }
      List<GenerationRequest> reqs = new ArrayList<>(batch.size());
      for (Pending p : batch) {
        reqs.add(GenerateRequests.request(p.element.getValue(), params, seed));
      }
      List<GenerationResult> results = model.generate(reqs);
      for (int i = 0; i < batch.size(); i++) {
        KV<OrderKey, Example> kv = batch.get(i).element;
        Example e = kv.getValue();
        GenerationResult res = results.get(i);
        GenerationStat stat = new GenerationStat(res.ok(), res.cached(), res.promptTokens(), res.completionTokens());
        if (res.ok()) {
          if (!res.cached()) {
            Progress.add(Progress.TOKENS, res.completionTokens());
          }
          PromptRef template = GenerateRequests.template(e, chatTemplate);
          out.add(new Emitted(kv.getKey(), GenerateRequests.withCompletion(e, reqs.get(i), res, ref, template), null,
              stat));
        } else {
          out.add(new Emitted(kv.getKey(), null, reject(kv.getKey(), e, res), stat));
        }
      }
      Progress.add(Progress.GENERATED, batch.size());
      return out;
    }

    private Reject reject(OrderKey key, Example e, GenerationResult res) {
      String source = key.source() >= 0 && key.source() < inputs.size() ? inputs.get(key.source()) : "";
      return GenerateRequests.failedRequest(source, e.provenance().origin().location(), res, GenerateRequests.STEP, e);
    }
  }
}
