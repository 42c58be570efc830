package io.instructflow.pipelines.io;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.io.InputShape;
import io.instructflow.schemas.io.RecordConverter;
import io.instructflow.schemas.io.RecordStreamParser;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SeekableByteChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import org.apache.beam.sdk.io.Compression;
import org.apache.beam.sdk.io.FileSystems;

/**
 * A piece of one input file that one task parses: a run of whole lines of a JSON Lines file, a run of
 * whole row groups of a Parquet file ({@link ParquetRows}), or a whole file of another layout (a JSON
 * array, and any compressed file, are read by one task).
 *
 * <p>Why: a runner keeps everything one element's processing emits until that element is done
 * (Beam's SparkRunner buffers a DoFn's outputs per input element), so a file parsed as one element
 * holds all its records in memory at once: 4.5 GB for a million-record file. Cut into runs of about
 * {@link #TARGET_BYTES}, the records in flight are bounded by the piece, not the file.
 *
 * <p>Lines keep their numbers (a piece knows the number of its first line), and every piece reads
 * with the record shape the whole file would have been read with: no cut is made before the line
 * whose object the shape was detected from, and the later pieces start with that shape.
 *
 * <p>A compressed file ({@code .gz}, {@code .zst}) cannot be cut at byte offsets: it is one piece, read
 * as one decompressed stream, line by line, never whole in memory, with the same exact line numbers as
 * its uncompressed twin. A stream that turns out damaged or truncated keeps every line read before the
 * damage and adds one {@code unreadable_file} reject after them.
 *
 * @param file the input file
 * @param piece its ordinal within the file
 * @param start first byte; for Parquet the first row group (-1: the footer could not be read)
 * @param end byte after the last one, or -1 for the end of the file; for Parquet the row group after the last
 * @param firstLine number of the piece's first line (1-based); for Parquet its first row (0-based)
 * @param shape the record shape detected before the piece (an {@link InputShape} code), or null
 * @param lines whether the piece is JSON Lines (else a whole file of another layout)
 */
public record FileChunk(InputFile file, int piece, long start, long end, long firstLine, String shape, boolean lines)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Bytes of a piece, about: a piece ends at the first line end past this many bytes. */
  public static final long TARGET_BYTES = 8L << 20;

  public FileChunk {
    Objects.requireNonNull(file, "file");
  }

  /**
   * The pieces of {@code file}, read once from start to end ({@code targetBytes} per piece, about).
   *
   * @param forced the shape every record is read as, or null to detect it as the parser does
   */
  public static List<FileChunk> split(InputFile file, InputShape forced, int maxRecordBytes, long targetBytes)
      throws IOException {
    List<FileChunk> out = new ArrayList<>();
    if (file.isParquet()) {
      return ParquetRows.split(file, targetBytes);
    }
    if (file.isCompressed()) {
      out.add(new FileChunk(file, 0, 0, -1, 1, null, false));
      return out;
    }
    try (InputStream raw = Channels.newInputStream(FileSystems.open(FileSystems.matchNewResource(file.path(), false)))) {
      BufferedInputStream in = new BufferedInputStream(raw, 1 << 16);
      in.mark(3);
      byte[] head = in.readNBytes(3);
      long bom = head.length == 3 && (head[0] & 0xff) == 0xEF && (head[1] & 0xff) == 0xBB && (head[2] & 0xff) == 0xBF ? 3 : 0;
      if (bom == 0) {
        in.reset();
      }
      if (!RecordStreamParser.readsAsLines(file.name(), in)) {
        out.add(new FileChunk(file, 0, 0, -1, 1, null, false));
        return out;
      }
      // a parser that sees each line until it has detected the shape, exactly as the whole file's would
      RecordStreamParser probe = new RecordStreamParser(new RecordConverter(file.dataset(), "unknown"),
          Optional.ofNullable(forced), maxRecordBytes, file.path(), file.name());
      RecordStreamParser.Sink ignore = new RecordStreamParser.Sink() {
        @Override
        public void example(Example example, long position, int sub) {}

        @Override
        public void reject(Reject reject, long position) {}

        @Override
        public void blankLine(long line) {}
      };
      boolean known = forced != null;
      ByteArrayOutputStream line = new ByteArrayOutputStream();
      boolean lineTooLong = false;
      long pos = bom;
      long lineNo = 1;
      long pieceStart = 0;
      long pieceLine = 1;
      String pieceShape = null;
      byte[] buf = new byte[1 << 16];
      int n;
      while ((n = in.read(buf)) != -1) {
        int from = 0;
        for (int i = 0; i < n; i++) {
          if (buf[i] != '\n') {
            continue;
          }
          if (!known) {
            lineTooLong |= line.size() + (i - from) > maxRecordBytes + 2;
            if (!lineTooLong) {
              line.write(buf, from, i - from);
              probe.parseLines(new ByteArrayInputStream(line.toByteArray()), lineNo, null, ignore);
              known = probe.shape().isPresent();
            }
            line.reset();
            lineTooLong = false;
          }
          from = i + 1;
          long lineEnd = pos + i + 1;
          lineNo++;
          if (known && lineEnd - pieceStart >= targetBytes) {
            out.add(new FileChunk(file, out.size(), pieceStart, lineEnd, pieceLine, pieceShape, true));
            pieceStart = lineEnd;
            pieceLine = lineNo;
            pieceShape = forced != null ? null : probe.shape().map(InputShape::code).orElse(null);
          }
        }
        if (!known && from < n) {
          lineTooLong |= line.size() + (n - from) > maxRecordBytes + 2;
          if (!lineTooLong) {
            line.write(buf, from, n - from);
          }
        }
        pos += n;
      }
      if (pos > pieceStart || out.isEmpty()) {
        out.add(new FileChunk(file, out.size(), pieceStart, -1, pieceLine, pieceShape, true));
      }
    }
    return out;
  }

  /** Parses this piece into {@code sink}. */
  public void parse(RecordStreamParser parser, RecordStreamParser.Sink sink) throws IOException {
    if (file.isParquet()) {
      ParquetRows.parse(this, parser, sink);
      return;
    }
    if (file.isCompressed()) {
      parseCompressed(parser, sink);
      return;
    }
    ReadableByteChannel ch = FileSystems.open(FileSystems.matchNewResource(file.path(), false));
    try (InputStream in = Channels.newInputStream(ch)) {
      if (!lines) {
        parser.parse(in, sink);
        return;
      }
      if (start > 0) {
        if (ch instanceof SeekableByteChannel s) {
          s.position(start);
        } else {
          in.skipNBytes(start);
        }
      }
      InputStream piece = end < 0 ? in : new BoundedInputStream(in, end - start);
      parser.parseLines(piece, firstLine, shape == null ? null : InputShape.fromCode(shape), sink);
    }
  }

  /** A whole compressed file, decompressed as it is read (Beam's {@link Compression} picks the codec by suffix). */
  private void parseCompressed(RecordStreamParser parser, RecordStreamParser.Sink sink) throws IOException {
    long[] last = {0};
    RecordStreamParser.Sink counting = new RecordStreamParser.Sink() {
      @Override
      public void example(Example example, long position, int sub) {
        last[0] = Math.max(last[0], position);
        sink.example(example, position, sub);
      }

      @Override
      public void reject(Reject reject, long position) {
        last[0] = Math.max(last[0], position);
        sink.reject(reject, position);
      }

      @Override
      public void blankLine(long line) {
        last[0] = Math.max(last[0], line);
        sink.blankLine(line);
      }
    };
    ReadableByteChannel ch = FileSystems.open(FileSystems.matchNewResource(file.path(), false));
    try (StopAtDamage in = new StopAtDamage(Channels.newInputStream(Compression.detect(file.path()).readDecompressed(ch)))) {
      parser.parse(in, counting);
      if (in.damage != null) {
        // lines count from 1 and array elements from 0, so the next position is one past the last in both
        long next = parser.readLines() ? Math.max(last[0] + 1, 1) : last[0] + 1;
        String where = parser.readLines() ? file.name() + ":" + next : file.name() + "#" + next;
        parser.rejectUnreadable(where, next, "the compressed stream is damaged or truncated after "
            + in.delivered + " decompressed bytes: " + in.damage, counting);
      }
    }
  }

  /**
   * A decompressing stream that ends, instead of failing, where its data is damaged, and remembers why:
   * the lines before the damage are read as usual and the damage becomes one reject.
   */
  private static final class StopAtDamage extends java.io.FilterInputStream {
    String damage;
    long delivered;

    StopAtDamage(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n <= 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (damage != null) {
        return -1;
      }
      int n;
      try {
        n = in.read(b, off, len);
      } catch (IOException e) {
        damage = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
        return -1;
      }
      if (n > 0) {
        delivered += n;
      }
      return n;
    }
  }

  /** At most {@code limit} bytes of a stream. */
  private static final class BoundedInputStream extends InputStream {
    private final InputStream in;
    private long left;

    BoundedInputStream(InputStream in, long limit) {
      this.in = in;
      this.left = limit;
    }

    @Override
    public int read() throws IOException {
      if (left <= 0) {
        return -1;
      }
      int b = in.read();
      if (b >= 0) {
        left--;
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (left <= 0) {
        return -1;
      }
      int k = in.read(b, off, (int) Math.min(len, left));
      if (k > 0) {
        left -= k;
      }
      return k;
    }
  }
}
