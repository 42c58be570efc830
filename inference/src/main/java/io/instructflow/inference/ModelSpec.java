package io.instructflow.inference;

import io.instructflow.inference.llama.GgufMetadata;
import io.instructflow.inference.llama.LlamaCppModel;
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
 * @param parallel llama.cpp slots
 * @param contextPerSlot context tokens per slot, 0 for automatic (see {@link LlamaCppModel.Config})
 * @param threads decoding threads, 0 for one per core
 * @param gpuLayers layers offloaded to a GPU
 * @param verboseNative let llama.cpp's own log through
 * @param cacheDir response cache folder, or null for no cache
 */
public record ModelSpec(String model, int parallel, int contextPerSlot, int threads, int gpuLayers,
    boolean verboseNative, String cacheDir) implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final Map<ModelSpec, LanguageModel> OPEN = new HashMap<>();

  public ModelSpec {
    Objects.requireNonNull(model, "model");
    config(model, parallel, contextPerSlot, threads, gpuLayers, verboseNative);
  }

  private static LlamaCppModel.Config config(String model, int parallel, int contextPerSlot, int threads,
      int gpuLayers, boolean verboseNative) {
    return LlamaCppModel.Config.of(Paths.get(model)).withParallel(parallel).withContextPerSlot(contextPerSlot)
        .withThreads(threads).withGpuLayers(gpuLayers).withVerboseNative(verboseNative);
  }

  /** The llama.cpp configuration. */
  public LlamaCppModel.Config llamaConfig() {
    return config(model, parallel, contextPerSlot, threads, gpuLayers, verboseNative);
  }

  /**
   * Checks the model file without loading it (a run fails here, before it starts, on a missing or
   * non-GGUF file) and returns its metadata.
   */
  public GgufMetadata check() throws InvalidModelException {
    return GgufMetadata.read(Paths.get(model));
  }

  /** The model's identity: file name, file SHA-256, backend. */
  public ModelRef ref() {
    Path p = Paths.get(model);
    return new ModelRef(p.getFileName().toString(), ModelFiles.sha256(p), "llama.cpp");
  }

  /** The JVM's model for this spec, behind the response cache when there is one; loads lazily. */
  public LanguageModel open() {
    synchronized (OPEN) {
      return OPEN.computeIfAbsent(this, s -> {
        LlamaCppModel.Config c = s.llamaConfig();
        if (s.cacheDir == null) {
          return load(c);
        }
        return new CachingModel(s.ref(), () -> load(c), new ResponseCache(Paths.get(s.cacheDir)));
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
    m.put("backend", "llama.cpp");
    m.put("parallel", parallel);
    m.put("contextPerSlot", contextPerSlot);
    m.put("threads", threads);
    m.put("gpuLayers", gpuLayers);
    m.put("cacheDir", cacheDir);
    return m;
  }
}
