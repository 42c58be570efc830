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
    assertEquals(8, LlamaCppModel.headSize(stories), "stories260K: width 64, 8 heads");
    Path tiny = SyntheticGguf.write(SyntheticGguf.shape("tiny"), SyntheticGguf.Type.Q8_0, 1, TestModels.stories(),
        tmp.resolve("tiny.gguf"), b -> { }).file();
    assertEquals(32, LlamaCppModel.headSize(GgufMetadata.read(tiny)));

    LlamaCppModel.Config cpu = LlamaCppModel.Config.of(TestModels.stories());
    assertEquals(LlamaApi.FLASH_ATTN_DISABLED, LlamaCppModel.flashAttentionType(cpu, 8));
    assertEquals(LlamaApi.FLASH_ATTN_AUTO, LlamaCppModel.flashAttentionType(cpu, 64), "TinyLlama and Llama 3 heads: llama.cpp decides");
    assertEquals(LlamaApi.FLASH_ATTN_AUTO, LlamaCppModel.flashAttentionType(cpu, 0), "unknown shape: llama.cpp decides");
    assertEquals(LlamaApi.FLASH_ATTN_AUTO, LlamaCppModel.flashAttentionType(cpu.withGpuLayers(99), 8), "on a GPU: llama.cpp decides");
    assertEquals(LlamaApi.FLASH_ATTN_ENABLED,
        LlamaCppModel.flashAttentionType(cpu.withFlashAttention(LlamaCppModel.FlashAttention.ON), 8));
    assertEquals(LlamaApi.FLASH_ATTN_DISABLED,
        LlamaCppModel.flashAttentionType(cpu.withFlashAttention(LlamaCppModel.FlashAttention.OFF), 128));
    assertEquals(LlamaCppModel.FlashAttention.OFF, LlamaCppModel.FlashAttention.parse("Off"));
    assertThrows(IllegalArgumentException.class, () -> LlamaCppModel.FlashAttention.parse("maybe"));
  }
}
