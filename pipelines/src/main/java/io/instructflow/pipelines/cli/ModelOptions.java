package io.instructflow.pipelines.cli;

import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.io.OutputLayout;
import java.nio.file.Paths;
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

  @Option(names = "--cache-dir", paramLabel = "DIR", description = "Response cache folder. Default: OUT/cache.")
  String cacheDir;

  @Option(names = "--no-cache", description = "Neither read nor write the response cache.")
  boolean noCache;

  /**
   * The model these options name, with the engine settings and the cache under {@code out}.
   *
   * @throws IllegalArgumentException on contradicting or missing options
   */
  ModelSpec toSpec(String out, EngineOptions engine) {
    if (noCache && cacheDir != null) {
      throw new IllegalArgumentException("--no-cache and --cache-dir contradict each other");
    }
    // the cache is local files: an object-store path would become a local folder named after its scheme
    String dir = OutputLayout.requireLocal(cacheDir, "--cache-dir");
    String cache = noCache ? null : dir != null ? dir
        : Paths.get(OutputLayout.requireLocal(out, "With the response cache under it (give --cache-dir DIR or --no-cache), "
            + "--out"), "cache").toString();
    String cachePath = cache == null ? null : Paths.get(cache).toAbsolutePath().toString();
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
