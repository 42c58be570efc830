package io.instructflow.pipelines.cli;

import io.instructflow.inference.llama.LlamaCppModel;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** How the embedded llama.cpp engine runs: the options {@code generate} and {@code serve} share. */
final class EngineOptions {
  @Option(names = "--parallel", defaultValue = "1", paramLabel = "P",
      description = "llama.cpp slots decoded together (continuous batching); with generate --endpoint, requests in "
          + "flight. 1 is reproducible (each request is decoded alone); more is faster but llama.cpp's arithmetic "
          + "depends on which requests share a step, so a few long greedy outputs can differ between runs. "
          + "Default: ${DEFAULT-VALUE}.")
  int parallel;

  @Option(names = "--ctx-per-slot", defaultValue = "0", paramLabel = "N",
      description = "Context tokens per slot (prompt + completion); 0: the model's training context, at most 2048. "
          + "Longer prompts are rejected. Default: ${DEFAULT-VALUE}.")
  int contextPerSlot;

  @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
      description = "CPU threads for decoding; 0: one per core. Default: ${DEFAULT-VALUE}.")
  int threads;

  @Option(names = "--gpu-layers", defaultValue = "0", paramLabel = "N",
      description = "Layers offloaded to the GPU (needs a CUDA build of the native library, see README). "
          + "Default: ${DEFAULT-VALUE}.")
  int gpuLayers;

  @Option(names = "--verbose-native", description = "Show llama.cpp's own log (silenced by default).")
  boolean verboseNative;

  /** The engine configuration for a model file. */
  LlamaCppModel.Config config(Path model) {
    return LlamaCppModel.Config.of(model).withParallel(parallel).withContextPerSlot(contextPerSlot).withThreads(threads)
        .withGpuLayers(gpuLayers).withVerboseNative(verboseNative);
  }
}
