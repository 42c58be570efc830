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

  /** Token ids of the ChatML copy's markers (they replace two rare tokens of stories260K: '™' and a hair space). */
  static final int IM_START = 507;
  static final int IM_END = 511;

  /**
   * A copy of {@code source} that is a ChatML model through and through: {@link #CHATML} as its template,
   * and {@code <|im_start|>} / {@code <|im_end|>} as control tokens of its vocabulary (ids
   * {@link #IM_START} / {@link #IM_END}, same vocabulary size, so the weights still fit).
   */
  static Path withChatMlTokens(Path source, Path target) throws Exception {
    GgufMetadata meta = GgufMetadata.read(source);
    byte[] file = Files.readAllBytes(source);
    ByteBuffer in = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
    in.position(16);
    long kvs = in.getLong();
    ByteArrayOutputStream kv = new ByteArrayOutputStream();
    for (long k = 0; k < kvs; k++) {
      int keyStart = in.position();
      String key = readString(in);
      int type = in.getInt();
      int valueStart = in.position();
      skip(in, type);
      if (key.equals("tokenizer.ggml.tokens") || key.equals("tokenizer.ggml.token_type")) {
        kv.write(file, keyStart, valueStart - keyStart);
        ByteBuffer v = ByteBuffer.wrap(file, valueStart, in.position() - valueStart).order(ByteOrder.LITTLE_ENDIAN);
        int itemType = v.getInt();
        long n = v.getLong();
        ByteArrayOutputStream arr = new ByteArrayOutputStream();
        arr.write(le(ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putInt(itemType).putLong(n)));
        for (int i = 0; i < n; i++) {
          if (itemType == 8) {
            String t = readString(v);
            arr.write(string(i == IM_START ? "<|im_start|>" : i == IM_END ? "<|im_end|>" : t));
          } else {
            int t = v.getInt();
            arr.write(le(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(i == IM_START || i == IM_END ? 3 : t)));
          }
        }
        kv.write(arr.toByteArray());
      } else {
        kv.write(file, keyStart, in.position() - keyStart);
      }
    }
    if (in.position() != meta.metadataEnd()) {
      throw new IllegalStateException("metadata walk ended at " + in.position() + ", not " + meta.metadataEnd());
    }
    kv.write(string("tokenizer.chat_template"));
    kv.write(le(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(8)));
    kv.write(string(CHATML));
    ByteArrayOutputStream out = new ByteArrayOutputStream(file.length + 8192);
    out.write(file, 0, 16);
    out.write(le(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(kvs + 1)));
    out.write(kv.toByteArray());
    out.write(file, (int) meta.metadataEnd(), (int) (meta.tensorInfoEnd() - meta.metadataEnd()));
    while (out.size() % meta.alignment() != 0) {
      out.write(0);
    }
    out.write(file, (int) meta.dataOffset(), file.length - (int) meta.dataOffset());
    Files.write(target, out.toByteArray());
    return target;
  }

  private static String readString(ByteBuffer in) {
    int n = (int) in.getLong();
    byte[] b = new byte[n];
    in.get(b);
    return new String(b, StandardCharsets.UTF_8);
  }

  private static void skip(ByteBuffer in, int type) {
    switch (type) {
      case 0, 1, 7 -> in.position(in.position() + 1);
      case 2, 3 -> in.position(in.position() + 2);
      case 4, 5, 6 -> in.position(in.position() + 4);
      case 10, 11, 12 -> in.position(in.position() + 8);
      case 8 -> readString(in);
      case 9 -> {
        int itemType = in.getInt();
        long n = in.getLong();
        for (long i = 0; i < n; i++) {
          skip(in, itemType);
        }
      }
      default -> throw new IllegalStateException("GGUF value type " + type);
    }
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
