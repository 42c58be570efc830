package io.instructflow.inference.llama;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import io.instructflow.inference.InvalidModelException;

/**
 * The key/value metadata of a GGUF model file (format versions 2 and 3), read without loading the
 * model: enough to refuse a file that is not a GGUF model before a run starts, and to find the chat
 * template and context length the model was trained with.
 *
 * <p>Scalars become {@link Long}, {@link Double}, {@link Boolean} or {@link String}; arrays become
 * lists, except long arrays of numbers (token scores, types), which are summarized by their length
 * only to keep memory small.
 */
public final class GgufMetadata {
  /** The file magic, "GGUF" read as a little-endian uint32. */
  private static final int MAGIC = 0x46554747;
  private static final int MAX_STRING = 64 << 20;
  private static final int KEPT_ARRAY = 4096;

  private final int version;
  private final long tensorCount;
  private final Map<String, Object> values;
  private final long metadataEnd;
  private final long tensorInfoEnd;

  private GgufMetadata(int version, long tensorCount, Map<String, Object> values, long metadataEnd, long tensorInfoEnd) {
    this.version = version;
    this.tensorCount = tensorCount;
    this.values = Collections.unmodifiableMap(values);
    this.metadataEnd = metadataEnd;
    this.tensorInfoEnd = tensorInfoEnd;
  }

  /**
   * Reads the metadata of {@code file}.
   *
   * @throws InvalidModelException when the file is missing, unreadable, not GGUF, or its header is
   *     truncated or malformed; the message says which
   */
  public static GgufMetadata read(Path file) throws InvalidModelException {
    if (!Files.isRegularFile(file)) {
      throw new InvalidModelException("model file not found: " + file);
    }
    try (InputStream raw = Files.newInputStream(file);
        Counting counted = new Counting(new BufferedInputStream(raw, 1 << 16));
        DataInputStream in = new DataInputStream(counted)) {
      int magic = u32(in);
      if (magic != MAGIC) {
        throw new InvalidModelException("not a GGUF model file (bad magic bytes): " + file);
      }
      int version = u32(in);
      if (version < 2 || version > 3) {
        throw new InvalidModelException("unsupported GGUF version " + version + " in " + file);
      }
      long tensors = u64(in);
      long kvs = u64(in);
      if (tensors < 0 || kvs < 0 || kvs > 1_000_000) {
        throw new InvalidModelException("malformed GGUF header (" + kvs + " keys) in " + file);
      }
      Map<String, Object> values = new LinkedHashMap<>();
      for (long i = 0; i < kvs; i++) {
        String key = string(in);
        int type = u32(in);
        values.put(key, value(in, type));
      }
      long metadataEnd = counted.count;
      // tensor infos: name, dimensions, type, offset; read only to find where they end
      for (long i = 0; i < tensors; i++) {
        string(in);
        int dims = u32(in);
        if (dims < 0 || dims > 8) {
          throw new InvalidModelException("malformed GGUF tensor info (" + dims + " dimensions) in " + file);
        }
        for (int d = 0; d < dims; d++) {
          u64(in);
        }
        u32(in);
        u64(in);
      }
      return new GgufMetadata(version, tensors, values, metadataEnd, counted.count);
    } catch (EOFException e) {
      throw new InvalidModelException("truncated GGUF header in " + file);
    } catch (IOException e) {
      throw new InvalidModelException("cannot read model file " + file + ": " + e.getMessage());
    }
  }

  /** GGUF format version. */
  public int version() {
    return version;
  }

  /** Number of tensors the file declares. */
  public long tensorCount() {
    return tensorCount;
  }

  /** Byte offset where the key/value section ends and the tensor infos begin. */
  public long metadataEnd() {
    return metadataEnd;
  }

  /** Byte offset where the tensor infos end (the tensor data starts at the next multiple of {@link #alignment()}). */
  public long tensorInfoEnd() {
    return tensorInfoEnd;
  }

  /** Alignment of the tensor data ({@code general.alignment}, 32 by default). */
  public long alignment() {
    return integer("general.alignment").orElse(32L);
  }

  /** Byte offset of the tensor data. */
  public long dataOffset() {
    long a = alignment();
    return (tensorInfoEnd + a - 1) / a * a;
  }

  /** All metadata, in file order. */
  public Map<String, Object> values() {
    return values;
  }

  /** A string value. */
  public Optional<String> string(String key) {
    Object v = values.get(key);
    return v instanceof String s ? Optional.of(s) : Optional.empty();
  }

  /** An integer value. */
  public Optional<Long> integer(String key) {
    Object v = values.get(key);
    return v instanceof Long l ? Optional.of(l) : Optional.empty();
  }

  /** {@code general.architecture}, e.g. {@code llama}. */
  public Optional<String> architecture() {
    return string("general.architecture");
  }

  /** {@code general.name}, when the file has one. */
  public Optional<String> name() {
    return string("general.name");
  }

  /** The context length the model was trained with ({@code <arch>.context_length}). */
  public Optional<Long> contextLength() {
    return architecture().flatMap(a -> integer(a + ".context_length"));
  }

  /** The default chat template ({@code tokenizer.chat_template}), when the model has one. */
  public Optional<String> chatTemplate() {
    return string("tokenizer.chat_template");
  }

  private static Object value(DataInputStream in, int type) throws IOException {
    switch (type) {
      case 0: return (long) in.readUnsignedByte();
      case 1: return (long) in.readByte();
      case 2: return (long) Short.toUnsignedInt(Short.reverseBytes(in.readShort()));
      case 3: return (long) Short.reverseBytes(in.readShort());
      case 4: return Integer.toUnsignedLong(u32(in));
      case 5: return (long) u32(in);
      case 6: return (double) Float.intBitsToFloat(u32(in));
      case 7: return in.readUnsignedByte() != 0;
      case 8: return string(in);
      case 9: return array(in);
      case 10:
      case 11: return u64(in);
      case 12: return Double.longBitsToDouble(u64(in));
      default: throw new IOException("unknown GGUF value type " + type);
    }
  }

  private static Object array(DataInputStream in) throws IOException {
    int type = u32(in);
    long count = u64(in);
    if (count < 0) {
      throw new IOException("negative array length");
    }
    List<Object> out = new ArrayList<>();
    for (long i = 0; i < count; i++) {
      Object v = value(in, type);
      if (i < KEPT_ARRAY) {
        out.add(v);
      }
    }
    return count <= KEPT_ARRAY ? out : new ArraySummary(type, count);
  }

  /** A long array, kept as its element type and length only. */
  public record ArraySummary(int type, long length) {}

  /** Counts the bytes read through it. */
  private static final class Counting extends java.io.FilterInputStream {
    long count;

    Counting(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      int b = super.read();
      if (b >= 0) {
        count++;
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = super.read(b, off, len);
      if (n > 0) {
        count += n;
      }
      return n;
    }

    @Override
    public long skip(long n) throws IOException {
      long k = super.skip(n);
      count += k;
      return k;
    }
  }

  private static String string(DataInputStream in) throws IOException {
    long n = u64(in);
    if (n < 0 || n > MAX_STRING) {
      throw new IOException("string length " + n + " out of range");
    }
    byte[] b = new byte[(int) n];
    in.readFully(b);
    return new String(b, StandardCharsets.UTF_8);
  }

  private static int u32(DataInputStream in) throws IOException {
    return Integer.reverseBytes(in.readInt());
  }

  private static long u64(DataInputStream in) throws IOException {
    return Long.reverseBytes(in.readLong());
  }
}
