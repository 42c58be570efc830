package io.instructflow.pipelines.generate;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.llama.GgufMetadata;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stage.CallModel;
import io.instructflow.pipelines.stage.ConfigChecks;
import io.instructflow.pipelines.stage.ModelCall;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RunSummary;
import java.io.IOException;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;

/**
 * The {@code generate} command: a completion for every record, from the embedded llama.cpp engine.
 *
 * <p>Records are read in parallel and sent to the model in batches of consecutive input places
 * ({@link CallModel}: the same batches on every runner); the model is loaded once per JVM and its
 * sequences are shared by every worker thread, behind the response cache.
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
   * @param batchSize records per call to the model (consecutive places of one input file)
   * @param shardSize records per output shard
   * @param runner where to run
   */
  public record Config(ReadOptions read, String out, ModelSpec model, SamplingParams params, long seed, int batchSize,
      long shardSize, Runner runner) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(params, "params");
      if (params.n() != 1) {
        throw new IllegalArgumentException("generate writes one completion per record: n must be 1, got " + params.n());
      }
      ConfigChecks.modelCall(model, batchSize);
      ConfigChecks.output(out, shardSize, runner);
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

  /**
   * Runs generation and returns its summary.
   *
   * @throws InvalidModelException when the model file is missing or not a GGUF model (before anything runs)
   */
  public static RunSummary run(Config c, PrintStream console)
      throws InputFiles.InputException, IOException, InvalidModelException {
    return plan(c, console, PipelineRun.Fusion.NONE).runAlone();
  }

  /**
   * Builds generation into a run, alone or fused with the commands around it (issue 20).
   *
   * @throws InvalidModelException when the model file is missing or not a GGUF model (before anything runs)
   */
  public static PipelineRun.Part plan(Config c, PrintStream console, PipelineRun.Fusion fusion)
      throws InputFiles.InputException, IOException, InvalidModelException {
    GgufMetadata meta = c.model().check();
    ModelRef ref = c.model().ref();
    PipelineRun run = PipelineRun.start("generate", c.runner(), c.read(), c.out(), c.asMap(), console, fusion)
        .shardSize(c.shardSize());
    String what = c.model() instanceof ModelSpec.Remote r
        ? String.format(Locale.ROOT, "%s at %s (OpenAI-compatible)", ref.id(), r.endpoint())
        : String.format(Locale.ROOT, "%s (sha256 %s..., %s, llama.cpp in-process)", ref.id(), ref.sha256().substring(0, 12),
            meta.architecture().orElse("?"));
    console.printf(Locale.ROOT, "generate: %s, max %d tokens, temperature %s, seed %d, cache %s%n", what,
        c.params().maxTokens(), c.params().temperature(), c.seed(),
        c.model().cacheDir() == null ? "off" : c.model().cacheDir());
    ReadRecords.Result r = run.read();
    CallModel.Result<Example> out = r.examples().apply("Generate", CallModel.of(NAMESPACE,
        CallModel.ModelSource.of(c.model()),
        new GenerateCall(c.params(), c.seed(), meta == null ? null : meta.chatTemplate().orElse(null)), CallModel.EXAMPLES)
        .withBatchSize(c.batchSize()).withInputs(run.inputNames()));
    run.write(out.kept(), OutputLayout.Kind.DATA, "Data");
    // read rejects and generation rejects share one writer, so rejects/ is in input order as a whole
    PCollection<KV<OrderKey, Reject>> rejects = PCollectionList.of(r.rejects()).and(out.rejects())
        .apply("AllRejects", Flatten.pCollections());
    run.write(rejects, OutputLayout.Kind.REJECTS, "Rejects");
    return new PipelineRun.Part(run, "read+generate+write", List.of(Progress.READ, Progress.GENERATED, Progress.TOKENS),
        result -> finish(c, run, result, console));
  }

  /** What follows the pipeline: the model's counts into the summary, publishing. */
  private static RunSummary finish(Config c, PipelineRun run, PipelineResult result, PrintStream console)
      throws IOException {
    double seconds = run.pipelineMillis() / 1e3;
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
   * A completion for each record, for {@link CallModel}: the request of {@link GenerateRequests#request}
   * (seed derived from the run seed and the record id); a completed record gets its {@code generate} step
   * ({@link GenerateRequests#withCompletion}), a failed request rejects the record with its reason.
   */
  static final class GenerateCall implements ModelCall.PerRequest<Example> {
    private static final long serialVersionUID = 1L;
    private final SamplingParams params;
    private final long seed;
    private final String chatTemplate;

    /**
     * @param params sampling parameters of every request
     * @param seed the run seed
     * @param chatTemplate the model's chat template (named in a chat record's step), or null
     */
    GenerateCall(SamplingParams params, long seed, String chatTemplate) {
      this.params = Objects.requireNonNull(params, "params");
      this.seed = seed;
      this.chatTemplate = chatTemplate;
    }

    @Override
    public GenerationRequest request(Example e) {
      return GenerateRequests.request(e, params, seed);
    }

    @Override
    public ModelCall.Outcome<Example> answer(Example e, GenerationRequest req, GenerationResult res, ModelRef ref) {
      if (!res.ok()) {
        return ModelCall.Outcome.failed(e.provenance().origin().location(), GenerateRequests.rejectReason(res), res.error(),
            GenerateRequests.STEP, e);
      }
      return ModelCall.Outcome.kept(GenerateRequests.withCompletion(e, req, res, ref,
          GenerateRequests.template(e, chatTemplate)), false);
    }
  }
}
