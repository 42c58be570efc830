package io.instructflow.inference;

import io.instructflow.inference.llama.GgufMetadata;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.openai.OpenAiModel;
import io.instructflow.schemas.ModelRef;
import java.io.Serializable;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A serializable description of the model a pipeline calls: a {@link Local} GGUF file run by the
 * embedded llama.cpp engine, or a {@link Remote} model behind an OpenAI-compatible endpoint. Each worker
 * turns it into the JVM's shared {@link LanguageModel} with {@link #open()}, so the model is loaded once
 * per JVM however many DoFn instances the runner makes.
 *
 * <p>Two specs are the same model when they are equal (records): the JVM's models and identities are
 * kept by spec. A remote model that became unusable (its server refused the key, or the client could
 * not be made) is kept only until the next {@link #check()}, which every run makes before it starts, so
 * a later run in the same JVM asks the server again instead of failing at once forever.
 */
public sealed interface ModelSpec extends Serializable permits ModelSpec.Local, ModelSpec.Remote {
  /** Response cache folder, or null for no cache. */
  String cacheDir();

  /**
   * Checks the model without loading it and returns its metadata: for a {@link Local} file a run fails
   * here, before it starts, on a missing or non-GGUF file or on GPU layers asked of the bundled CPU-only
   * build; a {@link Remote} model is asked for its {@link #identity} (a {@link ModelUnusableException} on
   * a refused key) and null is returned.
   */
  GgufMetadata check() throws InvalidModelException;

  /** The model's identity for provenance: file name, file SHA-256 and backend, or served name and backend. */
  ModelRef ref();

  /**
   * What the model's answers depend on ({@link LanguageModel#identity}), without loading it: for a
   * local file the file's SHA-256, the llama.cpp build, the backend and the GPU layers
   * ({@link io.instructflow.inference.llama.EngineBuild#identity}); for a remote model the endpoint, the
   * served name and the server's {@code /models} entry for it (see {@link OpenAiModel#identity}). Asked
   * once per JVM when it succeeds; a failure is not kept, so the next call asks again. The response cache
   * keys on it, and resumed Self-Instruct and Evol runs compare it.
   *
   * @throws ModelUnusableException when a remote server refuses the key or cannot be asked
   */
  default String identity() {
    return OpenModels.identity(this);
  }

  /** The JVM's model for this spec, behind the response cache when there is one; loads lazily. */
  default LanguageModel open() {
    return OpenModels.open(this);
  }

  /** The settings for the run summary (the same keys as before the spec was split, issue 20). */
  Map<String, Object> asMap();

  /** Whether the model is remote. */
  default boolean isRemote() {
    return this instanceof Remote;
  }

  /** The embedded engine on a GGUF file, with the default schedule, flash attention and prefix reuse. */
  static Local local(String path, int parallel, int contextPerSlot, int threads, int gpuLayers, boolean verboseNative,
      String cacheDir) {
    return local(path, parallel, contextPerSlot, threads, gpuLayers, verboseNative, cacheDir,
        LlamaCppModel.Schedule.INVARIANT);
  }

  /** The embedded engine on a GGUF file, with a schedule. */
  static Local local(String path, int parallel, int contextPerSlot, int threads, int gpuLayers, boolean verboseNative,
      String cacheDir, LlamaCppModel.Schedule schedule) {
    return new Local(path, parallel, contextPerSlot, threads, gpuLayers, verboseNative, cacheDir, schedule,
        LlamaCppModel.FlashAttention.AUTO, true, 1);
  }

  /** A model behind an OpenAI-compatible endpoint. */
  static Remote remote(String endpoint, String modelName, String apiKeyEnv, int concurrency, String cacheDir) {
    return new Remote(endpoint, modelName, apiKeyEnv, concurrency, cacheDir);
  }

  /**
   * A model named in one string, as {@code pairs --candidates} and {@code --judge} take it:
   * {@code NAME@URL} is the model NAME behind the OpenAI-compatible API at URL ({@code http://} or
   * {@code https://}); anything else is a GGUF file, made absolute, run with {@code parallel} sequences of
   * {@code contextPerSlot} tokens, all cores and no GPU layers.
   *
   * @param text NAME@URL or a GGUF path
   * @param apiKeyEnv for a remote model, the environment variable holding the API key, or null
   * @param parallel sequences decoded at once, or requests in flight to an endpoint
   * @param contextPerSlot context tokens per sequence of the embedded engine, 0 for automatic
   * @param cacheDir response cache folder, or null
   * @throws IllegalArgumentException on an empty text, or a {@code NAME@URL} without a name or with a URL
   *     that is not http(s)
   */
  static ModelSpec parse(String text, String apiKeyEnv, int parallel, int contextPerSlot, String cacheDir) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("a model is a GGUF file or NAME@URL, got an empty one");
    }
    int at = text.indexOf('@');
    if (at >= 0 && text.indexOf("://", at) > at && text.lastIndexOf('/', at) < 0) {
      // NAME@SCHEME://...: meant as a remote model
      String name = text.substring(0, at);
      String url = text.substring(at + 1);
      if (name.isBlank()) {
        throw new IllegalArgumentException("model '" + text + "': NAME@URL needs the served model's name before @");
      }
      if (!url.matches("https?://.+")) {
        throw new IllegalArgumentException("model '" + text + "': the URL of NAME@URL starts with http:// or https://");
      }
      return remote(url, name, apiKeyEnv, parallel, cacheDir);
    }
    return local(Paths.get(text).toAbsolutePath().toString(), parallel, contextPerSlot, 0, 0, false, cacheDir);
  }

  /**
   * A GGUF file run by the embedded llama.cpp engine.
   *
   * @param path path of the GGUF file
   * @param parallel sequences decoded at once
   * @param contextPerSlot context tokens per slot, 0 for automatic (see {@link LlamaCppModel.Config})
   * @param threads decoding threads, 0 for one per core
   * @param gpuLayers layers offloaded to a GPU
   * @param verboseNative let llama.cpp's own log through
   * @param cacheDir response cache folder, or null for no cache
   * @param schedule the engine's schedule ({@link LlamaCppModel.Schedule})
   * @param flashAttention the engine's flash-attention setting
   * @param prefixReuse whether the engine reuses computed prompt prefixes
   * @param prefixCache spare KV streams per context that hold prefixes (see {@link LlamaCppModel.Config})
   */
  record Local(String path, int parallel, int contextPerSlot, int threads, int gpuLayers, boolean verboseNative,
      String cacheDir, LlamaCppModel.Schedule schedule, LlamaCppModel.FlashAttention flashAttention, boolean prefixReuse,
      int prefixCache) implements ModelSpec {
    private static final long serialVersionUID = 1L;

    /** Validates every setting as the engine's configuration does (the message names the bad value). */
    public Local {
      Objects.requireNonNull(path, "path");
      Objects.requireNonNull(flashAttention, "flashAttention");
      Objects.requireNonNull(schedule, "schedule");
      config(path, parallel, contextPerSlot, threads, gpuLayers, verboseNative, schedule, flashAttention, prefixReuse,
          prefixCache);
    }

    /** The same model with the engine's flash-attention and prefix-reuse settings. */
    public Local withEngine(LlamaCppModel.FlashAttention flash, boolean reuse, int cache) {
      return new Local(path, parallel, contextPerSlot, threads, gpuLayers, verboseNative, cacheDir, schedule, flash,
          reuse, cache);
    }

    /** The llama.cpp configuration. */
    public LlamaCppModel.Config llamaConfig() {
      return config(path, parallel, contextPerSlot, threads, gpuLayers, verboseNative, schedule, flashAttention,
          prefixReuse, prefixCache);
    }

    private static LlamaCppModel.Config config(String path, int parallel, int contextPerSlot, int threads,
        int gpuLayers, boolean verboseNative, LlamaCppModel.Schedule schedule, LlamaCppModel.FlashAttention flash,
        boolean reuse, int cache) {
      return LlamaCppModel.Config.of(Paths.get(path)).withParallel(parallel).withContextPerSlot(contextPerSlot)
          .withThreads(threads).withGpuLayers(gpuLayers).withVerboseNative(verboseNative)
          .withSchedule(schedule)
          .withFlashAttention(flash).withPrefixReuse(reuse, cache);
    }

    @Override
    public GgufMetadata check() throws InvalidModelException {
      GgufMetadata meta = GgufMetadata.read(Paths.get(path));
      if (gpuLayers > 0 && io.instructflow.inference.llama.NativeLibs.ownBuild() == null) {
        // without a build of its own the engine runs the bundled CPU build, which cannot offload; with one,
        // the workers (which may be other machines than this one) check it when they load the model
        throw new InvalidModelException("--gpu-layers " + gpuLayers + " needs a CUDA build of llama.cpp named by "
            + io.instructflow.inference.llama.NativeLibs.ENV + " (or -D"
            + io.instructflow.inference.llama.NativeLibs.PROPERTY + "); the jar's build and the tuned CPU build are CPU-only "
            + "(docs/engine.md, GPU nodes)");
      }
      return meta;
    }

    @Override
    public ModelRef ref() {
      Path p = Paths.get(path);
      return new ModelRef(p.getFileName().toString(), ModelFiles.sha256(p), "llama.cpp");
    }

    @Override
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("model", path);
      m.put("backend", "llama.cpp");
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

  /**
   * A model behind an OpenAI-compatible endpoint (vLLM, TGI, llama.cpp's server, OpenAI, our
   * {@code serve}).
   *
   * @param endpoint the API root, e.g. {@code http://127.0.0.1:8080/v1}
   * @param name the served model's name
   * @param apiKeyEnv the environment variable holding the API key, or null to send none
   * @param concurrency the most requests in flight
   * @param cacheDir response cache folder, or null for no cache
   */
  record Remote(String endpoint, String name, String apiKeyEnv, int concurrency, String cacheDir) implements ModelSpec {
    private static final long serialVersionUID = 1L;

    /** Validates every setting as the client's configuration does (the message names the bad value). */
    public Remote {
      Objects.requireNonNull(endpoint, "endpoint");
      Objects.requireNonNull(name, "name");
      config(endpoint, name, apiKeyEnv, concurrency);
    }

    /** The client's configuration. */
    public OpenAiModel.Config clientConfig() {
      return config(endpoint, name, apiKeyEnv, concurrency);
    }

    private static OpenAiModel.Config config(String endpoint, String name, String apiKeyEnv, int concurrency) {
      return OpenAiModel.Config.of(endpoint, name).withApiKeyEnv(apiKeyEnv).withConcurrency(concurrency);
    }

    @Override
    public GgufMetadata check() {
      // a model that became unusable in an earlier run of this JVM gets another chance now
      OpenModels.forgetUnusable(this);
      // asks the server which model it serves: a refused key (401, 403) stops the run here, before it starts
      identity();
      return null;
    }

    @Override
    public ModelRef ref() {
      return new ModelRef(name, null, "openai");
    }

    @Override
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("model", name);
      m.put("backend", "openai");
      m.put("endpoint", endpoint);
      m.put("apiKeyEnv", apiKeyEnv);
      m.put("concurrency", concurrency);
      m.put("cacheDir", cacheDir);
      return m;
    }
  }
}
