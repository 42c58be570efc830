package io.instructflow.inference.llama;

import io.instructflow.inference.InvalidModelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.LongConsumer;

/**
 * Writes a Llama-architecture GGUF (version 3) of a real model's shape with seeded random weights, so
 * that the engine can be measured at real model sizes without downloading one. The tokenizer is
 * copied from a donor GGUF (its {@code tokenizer.*} keys, byte for byte), which also sets the
 * vocabulary size. Matrices are stored as F16, Q8_0 or Q4_0 blocks (the norms as F32, as converters
 * write them); a quantized block gets a fixed scale and random quants, so that every weight is about
 * as large as a trained model's (standard deviation 0.02) and the forward pass stays finite. The
 * generated text is noise; the compute and memory traffic per token are those of a model of the
 * shape.
 */
public final class SyntheticGguf {
  private SyntheticGguf() {}

  private static final int MAGIC = 0x46554747;
  private static final int ALIGN = 32;
  private static final int BLOCK = 32;
  /** Standard deviation of the weights. */
  private static final double STD = 0.02;

  // GGUF metadata value types
  private static final int T_UINT32 = 4;
  private static final int T_FLOAT32 = 6;
  private static final int T_STRING = 8;
  private static final int T_ARRAY = 9;

  /**
   * A model shape.
   *
   * @param name the {@code --shape} name
   * @param dim embedding width
   * @param layers transformer blocks
   * @param heads attention heads
   * @param kvHeads key/value heads (grouped-query attention)
   * @param ffn feed-forward width
   * @param context trained context length
   * @param ropeBase RoPE frequency base
   * @param like the real model it has the shape of
   */
  public record Shape(String name, int dim, int layers, int heads, int kvHeads, int ffn, int context, double ropeBase,
      String like) {
    /** Width of one attention head. */
    public int headDim() {
      return dim / heads;
    }

    /** Weights, the embedding and output matrices included, for a vocabulary of {@code vocab}. */
    public long parameters(long vocab) {
      long kv = (long) kvHeads * headDim();
      long perLayer = 2L * dim * dim + 2L * dim * kv + 3L * dim * ffn + 2L * dim;
      return layers * perLayer + 2L * vocab * dim + dim;
    }
  }

  /** The shapes {@code --shape} knows. */
  public static final List<Shape> SHAPES = List.of(
      new Shape("tiny", 256, 2, 8, 4, 768, 2048, 10000, "a toy of the Llama layout, for tests"),
      new Shape("1b", 2048, 22, 32, 4, 5632, 2048, 10000, "TinyLlama-1.1B"),
      new Shape("8b", 4096, 32, 32, 8, 14336, 8192, 500000, "Llama-3-8B"));

  /** The shape called {@code name}. */
  public static Shape shape(String name) {
    for (Shape s : SHAPES) {
      if (s.name().equals(name)) {
        return s;
      }
    }
    throw new IllegalArgumentException("unknown shape '" + name + "'; known: tiny, 1b, 8b");
  }

  /** A tensor storage type: its ggml type id, GGUF file type, and bytes per block of 32 values. */
  public enum Type {
    F16(1, 1, 64),
    Q8_0(8, 7, 34),
    Q4_0(2, 2, 18);

    final int ggml;
    final int fileType;
    final int blockBytes;

    Type(int ggml, int fileType, int blockBytes) {
      this.ggml = ggml;
      this.fileType = fileType;
      this.blockBytes = blockBytes;
    }

    /** The type called {@code name} ({@code f16}, {@code q8_0}, {@code q4_0}, any case). */
    public static Type of(String name) {
      for (Type t : values()) {
        if (t.name().equalsIgnoreCase(name)) {
          return t;
        }
      }
      throw new IllegalArgumentException("unknown type '" + name + "'; known: f16, q8_0, q4_0");
    }
  }

  /** A tensor to write: name, dimensions (ggml order: the row length first), ggml type. */
  private record Tensor(String name, long[] dims, int ggml, long bytes) {}

  /**
   * What was written.
   *
   * @param file the GGUF
   * @param bytes its size
   * @param parameters weights in all
   * @param vocab vocabulary size (the donor's)
   */
  public record Written(Path file, long bytes, long parameters, long vocab) {}

  /**
   * Writes the model.
   *
   * @param shape the shape
   * @param type how the matrices are stored
   * @param seed seeds the weights
   * @param donor the GGUF whose tokenizer is copied
   * @param out the file to write (replaced atomically)
   * @param progress told the bytes written so far, now and then
   */
  public static Written write(Shape shape, Type type, long seed, Path donor, Path out, LongConsumer progress)
      throws IOException, InvalidModelException {
    GgufMetadata d = GgufMetadata.read(donor);
    List<byte[]> tokenizer = tokenizerKeys(donor, d);
    Object tokens = d.values().get("tokenizer.ggml.tokens");
    long vocab = tokens instanceof List<?> l ? l.size()
        : tokens instanceof GgufMetadata.ArraySummary a ? a.length() : -1;
    if (vocab <= 0) {
      throw new InvalidModelException("the donor " + donor + " has no tokenizer.ggml.tokens");
    }
    List<Tensor> tensors = tensors(shape, type, vocab);

    ByteBuffer head = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
    ByteArray meta = new ByteArray();
    int kvs = 0;
    kvs += meta.kvString("general.architecture", "llama");
    kvs += meta.kvString("general.name", String.format(Locale.ROOT, "synthetic-%s-%s-seed%d", shape.name(),
        type.name().toLowerCase(Locale.ROOT), seed));
    kvs += meta.kvString("general.description", "random weights in the shape of " + shape.like()
        + ", written by instructflow bench make-model; the text it generates is noise");
    kvs += meta.kvU32("general.file_type", type.fileType);
    kvs += meta.kvU32("general.alignment", ALIGN);
    kvs += meta.kvU32("llama.context_length", shape.context());
    kvs += meta.kvU32("llama.embedding_length", shape.dim());
    kvs += meta.kvU32("llama.block_count", shape.layers());
    kvs += meta.kvU32("llama.feed_forward_length", shape.ffn());
    kvs += meta.kvU32("llama.attention.head_count", shape.heads());
    kvs += meta.kvU32("llama.attention.head_count_kv", shape.kvHeads());
    kvs += meta.kvU32("llama.rope.dimension_count", shape.headDim());
    kvs += meta.kvU32("llama.vocab_size", (int) vocab);
    kvs += meta.kvF32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    kvs += meta.kvF32("llama.rope.freq_base", (float) shape.ropeBase());
    for (byte[] kv : tokenizer) {
      meta.bytes(kv);
      kvs++;
    }
    ByteArray infos = new ByteArray();
    long offset = 0;
    for (Tensor t : tensors) {
      infos.string(t.name());
      infos.u32(t.dims().length);
      for (long dim : t.dims()) {
        infos.u64(dim);
      }
      infos.u32(t.ggml());
      infos.u64(offset);
      offset = align(offset + t.bytes());
    }

    Path tmp = out.resolveSibling(out.getFileName() + ".part");
    long written;
    try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      head.putInt(MAGIC).putInt(3).putLong(tensors.size()).putLong(kvs).flip();
      writeAll(ch, head);
      writeAll(ch, ByteBuffer.wrap(meta.toArray()));
      writeAll(ch, ByteBuffer.wrap(infos.toArray()));
      pad(ch);
      Random r = new Random(seed);
      ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
      for (Tensor t : tensors) {
        long start = ch.position();
        fill(ch, buf, t, r);
        if (ch.position() - start != t.bytes()) {
          throw new IllegalStateException(t.name() + ": wrote " + (ch.position() - start) + " of " + t.bytes() + " bytes");
        }
        pad(ch);
        progress.accept(ch.position());
      }
      written = ch.position();
    }
    Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    return new Written(out, written, shape.parameters(vocab), vocab);
  }

  /** The tensors of a Llama model of {@code shape}, in the order converters write them. */
  private static List<Tensor> tensors(Shape s, Type type, long vocab) {
    List<Tensor> out = new ArrayList<>();
    long kv = (long) s.kvHeads() * s.headDim();
    out.add(matrix("token_embd.weight", s.dim(), vocab, type));
    for (int i = 0; i < s.layers(); i++) {
      String b = "blk." + i + ".";
      out.add(norm(b + "attn_norm.weight", s.dim()));
      out.add(matrix(b + "attn_q.weight", s.dim(), s.dim(), type));
      out.add(matrix(b + "attn_k.weight", s.dim(), kv, type));
      out.add(matrix(b + "attn_v.weight", s.dim(), kv, type));
      out.add(matrix(b + "attn_output.weight", s.dim(), s.dim(), type));
      out.add(norm(b + "ffn_norm.weight", s.dim()));
      out.add(matrix(b + "ffn_gate.weight", s.dim(), s.ffn(), type));
      out.add(matrix(b + "ffn_up.weight", s.dim(), s.ffn(), type));
      out.add(matrix(b + "ffn_down.weight", s.ffn(), s.dim(), type));
    }
    out.add(norm("output_norm.weight", s.dim()));
    out.add(matrix("output.weight", s.dim(), vocab, type));
    return out;
  }

  private static Tensor matrix(String name, long cols, long rows, Type type) {
    if (cols % BLOCK != 0) {
      throw new IllegalArgumentException(name + ": rows of " + cols + " are not whole blocks of " + BLOCK);
    }
    return new Tensor(name, new long[] {cols, rows}, type.ggml, cols / BLOCK * rows * type.blockBytes);
  }

  private static Tensor norm(String name, long n) {
    return new Tensor(name, new long[] {n}, 0, 4 * n);
  }

  /** Writes a tensor's data: norms are ones; matrices random with standard deviation {@value #STD}. */
  private static void fill(FileChannel ch, ByteBuffer buf, Tensor t, Random r) throws IOException {
    long n = t.dims().length == 1 ? t.dims()[0] : t.bytes() / blockBytes(t.ggml());
    buf.clear();
    if (t.ggml() == 0) {
      for (long i = 0; i < n; i++) {
        if (buf.remaining() < 4) {
          flush(ch, buf);
        }
        buf.putFloat(1.0f);
      }
      flush(ch, buf);
      return;
    }
    int bb = blockBytes(t.ggml());
    short q8scale = half((float) (STD * Math.sqrt(3) / 127));
    short q4scale = half((float) (STD * Math.sqrt(3) / 8));
    short[] f16 = new short[256];
    for (int i = 0; i < 256; i++) {
      f16[i] = half((float) (STD * Math.sqrt(3) * (i - 128) / 128.0));
    }
    byte[] rnd = new byte[BLOCK];
    for (long blk = 0; blk < n; blk++) {
      if (buf.remaining() < bb) {
        flush(ch, buf);
      }
      r.bytes(rnd);
      switch (t.ggml()) {
        case 1 -> {
          for (int i = 0; i < BLOCK; i++) {
            buf.putShort(f16[rnd[i] & 0xff]);
          }
        }
        case 8 -> {
          buf.putShort(q8scale);
          for (int i = 0; i < BLOCK; i++) {
            byte q = rnd[i];
            buf.put(q == Byte.MIN_VALUE ? 0 : q);
          }
        }
        default -> {
          buf.putShort(q4scale);
          buf.put(rnd, 0, BLOCK / 2);
        }
      }
    }
    flush(ch, buf);
  }

  private static int blockBytes(int ggml) {
    for (Type t : Type.values()) {
      if (t.ggml == ggml) {
        return t.blockBytes;
      }
    }
    throw new IllegalArgumentException("ggml type " + ggml);
  }

  private static void flush(FileChannel ch, ByteBuffer buf) throws IOException {
    buf.flip();
    writeAll(ch, buf);
    buf.clear();
  }

  private static void writeAll(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }

  private static long align(long n) {
    return (n + ALIGN - 1) / ALIGN * ALIGN;
  }

  private static void pad(FileChannel ch) throws IOException {
    long p = ch.position();
    if (p % ALIGN != 0) {
      writeAll(ch, ByteBuffer.allocate((int) (align(p) - p)));
    }
  }

  /** IEEE half precision of a float in the normal range (round to nearest). */
  static short half(float f) {
    int bits = Float.floatToIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    float a = Math.abs(f);
    if (a == 0) {
      return (short) sign;
    }
    int exp = Math.getExponent(a);
    if (exp < -14 || exp > 15) {
      throw new IllegalArgumentException("outside half's normal range: " + f);
    }
    int mant = Math.round((a / (float) Math.pow(2, exp) - 1) * 1024);
    if (mant == 1024) {
      mant = 0;
      exp++;
    }
    return (short) (sign | ((exp + 15) << 10) | mant);
  }

  /** The donor's {@code tokenizer.*} key-value records, byte for byte. */
  static List<byte[]> tokenizerKeys(Path donor, GgufMetadata d) throws IOException {
    byte[] h;
    try (FileChannel ch = FileChannel.open(donor, StandardOpenOption.READ)) {
      ByteBuffer b = ByteBuffer.allocate((int) d.metadataEnd());
      while (b.hasRemaining() && ch.read(b) >= 0) {
        // read the whole header
      }
      h = b.array();
    }
    ByteBuffer in = ByteBuffer.wrap(h).order(ByteOrder.LITTLE_ENDIAN);
    in.position(16);
    long kvs = in.getLong();
    List<byte[]> out = new ArrayList<>();
    for (long i = 0; i < kvs; i++) {
      int start = in.position();
      String key = readString(in);
      int type = in.getInt();
      skipValue(in, type);
      if (key.startsWith("tokenizer.")) {
        byte[] kv = new byte[in.position() - start];
        System.arraycopy(h, start, kv, 0, kv.length);
        out.add(kv);
      }
    }
    return out;
  }

  private static String readString(ByteBuffer in) {
    int n = (int) in.getLong();
    byte[] b = new byte[n];
    in.get(b);
    return new String(b, StandardCharsets.UTF_8);
  }

  private static void skipValue(ByteBuffer in, int type) {
    switch (type) {
      case 0, 1, 7 -> in.position(in.position() + 1);
      case 2, 3 -> in.position(in.position() + 2);
      case 4, 5, 6 -> in.position(in.position() + 4);
      case 10, 11, 12 -> in.position(in.position() + 8);
      case T_STRING -> readString(in);
      case T_ARRAY -> {
        int et = in.getInt();
        long n = in.getLong();
        for (long i = 0; i < n; i++) {
          skipValue(in, et);
        }
      }
      default -> throw new IllegalArgumentException("unknown GGUF value type " + type);
    }
  }

  /** SplitMix64, for bytes fast enough to fill gigabytes. */
  private static final class Random {
    private long state;

    Random(long seed) {
      this.state = seed;
    }

    void bytes(byte[] out) {
      for (int i = 0; i < out.length; i += 8) {
        long z = (state += 0x9e3779b97f4a7c15L);
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        z ^= z >>> 31;
        for (int k = 0; k < 8 && i + k < out.length; k++) {
          out[i + k] = (byte) (z >>> (8 * k));
        }
      }
    }
  }

  /** A growing little-endian byte array for the header. */
  private static final class ByteArray {
    private ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

    private void room(int n) {
      if (b.remaining() < n) {
        ByteBuffer bigger = ByteBuffer.allocate(Math.max(b.capacity() * 2, b.position() + n)).order(ByteOrder.LITTLE_ENDIAN);
        b.flip();
        bigger.put(b);
        b = bigger;
      }
    }

    void u32(int v) {
      room(4);
      b.putInt(v);
    }

    void u64(long v) {
      room(8);
      b.putLong(v);
    }

    void bytes(byte[] v) {
      room(v.length);
      b.put(v);
    }

    void string(String s) {
      byte[] v = s.getBytes(StandardCharsets.UTF_8);
      u64(v.length);
      bytes(v);
    }

    int kvString(String key, String value) {
      string(key);
      u32(T_STRING);
      string(value);
      return 1;
    }

    int kvU32(String key, int value) {
      string(key);
      u32(T_UINT32);
      u32(value);
      return 1;
    }

    int kvF32(String key, float value) {
      string(key);
      u32(T_FLOAT32);
      room(4);
      b.putFloat(value);
      return 1;
    }

    byte[] toArray() {
      byte[] out = new byte[b.position()];
      System.arraycopy(b.array(), 0, out, 0, out.length);
      return out;
    }
  }
}
