package io.instructflow.pipelines.cli;

import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.generate.GeneratePipeline;
import io.instructflow.pipelines.runtime.RunReport;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow generate}: a completion for every record from the embedded llama.cpp engine. */
@Command(
    name = "generate",
    mixinStandardHelpOptions = true,
    description = {
      "Complete every record with a GGUF model run in-process by llama.cpp (continuous batching over --parallel "
          + "slots, shared by all workers), or with a model behind an OpenAI-compatible --endpoint.",
      "Single-turn records are sent as text (instruction, blank line, input); {\"prompt\": ...} records as their "
          + "prompt unchanged; chat records through the model's own chat template. The completion goes into "
          + "output (or a final assistant turn).",
      "Tiny models (like the shared stories260K) run fastest with --threads 1.",
      "Writes OUT/data/, OUT/rejects/ (prompt too long, no chat template, generation failed), OUT/run-summary.json. "
          + "Finished generations are cached (default OUT/cache/), so a rerun after a crash resumes."
    })
public final class GenerateCommand implements Callable<Integer> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;
  @Mixin OutputOptions output;

  @Option(names = "--model", paramLabel = "GGUF", description = "The GGUF model file (embedded llama.cpp).")
  String model;

  @Option(names = "--endpoint", paramLabel = "URL",
      description = "Instead of --model: an OpenAI-compatible API root, e.g. http://127.0.0.1:8080/v1 (vLLM, TGI, "
          + "llama.cpp server, OpenAI, instructflow serve).")
  String endpoint;

  @Option(names = "--model-name", paramLabel = "NAME", description = "With --endpoint: the served model's name.")
  String modelName;

  @Option(names = "--api-key-env", paramLabel = "VAR",
      description = "With --endpoint: environment variable holding the API key (never logged).")
  String apiKeyEnv;

  @Mixin EngineOptions engine;

  @Option(names = "--max-tokens", defaultValue = "256", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
  int maxTokens;

  @Option(names = "--temperature", defaultValue = "0", paramLabel = "T",
      description = "0 is greedy decoding (the same text on every run). Default: ${DEFAULT-VALUE}.")
  double temperature;

  @Option(names = "--top-p", defaultValue = "1", paramLabel = "P", description = "Default: ${DEFAULT-VALUE}.")
  double topP;

  @Option(names = "--top-k", defaultValue = "0", paramLabel = "K", description = "0 turns it off. Default: ${DEFAULT-VALUE}.")
  int topK;

  @Option(names = "--seed", defaultValue = "0", paramLabel = "S",
      description = "Run seed; each record's seed is derived from it and the record id. Default: ${DEFAULT-VALUE}.")
  long seed;

  @Option(names = "--stop", paramLabel = "STR", description = "A stop string (repeatable); not included in the output.")
  List<String> stop = new ArrayList<>();

  @Option(names = "--batch-size", defaultValue = "16", paramLabel = "N",
      description = "Records per call from one worker. Default: ${DEFAULT-VALUE}.")
  int batchSize;

  @Option(names = "--cache-dir", paramLabel = "DIR", description = "Response cache folder. Default: OUT/cache.")
  String cacheDir;

  @Option(names = "--no-cache", description = "Neither read nor write the response cache.")
  boolean noCache;


  @Override
  public Integer call() throws Exception {
    GeneratePipeline.Config c;
    try {
      String cache = noCache ? null : cacheDir != null ? cacheDir : Paths.get(output.out, "cache").toString();
      if (noCache && cacheDir != null) {
        throw new IllegalArgumentException("--no-cache and --cache-dir contradict each other");
      }
      String cachePath = cache == null ? null : Paths.get(cache).toAbsolutePath().toString();
      if ((model == null) == (endpoint == null)) {
        throw new IllegalArgumentException("give --model GGUF (embedded) or --endpoint URL with --model-name NAME");
      }
      if (endpoint != null && modelName == null) {
        throw new IllegalArgumentException("--endpoint needs --model-name");
      }
      ModelSpec spec = endpoint != null
          ? ModelSpec.remote(endpoint, modelName, apiKeyEnv, engine.parallel, cachePath)
          : new ModelSpec(Paths.get(model).toAbsolutePath().toString(), engine.parallel, engine.contextPerSlot,
              engine.threads, engine.gpuLayers, engine.verboseNative, cachePath);
      SamplingParams params = new SamplingParams(maxTokens, temperature, topP, topK, stop, 1);
      c = new GeneratePipeline.Config(input.toReadOptions(), output.out, spec, params, seed, batchSize,
          output.shardSize, run.toRunner());
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
    try {
      return RunReport.exitCode(GeneratePipeline.run(c, System.out));
    } catch (InvalidModelException e) {
      throw new Main.UsageException(e.getMessage());
    }
  }
}
