package io.instructflow.pipelines;

import io.instructflow.inference.llama.GgufMetadata;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A copy of the shared stories260K model with a ChatML chat template added to its GGUF metadata, so that
 * pipeline tests can run chat requests through the real engine (the model was not trained on ChatML:
 * its answers show the plumbing, not an assistant).
 */
public final class ChatTemplatedModel {
  private ChatTemplatedModel() {}

  /** ChatML, in the Jinja form llama.cpp's template engine reads. */
  public static final String CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
      + "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
      + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

  /** Writes {@code dir/stories-chatml.gguf}: {@code source} with {@code tokenizer.chat_template} set to {@link #CHATML}. */
  public static Path of(Path source, Path dir) throws Exception {
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
    Path target = dir.resolve("stories-chatml.gguf");
    Files.write(target, out.toByteArray());
    return target;
  }

  private static byte[] string(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    return ByteBuffer.allocate(8 + b.length).order(ByteOrder.LITTLE_ENDIAN).putLong(b.length).put(b).array();
  }
}
