package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The synthetic models: the header reads back as written, and llama.cpp loads and runs each storage type. */
class SyntheticGgufTest {
  @TempDir Path tmp;

  @Test
  void halfPrecisionOfKnownValues() {
    assertEquals((short) 0x3c00, SyntheticGguf.half(1.0f));
    assertEquals((short) 0x3800, SyntheticGguf.half(0.5f));
    assertEquals((short) 0xc000, SyntheticGguf.half(-2.0f));
    assertEquals((short) 0x3555, SyntheticGguf.half(1f / 3));
    assertEquals((short) 0x0000, SyntheticGguf.half(0f));
  }

  @Test
  void everyTypeReadsBackLoadsAndGenerates() throws Exception {
    SyntheticGguf.Shape tiny = SyntheticGguf.shape("tiny");
    GgufMetadata donor = GgufMetadata.read(TestModels.stories());
    for (SyntheticGguf.Type type : SyntheticGguf.Type.values()) {
      Path f = tmp.resolve("tiny-" + type + ".gguf");
      SyntheticGguf.Written w = SyntheticGguf.write(tiny, type, 7, TestModels.stories(), f, b -> { });
      assertEquals(Files.size(f), w.bytes());
      assertFalse(Files.exists(tmp.resolve(f.getFileName() + ".part")), "written under a temporary name, then moved");
      GgufMetadata m = GgufMetadata.read(f);
      assertEquals(3, m.version());
      assertEquals("llama", m.architecture().orElseThrow());
      assertEquals(2 + 9L * tiny.layers() + 1, m.tensorCount());
      assertEquals((long) tiny.dim(), m.integer("llama.embedding_length").orElseThrow());
      assertEquals((long) tiny.layers(), m.integer("llama.block_count").orElseThrow());
      assertEquals((long) tiny.kvHeads(), m.integer("llama.attention.head_count_kv").orElseThrow());
      assertEquals((long) tiny.ffn(), m.integer("llama.feed_forward_length").orElseThrow());
      assertEquals((long) type.fileType, m.integer("general.file_type").orElseThrow());
      assertEquals(512L, w.vocab(), "stories260K's vocabulary");
      assertEquals(donor.values().get("tokenizer.ggml.tokens"), m.values().get("tokenizer.ggml.tokens"));
      assertEquals(donor.string("tokenizer.ggml.model"), m.string("tokenizer.ggml.model"));
      assertEquals(0, m.dataOffset() % m.alignment());
      // the data section holds every tensor: blocks of 32 weights at the type's size, norms as f32
      long kv = (long) tiny.kvHeads() * tiny.headDim();
      long matrixWeights = tiny.layers() * (2L * tiny.dim() * tiny.dim() + 2L * tiny.dim() * kv + 3L * tiny.dim() * tiny.ffn())
          + 2L * w.vocab() * tiny.dim();
      assertEquals(tiny.parameters(w.vocab()), matrixWeights + (2L * tiny.layers() + 1) * tiny.dim());
      assertTrue(w.bytes() - m.dataOffset() >= matrixWeights / 32 * type.blockBytes, type.toString());

      // llama.cpp loads it and decodes: the tokens are noise but every one is produced
      LlamaCppModel model = LlamaCppModel.shared(LlamaCppModel.Config.of(f).withParallel(2).withContextPerSlot(128)
          .withThreads(1));
      List<GenerationResult> out = model.generate(List.of(
          GenerationRequest.text("a", "Once upon a time", SamplingParams.greedy(8), 1),
          GenerationRequest.text("b", "The cat", SamplingParams.greedy(8), 2)));
      for (GenerationResult r : out) {
        assertTrue(r.ok(), type + ": " + r.error());
      }
    }
    // same seed, same bytes; another seed, other weights
    Path a = SyntheticGguf.write(tiny, SyntheticGguf.Type.Q4_0, 3, TestModels.stories(), tmp.resolve("a.gguf"), b -> { }).file();
    Path b = SyntheticGguf.write(tiny, SyntheticGguf.Type.Q4_0, 3, TestModels.stories(), tmp.resolve("b.gguf"), x -> { }).file();
    Path c = SyntheticGguf.write(tiny, SyntheticGguf.Type.Q4_0, 4, TestModels.stories(), tmp.resolve("c.gguf"), x -> { }).file();
    assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
    assertEquals(Files.size(a), Files.size(c));
    assertFalse(java.util.Arrays.equals(Files.readAllBytes(a), Files.readAllBytes(c)));
  }

  @Test
  void theRealShapesHaveTheirPublishedSizes() {
    // with a 32,000-token vocabulary, as TinyLlama has, and Llama 3's 128,256
    assertEquals(1_100_048_384L, SyntheticGguf.shape("1b").parameters(32_000));
    assertEquals(8_030_261_248L, SyntheticGguf.shape("8b").parameters(128_256));
    assertThrows(IllegalArgumentException.class, () -> SyntheticGguf.shape("70b"));
    assertThrows(IllegalArgumentException.class, () -> SyntheticGguf.Type.of("q5_k"));
  }
}
