package io.instructflow.inference.llama;

import io.instructflow.inference.llama.LlamaCppModel.Config;
import io.instructflow.inference.llama.LlamaCppModel.FlashAttention;
import io.instructflow.inference.llama.LlamaCppModel.Schedule;

/**
 * A {@link Config} resolved against its GGUF file and this machine: what the options leave to the model
 * (context per sequence, flash attention) or to the machine (threads), and how the schedule lays the
 * sequences out over contexts.
 *
 * @param options the configuration as given
 * @param contextPerSlot context tokens per sequence: the configured value, else min(the model's training
 *     context, {@value LlamaCppModel#DEFAULT_CONTEXT_PER_SLOT})
 * @param contexts llama.cpp contexts: {@code parallel} under {@link Schedule#CONTEXTS}, else one
 * @param seqsPerContext sequences each context decodes at once: one under {@link Schedule#CONTEXTS}, else
 *     {@code parallel}
 * @param threadsPerContext CPU threads per context: all of them with one context, else
 *     {@code max(1, threads / parallel)}
 * @param flashAttentionType llama.cpp's flash-attention setting for this model ({@link #flashAttentionType})
 */
record LlamaConfig(Config options, int contextPerSlot, int contexts, int seqsPerContext, int threadsPerContext,
    int flashAttentionType) {

  /** The configuration resolved for the model file described by {@code metadata}. */
  static LlamaConfig resolve(Config config, GgufMetadata metadata) {
    long trained = metadata.contextLength().orElse((long) LlamaCppModel.DEFAULT_CONTEXT_PER_SLOT);
    int contextPerSlot = config.contextPerSlot() > 0 ? config.contextPerSlot()
        : (int) Math.min(trained, LlamaCppModel.DEFAULT_CONTEXT_PER_SLOT);
    int threads = threads(config);
    boolean perSequence = config.schedule() == Schedule.CONTEXTS;
    int contexts = perSequence ? config.parallel() : 1;
    int seqsPerContext = perSequence ? 1 : config.parallel();
    int threadsPerContext = perSequence ? Math.max(1, threads / config.parallel()) : threads;
    return new LlamaConfig(config, contextPerSlot, contexts, seqsPerContext, threadsPerContext,
        flashAttentionType(config, headSize(metadata)));
  }

  /** CPU threads in all: the configured number, else one per available core (asked now). */
  static int threads(Config config) {
    return config.threads() > 0 ? config.threads() : Runtime.getRuntime().availableProcessors();
  }

  /** llama.cpp's flash-attention setting for a config and a model's head size (0 when unknown). */
  static int flashAttentionType(Config c, long headSize) {
    return switch (c.flashAttention()) {
      case ON -> LlamaApi.FLASH_ATTN_ENABLED;
      case OFF -> LlamaApi.FLASH_ATTN_DISABLED;
      case AUTO -> c.gpuLayers() == 0 && headSize > 0 && headSize < LlamaCppModel.FLASH_MIN_HEAD_CPU
          ? LlamaApi.FLASH_ATTN_DISABLED : LlamaApi.FLASH_ATTN_AUTO;
    };
  }

  /**
   * The flash-attention setting this model runs with, {@link FlashAttention#AUTO} resolved as far as we
   * resolve it ({@code AUTO} is left where llama.cpp chooses).
   */
  FlashAttention flashAttention() {
    return switch (flashAttentionType) {
      case LlamaApi.FLASH_ATTN_ENABLED -> FlashAttention.ON;
      case LlamaApi.FLASH_ATTN_DISABLED -> FlashAttention.OFF;
      default -> FlashAttention.AUTO;
    };
  }

  /** The attention head size of a model from its GGUF metadata (key length, else width / heads), 0 when unknown. */
  static long headSize(GgufMetadata m) {
    String arch = m.architecture().orElse("");
    java.util.Optional<Long> key = m.integer(arch + ".attention.key_length");
    if (key.isPresent()) {
      return key.get();
    }
    java.util.Optional<Long> width = m.integer(arch + ".embedding_length");
    java.util.Optional<Long> heads = m.integer(arch + ".attention.head_count");
    return width.isPresent() && heads.isPresent() && heads.get() > 0 ? width.get() / heads.get() : 0;
  }
}
