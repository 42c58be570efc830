package io.instructflow.filters.dedup;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Append-only arrays of longs kept in a temporary file, read back by ordinal: the shingle sets of the
 * records a streaming MinHash rule kept, which it reads again only to verify a candidate. The heap holds
 * one offset per array (8 bytes) and a 1 MiB write buffer; the operating system's page cache holds the
 * rest. The file is private to the process and deleted on {@link #close}.
 */
final class LongArrayStore implements Closeable {
  private static final int BUFFER = 1 << 20;

  private final Path file;
  private final FileChannel channel;
  private final ByteBuffer pending = ByteBuffer.allocate(BUFFER);
  private long flushed;
  private long[] offsets = new long[1024];
  private int size;

  LongArrayStore() {
    try {
      file = Files.createTempFile("instructflow-store-", ".bin");
      file.toFile().deleteOnExit();
      channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot create a temporary file for the dedup state: " + e.getMessage(), e);
    }
    offsets[0] = 0;
  }

  /** Appends {@code values}; returns its ordinal. */
  int add(long[] values) {
    if (size + 1 >= offsets.length) {
      offsets = Arrays.copyOf(offsets, offsets.length * 2);
    }
    try {
      for (long v : values) {
        if (pending.remaining() < Long.BYTES) {
          flush();
        }
        pending.putLong(v);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("writing the dedup state to " + file + ": " + e.getMessage(), e);
    }
    offsets[size + 1] = offsets[size] + (long) values.length * Long.BYTES;
    return size++;
  }

  /** The array at {@code ordinal}. */
  long[] get(int ordinal) {
    long from = offsets[ordinal];
    int n = (int) ((offsets[ordinal + 1] - from) / Long.BYTES);
    long[] out = new long[n];
    try {
      if (from + (long) n * Long.BYTES > flushed) {
        flush();
      }
      ByteBuffer b = ByteBuffer.allocate(n * Long.BYTES);
      while (b.hasRemaining()) {
        int k = channel.read(b, from + b.position());
        if (k < 0) {
          throw new IOException("unexpected end of file");
        }
      }
      b.flip();
      b.asLongBuffer().get(out);
    } catch (IOException e) {
      throw new UncheckedIOException("reading the dedup state from " + file + ": " + e.getMessage(), e);
    }
    return out;
  }

  private void flush() throws IOException {
    pending.flip();
    while (pending.hasRemaining()) {
      flushed += channel.write(pending, flushed);
    }
    pending.clear();
  }

  @Override
  public void close() {
    try {
      channel.close();
      Files.deleteIfExists(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
