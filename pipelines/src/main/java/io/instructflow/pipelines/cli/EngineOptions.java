package io.instructflow.pipelines.cli;

import io.instructflow.inference.llama.LlamaCppModel;
import java.nio.file.Path;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** How the embedded llama.cpp engine runs: the options {@code generate} and {@code serve} share. */
final class EngineOptions {
  @Mixin ParallelOptions slots;

  @Option(names = "--schedule", defaultValue = "invariant", paramLabel = "S",
      description = "invariant: one llama.cpp context whose running sequences share each decoding step (one read of "
          + "the weights for all), in a shape that keeps every completion's text what it is alone, whatever "
          + "--parallel, batching or timing (CPU); contexts: one context per sequence, also invariant but every "
          + "sequence reads all the weights (the default before issue 18); batched: one context decoding all "
          + "sequences as they come (continuous batching), not invariant: a few greedy outputs can differ with "
          + "--parallel and between runs. Default: ${DEFAULT-VALUE}.")
  String schedule;

  @Option(names = "--ctx-per-slot", defaultValue = "0", paramLabel = "N",
      description = "Context tokens per sequence (prompt + completion); 0: the model's training context, at most 2048. "
          + "Longer prompts are rejected. Default: ${DEFAULT-VALUE}.")
  int contextPerSlot;

  @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
      description = "CPU threads for decoding in all (the contexts schedule gives each sequence's context "
          + "threads/parallel, at least 1); 0: one per core. Default: ${DEFAULT-VALUE}.")
  int threads;

  @Option(names = "--gpu-layers", defaultValue = "0", paramLabel = "N",
      description = "Layers offloaded to the GPU (needs a CUDA build of llama.cpp named by INSTRUCTFLOW_LLAMA_LIB, "
          + "see docs/engine.md, GPU nodes). "
          + "Default: ${DEFAULT-VALUE}.")
  int gpuLayers;

  @Option(names = "--flash-attn", defaultValue = "auto", paramLabel = "auto|on|off",
      description = "llama.cpp's flash-attention kernels. auto: off on the CPU for attention heads narrower than 64 "
          + "(slower there), else llama.cpp's own choice. Default: ${DEFAULT-VALUE}.")
  String flashAttention;

  @Option(names = "--prefix-reuse", defaultValue = "on", paramLabel = "on|off",
      description = "Reuse the KV cells of a prompt prefix computed before (the Self-Instruct, judge and Evol prompts "
          + "start with long shared text). Under the invariant and contexts schedules only whole 512-token chunks are reused, "
          + "so texts are unchanged. Default: ${DEFAULT-VALUE}.")
  String prefixReuse;

  @Option(names = "--prefix-cache", defaultValue = "1", paramLabel = "N",
      description = "Spare KV streams per llama.cpp context that keep prefixes for reuse, least recently used out; "
          + "each costs one sequence's KV memory (--ctx-per-slot cells). Default: ${DEFAULT-VALUE}.")
  int prefixCache;

  @Option(names = "--verbose-native", description = "Show llama.cpp's own log (silenced by default).")
  boolean verboseNative;

  /** Sequences decoded at once, or requests in flight to an endpoint. */
  int parallel() {
    return slots.parallel;
  }

  /** The schedule asked for. */
  LlamaCppModel.Schedule schedule() {
    return LlamaCppModel.Schedule.parse(schedule);
  }

  /** The engine configuration for a model file. */
  LlamaCppModel.Config config(Path model) {
    return LlamaCppModel.Config.of(model).withParallel(parallel()).withContextPerSlot(contextPerSlot).withThreads(threads)
        .withGpuLayers(gpuLayers).withVerboseNative(verboseNative)
        .withSchedule(schedule())
        .withFlashAttention(LlamaCppModel.FlashAttention.parse(flashAttention))
        .withPrefixReuse(reuse(), prefixCache);
  }

  /** Whether --prefix-reuse is on. */
  boolean reuse() {
    return switch (prefixReuse.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "on" -> true;
      case "off" -> false;
      default -> throw new IllegalArgumentException("--prefix-reuse is on or off, not '" + prefixReuse + "'");
    };
  }
}
