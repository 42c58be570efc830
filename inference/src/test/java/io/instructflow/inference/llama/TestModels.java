package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/** The shared test model, and copies of it with extra GGUF metadata. */
public final class TestModels {
  /** A ChatML template in the Jinja form llama.cpp's template engine reads. */
  public static final String CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
      + "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
      + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

  private TestModels() {}

  /** ../shared/models/stories260K.gguf; the test is skipped when it is absent. */
  public static Path stories() {
    Path shared = Paths.get(System.getProperty("instructflow.shared", "../../shared"));
    Path p = shared.resolve("models/stories260K.gguf").toAbsolutePath().normalize();
    assumeTrue(Files.isRegularFile(p), "test model not present: " + p);
    return p;
  }

  /**
   * A copy of {@code source} with one more string key in its metadata: the header is rewritten with
   * the key appended, the tensor infos are kept (their offsets are relative to the data section), and
   * the data section is copied after padding to the file's alignment.
   */
  public static Path withStringKey(Path source, String key, String value, Path target) throws Exception {
    GgufMetadata meta = GgufMetadata.read(source);
    byte[] file = Files.readAllBytes(source);
    ByteArrayOutputStream out = new ByteArrayOutputStream(file.length + 4096);
    ByteBuffer head = ByteBuffer.wrap(file, 0, 24).order(ByteOrder.LITTLE_ENDIAN);
    int magic = head.getInt();
    int version = head.getInt();
    long tensors = head.getLong();
    long kvs = head.getLong();
    out.write(le(ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putInt(magic).putInt(version)
        .putLong(tensors).putLong(kvs + 1)));
    out.write(file, 24, (int) meta.metadataEnd() - 24);
    out.write(string(key));
    out.write(le(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(8)));
    out.write(string(value));
    out.write(file, (int) meta.metadataEnd(), (int) (meta.tensorInfoEnd() - meta.metadataEnd()));
    long align = meta.alignment();
    while (out.size() % align != 0) {
      out.write(0);
    }
    out.write(file, (int) meta.dataOffset(), file.length - (int) meta.dataOffset());
    Files.write(target, out.toByteArray());
    return target;
  }

  private static byte[] string(String s) throws IOException {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    ByteBuffer buf = ByteBuffer.allocate(8 + b.length).order(ByteOrder.LITTLE_ENDIAN);
    buf.putLong(b.length).put(b);
    return buf.array();
  }

  private static byte[] le(ByteBuffer b) {
    return b.array();
  }
}
