package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.InvalidModelException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufMetadataTest {
  @TempDir Path tmp;

  @Test
  void readsTheTestModel() throws Exception {
    GgufMetadata m = GgufMetadata.read(TestModels.stories());
    assertEquals(3, m.version());
    assertEquals("llama", m.architecture().orElseThrow());
    assertEquals(2048L, m.contextLength().orElseThrow());
    assertTrue(m.chatTemplate().isEmpty(), "stories260K has no chat template");
    assertTrue(m.tensorCount() > 0);
    assertEquals(0, m.dataOffset() % m.alignment());
  }

  @Test
  void aCopyWithAChatTemplateReadsBack() throws Exception {
    Path copy = TestModels.withStringKey(TestModels.stories(), "tokenizer.chat_template", TestModels.CHATML,
        tmp.resolve("chat.gguf"));
    GgufMetadata m = GgufMetadata.read(copy);
    assertEquals(TestModels.CHATML, m.chatTemplate().orElseThrow());
    GgufMetadata original = GgufMetadata.read(TestModels.stories());
    assertEquals(original.tensorCount(), m.tensorCount());
    // the tensor data is byte-identical after the new header
    byte[] a = Files.readAllBytes(TestModels.stories());
    byte[] b = Files.readAllBytes(copy);
    assertTrue(Arrays.equals(a, (int) original.dataOffset(), a.length, b, (int) m.dataOffset(), b.length));
  }

  @Test
  void refusesFilesThatAreNotGgufModels() throws Exception {
    Path text = Files.writeString(tmp.resolve("model.gguf"), "this is not a model");
    InvalidModelException e = assertThrows(InvalidModelException.class, () -> GgufMetadata.read(text));
    assertTrue(e.getMessage().contains("not a GGUF model file"), e.getMessage());

    byte[] head = Arrays.copyOf(Files.readAllBytes(TestModels.stories()), 100);
    Path truncated = Files.write(tmp.resolve("truncated.gguf"), head);
    e = assertThrows(InvalidModelException.class, () -> GgufMetadata.read(truncated));
    assertTrue(e.getMessage().contains("truncated GGUF header"), e.getMessage());

    e = assertThrows(InvalidModelException.class, () -> GgufMetadata.read(tmp.resolve("absent.gguf")));
    assertTrue(e.getMessage().contains("model file not found"), e.getMessage());
    assertFalse(Files.exists(tmp.resolve("absent.gguf")));
  }
}
