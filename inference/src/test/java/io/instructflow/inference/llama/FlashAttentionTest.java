package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The flash-attention choice by shape and backend. */
class FlashAttentionTest {
  @TempDir Path tmp;

  @Test
  void autoTurnsItOffOnTheCpuForNarrowHeadsOnly() throws Exception {
    GgufMetadata stories = GgufMetadata.read(TestModels.stories());
    assertEquals(8, LlamaConfig.headSize(stories), "stories260K: width 64, 8 heads");
    Path tiny = SyntheticGguf.write(SyntheticGguf.shape("tiny"), SyntheticGguf.Type.Q8_0, 1, TestModels.stories(),
        tmp.resolve("tiny.gguf"), b -> { }).file();
    assertEquals(32, LlamaConfig.headSize(GgufMetadata.read(tiny)));

    LlamaCppModel.Config cpu = LlamaCppModel.Config.of(TestModels.stories());
    assertEquals(LlamaApi.FLASH_ATTN_DISABLED, LlamaConfig.flashAttentionType(cpu, 8));
    assertEquals(LlamaApi.FLASH_ATTN_AUTO, LlamaConfig.flashAttentionType(cpu, 64), "TinyLlama and Llama 3 heads: llama.cpp decides");
    assertEquals(LlamaApi.FLASH_ATTN_AUTO, LlamaConfig.flashAttentionType(cpu, 0), "unknown shape: llama.cpp decides");
    assertEquals(LlamaApi.FLASH_ATTN_AUTO, LlamaConfig.flashAttentionType(cpu.withGpuLayers(99), 8), "on a GPU: llama.cpp decides");
    assertEquals(LlamaApi.FLASH_ATTN_ENABLED,
        LlamaConfig.flashAttentionType(cpu.withFlashAttention(LlamaCppModel.FlashAttention.ON), 8));
    assertEquals(LlamaApi.FLASH_ATTN_DISABLED,
        LlamaConfig.flashAttentionType(cpu.withFlashAttention(LlamaCppModel.FlashAttention.OFF), 128));
    assertEquals(LlamaCppModel.FlashAttention.OFF, LlamaCppModel.FlashAttention.parse("Off"));
    assertThrows(IllegalArgumentException.class, () -> LlamaCppModel.FlashAttention.parse("maybe"));
  }
}
