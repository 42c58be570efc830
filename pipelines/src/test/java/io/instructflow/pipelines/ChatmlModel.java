package io.instructflow.pipelines;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.instructflow.inference.llama.GgufMetadata;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * The shared toy model with a chat template: a copy of {@code stories260K.gguf} with a ChatML
 * {@code tokenizer.chat_template} added to its metadata (the same copy the inference module's tests
 * build), so that the real engine takes chat requests.
 */
public final class ChatmlModel {
  /** A ChatML template in the Jinja form llama.cpp's template engine recognizes. */
  public static final String CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
      + "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
      + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

  private ChatmlModel() {}

  /** ../shared/models/stories260K.gguf; the calling test is skipped when it is absent. */
  public static Path stories() {
    Path p = Paths.get(System.getProperty("instructflow.shared", "../../shared")).resolve("models/stories260K.gguf")
        .toAbsolutePath().normalize();
    assumeTrue(Files.isRegularFile(p), "test model not present: " + p);
    return p;
  }

  /**
   * Writes the ChatML copy of the toy model to {@code target}: the header is rewritten with one more
   * metadata key, the tensor infos kept (their offsets are relative to the data section), and the data
   * section copied after padding to the file's alignment.
   */
  public static Path write(Path target) throws Exception {
    Path source = stories();
    GgufMetadata meta = GgufMetadata.read(source);
    byte[] file = Files.readAllBytes(source);
    ByteArrayOutputStream out = new ByteArrayOutputStream(file.length + 4096);
    ByteBuffer head = ByteBuffer.wrap(file, 0, 24).order(ByteOrder.LITTLE_ENDIAN);
    int magic = head.getInt();
    int version = head.getInt();
    long tensors = head.getLong();
    long kvs = head.getLong();
    out.write(ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putInt(magic).putInt(version).putLong(tensors)
        .putLong(kvs + 1).array());
    out.write(file, 24, (int) meta.metadataEnd() - 24);
    out.write(string("tokenizer.chat_template"));
    out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(8).array());
    out.write(string(CHATML));
    out.write(file, (int) meta.metadataEnd(), (int) (meta.tensorInfoEnd() - meta.metadataEnd()));
    while (out.size() % meta.alignment() != 0) {
      out.write(0);
    }
    out.write(file, (int) meta.dataOffset(), file.length - (int) meta.dataOffset());
    Files.write(target, out.toByteArray());
    return target;
  }

  private static byte[] string(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(8 + b.length).order(ByteOrder.LITTLE_ENDIAN).putLong(b.length).put(b).array();
  }
}
