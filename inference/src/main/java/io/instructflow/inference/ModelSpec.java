package io.instructflow.inference;

import io.instructflow.inference.llama.GgufMetadata;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.openai.OpenAiModel;
import io.instructflow.schemas.ModelRef;
import java.io.Serializable;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A serializable description of the model a pipeline calls, turned into the JVM's shared
 * {@link LanguageModel} on each worker by {@link #open()} (so the model is loaded once per JVM, however
 * many DoFn instances the runner makes).
 *
 * @param model path of the GGUF file
 * @param parallel sequences decoded at once
 * @param contextPerSlot context tokens per slot, 0 for automatic (see {@link LlamaCppModel.Config})
 * @param threads decoding threads, 0 for one per core
 * @param gpuLayers layers offloaded to a GPU
 * @param verboseNative let llama.cpp's own log through
 * @param cacheDir response cache folder, or null for no cache
 * @param endpoint for a remote model, the OpenAI-compatible API root ({@code model} is then the served
 *     model name and {@code parallel} the most requests in flight); null for the embedded engine
 * @param apiKeyEnv for a remote model, the environment variable holding the API key, or null
 * @param schedule the embedded engine's schedule ({@link LlamaCppModel.Schedule}; the remote model ignores it)
 * @param flashAttention the embedded engine's flash-attention setting
 * @param prefixReuse whether the embedded engine reuses computed prompt prefixes
 * @param prefixCache spare KV streams per context that hold prefixes (see {@link LlamaCppModel.Config})
 */
public record ModelSpec(String model, int parallel, int contextPerSlot, int threads, int gpuLayers,
    boolean verboseNative, String cacheDir, String endpoint, String apiKeyEnv, LlamaCppModel.Schedule schedule,
    LlamaCppModel.FlashAttention flashAttention, boolean prefixReuse, int prefixCache) implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final Map<ModelSpec, LanguageModel> OPEN = new HashMap<>();
  private static final Map<ModelSpec, String> IDENTITIES = new java.util.concurrent.ConcurrentHashMap<>();

  public ModelSpec {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(flashAttention, "flashAttention");
    Objects.requireNonNull(schedule, "schedule");
    if (endpoint == null) {
      llamaConfig(model, parallel, contextPerSlot, threads, gpuLayers, verboseNative, schedule, flashAttention,
          prefixReuse, prefixCache);
    } else {
      openAiConfig(endpoint, model, apiKeyEnv, parallel);
    }
  }

  /** The embedded engine on a GGUF file. */
  public ModelSpec(String model, int parallel, int contextPerSlot, int threads, int gpuLayers, boolean verboseNative,
      String cacheDir) {
    this(model, parallel, contextPerSlot, threads, gpuLayers, verboseNative, cacheDir, null, null,
        LlamaCppModel.Schedule.INVARIANT, LlamaCppModel.FlashAttention.AUTO, true, 1);
  }

  /** The embedded engine on a GGUF file, with a schedule. */
  public ModelSpec(String model, int parallel, int contextPerSlot, int threads, int gpuLayers, boolean verboseNative,
      String cacheDir, LlamaCppModel.Schedule schedule) {
    this(model, parallel, contextPerSlot, threads, gpuLayers, verboseNative, cacheDir, null, null, schedule,
        LlamaCppModel.FlashAttention.AUTO, true, 1);
  }

  /** A model behind an OpenAI-compatible endpoint. */
  public static ModelSpec remote(String endpoint, String modelName, String apiKeyEnv, int concurrency, String cacheDir) {
    return new ModelSpec(modelName, concurrency, 0, 0, 0, false, cacheDir, endpoint, apiKeyEnv,
        LlamaCppModel.Schedule.INVARIANT, LlamaCppModel.FlashAttention.AUTO, true, 1);
  }

  /** The same model with the embedded engine's flash-attention and prefix-reuse settings. */
  public ModelSpec withEngine(LlamaCppModel.FlashAttention flash, boolean reuse, int cache) {
    return new ModelSpec(model, parallel, contextPerSlot, threads, gpuLayers, verboseNative, cacheDir, endpoint,
        apiKeyEnv, schedule, flash, reuse, cache);
  }

  /** Whether the model is remote. */
  public boolean isRemote() {
    return endpoint != null;
  }

  private static OpenAiModel.Config openAiConfig(String endpoint, String model, String apiKeyEnv, int concurrency) {
    return OpenAiModel.Config.of(endpoint, model).withApiKeyEnv(apiKeyEnv).withConcurrency(concurrency);
  }

  private static LlamaCppModel.Config llamaConfig(String model, int parallel, int contextPerSlot, int threads,
      int gpuLayers, boolean verboseNative, LlamaCppModel.Schedule schedule, LlamaCppModel.FlashAttention flash,
      boolean reuse,
      int cache) {
    return LlamaCppModel.Config.of(Paths.get(model)).withParallel(parallel).withContextPerSlot(contextPerSlot)
        .withThreads(threads).withGpuLayers(gpuLayers).withVerboseNative(verboseNative)
        .withSchedule(schedule)
        .withFlashAttention(flash).withPrefixReuse(reuse, cache);
  }

  /** The llama.cpp configuration. */
  public LlamaCppModel.Config llamaConfig() {
    return llamaConfig(model, parallel, contextPerSlot, threads, gpuLayers, verboseNative, schedule, flashAttention,
        prefixReuse, prefixCache);
  }

  /**
   * Checks the model file without loading it (a run fails here, before it starts, on a missing or
   * non-GGUF file, or on GPU layers asked of the bundled CPU-only build) and returns its metadata; for
   * a remote model asks the server for its {@link #identity} (a {@link ModelUnusableException} on a
   * refused key) and returns null.
   */
  public GgufMetadata check() throws InvalidModelException {
    if (isRemote()) {
      // asks the server which model it serves: a refused key (401, 403) stops the run here, before it starts
      identity();
      return null;
    }
    GgufMetadata meta = GgufMetadata.read(Paths.get(model));
    if (gpuLayers > 0 && io.instructflow.inference.llama.NativeLibs.ownBuild() == null) {
      // without a build of its own the engine runs the bundled CPU build, which cannot offload; with one,
      // the workers (which may be other machines than this one) check it when they load the model
      throw new InvalidModelException("--gpu-layers " + gpuLayers + " needs a CUDA build of llama.cpp named by "
          + io.instructflow.inference.llama.NativeLibs.ENV + " (or -D" + io.instructflow.inference.llama.NativeLibs.PROPERTY
          + "); the bundled build is CPU-only (docs/engine.md, GPU nodes)");
    }
    return meta;
  }

  /** The model's identity: file name, file SHA-256, backend. */
  public ModelRef ref() {
    if (isRemote()) {
      return new ModelRef(model, null, "openai");
    }
    Path p = Paths.get(model);
    return new ModelRef(p.getFileName().toString(), ModelFiles.sha256(p), "llama.cpp");
  }

  /**
   * What the model's answers depend on ({@link LanguageModel#identity}), without loading it: for the
   * embedded engine the file's SHA-256, the llama.cpp build, the backend and the GPU layers
   * ({@link io.instructflow.inference.llama.EngineBuild#identity}); for a remote model the endpoint, the
   * served name and the server's {@code /models} entry for it (one GET, see {@link OpenAiModel#identity}).
   * Once per JVM. The response cache keys on it, and resumed Self-Instruct and Evol runs compare it.
   *
   * @throws ModelUnusableException when a remote server refuses the key or cannot be asked
   */
  public String identity() {
    return IDENTITIES.computeIfAbsent(this, s -> s.isRemote()
        ? new OpenAiModel(openAiConfig(s.endpoint, s.model, s.apiKeyEnv, s.parallel)).identity()
        : io.instructflow.inference.llama.EngineBuild.identity(s.llamaConfig()));
  }

  /** The JVM's model for this spec, behind the response cache when there is one; loads lazily. */
  public LanguageModel open() {
    synchronized (OPEN) {
      return OPEN.computeIfAbsent(this, s -> {
        java.util.function.Supplier<LanguageModel> base = s.isRemote()
            ? () -> new OpenAiModel(openAiConfig(s.endpoint, s.model, s.apiKeyEnv, s.parallel))
            : () -> load(s.llamaConfig());
        if (s.cacheDir == null) {
          return base.get();
        }
        return new CachingModel(s.ref(), s::identity, base, new ResponseCache(Paths.get(s.cacheDir)));
      });
    }
  }

  private static LanguageModel load(LlamaCppModel.Config c) {
    try {
      return LlamaCppModel.shared(c);
    } catch (InvalidModelException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
  }

  /** The settings for the run summary. */
  public Map<String, Object> asMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("model", model);
    m.put("backend", isRemote() ? "openai" : "llama.cpp");
    if (isRemote()) {
      m.put("endpoint", endpoint);
      m.put("apiKeyEnv", apiKeyEnv);
      m.put("concurrency", parallel);
      m.put("cacheDir", cacheDir);
      return m;
    }
    m.put("parallel", parallel);
    m.put("schedule", schedule.id());
    m.put("contextPerSlot", contextPerSlot);
    m.put("threads", threads);
    m.put("gpuLayers", gpuLayers);
    m.put("flashAttention", flashAttention.name().toLowerCase(java.util.Locale.ROOT));
    m.put("prefixReuse", prefixReuse);
    m.put("prefixCache", prefixCache);
    m.put("cacheDir", cacheDir);
    return m;
  }
}
