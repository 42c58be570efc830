package io.instructflow.inference.llama;

import com.sun.jna.Pointer;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.llama.LlamaCppModel.Config;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * The JVM's loaded models: one {@link LlamaCppModel} per configuration, loaded on first use and dropped
 * when it closes, and the weights under them ({@link Weights}), loaded once per file and GPU layers and
 * shared by every configuration of that file.
 */
final class ModelRegistry {
  private static final Map<Config, LlamaCppModel> SHARED = new HashMap<>();

  private ModelRegistry() {}

  /** How an instance is made when its configuration has none yet. */
  interface Loader {
    LlamaCppModel load(Config config) throws InvalidModelException;
  }

  /**
   * The JVM's instance for this configuration, made by {@code loader} on first use.
   *
   * @throws InvalidModelException when the loader cannot load it
   */
  static LlamaCppModel shared(Config config, Loader loader) throws InvalidModelException {
    synchronized (SHARED) {
      LlamaCppModel m = SHARED.get(config);
      if (m == null) {
        m = loader.load(config);
        SHARED.put(config, m);
      }
      return m;
    }
  }

  /**
   * Marks an instance closed ({@code closeOnce}: true the first time) and drops it from the registry, both
   * under the registry's lock, so that {@link #shared} never hands out a closed instance.
   *
   * @return whether this call closed it (false when it was closed before)
   */
  static boolean retire(Config config, LlamaCppModel m, BooleanSupplier closeOnce) {
    synchronized (SHARED) {
      if (!closeOnce.getAsBoolean()) {
        return false;
      }
      SHARED.remove(config, m);
      return true;
    }
  }

  /**
   * Loaded weights ({@code llama_model}) shared by every configuration of the same file and GPU layers,
   * counted, freed when the last user closes (issue 21: {@code bench generate} and {@code serve}
   * never hold two copies).
   */
  static final class Weights {
    private static final Map<List<Object>, Weights> LOADED = new HashMap<>();
    final List<Object> key;
    final Pointer model;
    int users;

    private Weights(List<Object> key, Pointer model) {
      this.key = key;
      this.model = model;
    }

    static Weights acquire(LlamaApi api, Config c) throws InvalidModelException {
      synchronized (LOADED) {
        List<Object> key = List.of(c.model(), c.gpuLayers());
        Weights w = LOADED.get(key);
        if (w == null) {
          LlamaApi.ModelParams mp = api.llama_model_default_params();
          mp.n_gpu_layers = c.gpuLayers();
          Pointer m = api.llama_model_load_from_file(c.model().toString(), mp);
          if (m == null) {
            throw new InvalidModelException("llama.cpp could not load " + c.model()
                + " (run with --verbose-native to see why)");
          }
          NativeCounts.NATIVE.modelsLoaded.incrementAndGet();
          w = new Weights(key, m);
          LOADED.put(key, w);
        }
        w.users++;
        return w;
      }
    }

    static void release(LlamaApi api, Weights w) {
      synchronized (LOADED) {
        if (--w.users == 0) {
          LOADED.remove(w.key);
          api.llama_model_free(w.model);
          NativeCounts.NATIVE.modelsFreed.incrementAndGet();
        }
      }
    }
  }
}
