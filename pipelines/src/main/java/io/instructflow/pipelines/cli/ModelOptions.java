package io.instructflow.pipelines.cli;

import io.instructflow.inference.ModelSpec;
import java.nio.file.Paths;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Which model a generating command calls, and its response cache; shared by every such command. */
public final class ModelOptions {
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

  @Mixin CacheOptions cache;

  /**
   * The model these options name, with the engine settings and the cache under {@code out}.
   *
   * @throws IllegalArgumentException on contradicting or missing options
   */
  ModelSpec toSpec(String out, EngineOptions engine) {
    String cachePath = cache.folder(out);
    if ((model == null) == (endpoint == null)) {
      throw new IllegalArgumentException("give --model GGUF (embedded) or --endpoint URL with --model-name NAME");
    }
    if (endpoint != null && modelName == null) {
      throw new IllegalArgumentException("--endpoint needs --model-name");
    }
    return endpoint != null
        ? ModelSpec.remote(endpoint, modelName, apiKeyEnv, engine.parallel(), cachePath)
        : ModelSpec.local(Paths.get(model).toAbsolutePath().toString(), engine.parallel(), engine.contextPerSlot,
            engine.threads, engine.gpuLayers, engine.verboseNative, cachePath, engine.schedule())
            .withEngine(io.instructflow.inference.llama.LlamaCppModel.FlashAttention.parse(engine.flashAttention),
                engine.reuse(), engine.prefixCache);
  }
}
