package io.instructflow.pipelines.io;

import io.instructflow.schemas.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.Objects;
import org.apache.beam.sdk.coders.ByteArrayCoder;
import org.apache.beam.sdk.coders.CustomCoder;

/**
 * Encodes a record type as its canonical JSON (UTF-8), through the shared {@link Json} mapper. The
 * encoding is the same bytes we write to disk, so a round trip is exact.
 *
 * @param <T> the record type
 */
public final class JsonCoder<T> extends CustomCoder<T> {
  private static final long serialVersionUID = 1L;
  private final Class<T> type;

  private JsonCoder(Class<T> type) {
    this.type = Objects.requireNonNull(type, "type");
  }

  /** A coder for {@code type}. */
  public static <T> JsonCoder<T> of(Class<T> type) {
    return new JsonCoder<>(type);
  }

  @Override
  public void encode(T value, OutputStream out) throws IOException {
    ByteArrayCoder.of().encode(Json.mapper().writeValueAsBytes(value), out);
  }

  @Override
  public T decode(InputStream in) throws IOException {
    return Json.mapper().readValue(ByteArrayCoder.of().decode(in), type);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof JsonCoder<?> c && c.type.equals(type);
  }

  @Override
  public int hashCode() {
    return type.hashCode();
  }
}
