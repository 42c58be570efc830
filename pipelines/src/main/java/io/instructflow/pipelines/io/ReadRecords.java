package io.instructflow.pipelines.io;

import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.io.InputShape;
import io.instructflow.schemas.io.RecordConverter;
import io.instructflow.schemas.io.RecordStreamParser;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.values.PInput;
import org.apache.beam.sdk.values.POutput;
import org.apache.beam.sdk.values.PValue;
import java.util.Objects;
import java.util.Optional;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Reshuffle;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PBegin;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * Reads input files into records and rejects, each keyed by its {@link OrderKey}.
 *
 * <p>Each file is cut into pieces that separate tasks parse ({@link FileChunk}: runs of whole JSON
 * lines, runs of whole Parquet row groups, or the whole file for a JSON array or a compressed file),
 * every record keeping its exact line or row number; then the records are reshuffled so later stages
 * spread evenly.
 *
 * {@code ReadRecords.Result r = p.apply(ReadRecords.of(files).withLicense("Apache-2.0"));}
 */
public final class ReadRecords extends PTransform<PBegin, ReadRecords.Result> {
  private static final long serialVersionUID = 1L;

  /** Beam metrics namespace of this transform. */
  public static final String NAMESPACE = "import";

  /** Records read: one per output record or reject. */
  public static final String READ = "read";

  /** Blank JSONL lines skipped. */
  public static final String BLANK = "blank_lines";

  /**
   * Keys used to spread records after reading. Bounded because Beam's DirectRunner handles each key
   * separately (one random key per record made a 55K-record import take minutes there); 128 still
   * spreads work over any realistic number of Spark cores.
   */
  static final int SPREAD_BUCKETS = 128;

  static final TupleTag<KV<OrderKey, Example>> EXAMPLES = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Reject>> REJECTS = new TupleTag<>() {};

  private final List<InputFile> files;
  private final String license;
  private final InputShape format;
  private final int maxRecordBytes;
  private final String countsDir;
  private final long head;

  private ReadRecords(List<InputFile> files, String license, InputShape format, int maxRecordBytes, String countsDir,
      long head) {
    this.files = List.copyOf(files);
    this.license = license;
    this.format = format;
    this.maxRecordBytes = maxRecordBytes;
    this.countsDir = countsDir;
    this.head = head;
  }

  /**
   * A copy that reads only the first {@code n} records of each file (0: all): JSONL lines 1 to n, or
   * the first n elements of a JSON array or rows of a Parquet file. What lies after is not read and not
   * counted. A recipe's {@code --dry-run} reads its inputs this way.
   */
  public ReadRecords withHead(long n) {
    if (n < 0) {
      throw new IllegalArgumentException("head must not be negative, got " + n);
    }
    return new ReadRecords(files, license, format, maxRecordBytes, countsDir, n);
  }

  /**
   * A copy that also writes each file's read and blank-line counts to {@code dir} (one small JSON file
   * per input file, see {@link OutputLayout#takeReadCounts}). Unlike Beam metrics, which count again
   * when Spark re-runs a task, a re-run rewrites the same file, so the totals stay exact.
   */
  public ReadRecords withCountsDir(String dir) {
    return new ReadRecords(files, license, format, maxRecordBytes, Objects.requireNonNull(dir, "dir"), head);
  }

  /** Reads {@code files} with license {@code unknown}, detected shapes and a 1 MiB line limit. */
  public static ReadRecords of(List<InputFile> files) {
    if (files.isEmpty()) {
      throw new IllegalArgumentException("no input files");
    }
    return new ReadRecords(files, "unknown", null, 1 << 20, null, 0);
  }

  /** A copy that writes {@code license} (an SPDX id) into every origin. */
  public ReadRecords withLicense(String license) {
    if (license == null || license.isBlank()) {
      throw new IllegalArgumentException("license must be non-blank, got '" + license + "'");
    }
    return new ReadRecords(files, license, format, maxRecordBytes, countsDir, head);
  }

  /** A copy that reads every object as {@code format} instead of detecting it. */
  public ReadRecords withFormat(InputShape format) {
    return new ReadRecords(files, license, Objects.requireNonNull(format, "format"), maxRecordBytes, countsDir, head);
  }

  /** A copy with another line (record) size limit in bytes. */
  public ReadRecords withMaxRecordBytes(int bytes) {
    if (bytes < 16) {
      throw new IllegalArgumentException("max record bytes must be at least 16, got " + bytes);
    }
    return new ReadRecords(files, license, format, bytes, countsDir, head);
  }

  /** The records and the rejects. */
  public record Result(PCollection<KV<OrderKey, Example>> examples, PCollection<KV<OrderKey, Reject>> rejects)
      implements POutput {
    @Override
    public Pipeline getPipeline() {
      return examples.getPipeline();
    }

    @Override
    public Map<TupleTag<?>, PValue> expand() {
      return Map.of(EXAMPLES, examples, REJECTS, rejects);
    }

    @Override
    public void finishSpecifyingOutput(String transformName, PInput input, PTransform<?, ?> transform) {}
  }

  @Override
  public Result expand(PBegin begin) {
    PCollectionTuple out =
        begin
            .apply("ListFiles", Create.of(files).withCoder(org.apache.beam.sdk.coders.SerializableCoder.of(InputFile.class)))
            .apply("SpreadFiles", Reshuffle.viaRandomKey())
            .apply("SplitFiles", ParDo.of(new SplitFileFn(format, maxRecordBytes, head)))
            .setCoder(org.apache.beam.sdk.coders.SerializableCoder.of(FileChunk.class))
            .apply("SpreadPieces", Reshuffle.viaRandomKey())
            .apply(
                "ParseFiles",
                ParDo.of(new ParseFileFn(license, format, maxRecordBytes, countsDir, head))
                    .withOutputTags(EXAMPLES, TupleTagList.of(REJECTS)));
    PCollection<KV<OrderKey, Example>> examples =
        out.get(EXAMPLES)
            .setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class)))
            .apply("SpreadRecords", Reshuffle.<KV<OrderKey, Example>>viaRandomKey().withNumBuckets(SPREAD_BUCKETS));
    PCollection<KV<OrderKey, Reject>> rejects =
        out.get(REJECTS).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class)));
    return new Result(examples, rejects);
  }

  /** Cuts a file into the pieces one task parses ({@link FileChunk}). */
  static final class SplitFileFn extends DoFn<InputFile, FileChunk> {
    private static final long serialVersionUID = 1L;
    private final InputShape format;
    private final int maxRecordBytes;
    private final long head;

    SplitFileFn(InputShape format, int maxRecordBytes, long head) {
      this.format = format;
      this.maxRecordBytes = maxRecordBytes;
      this.head = head;
    }

    @ProcessElement
    public void process(@Element InputFile file, OutputReceiver<FileChunk> out) throws IOException {
      for (FileChunk c : FileChunk.split(file, format, maxRecordBytes, FileChunk.TARGET_BYTES)) {
        if (head == 0 || !c.lines() || c.firstLine() <= head) {
          out.output(c);
        }
      }
    }
  }

  /** Parses one piece of a file with {@link RecordStreamParser}. */
  static final class ParseFileFn extends DoFn<FileChunk, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final String license;
    private final InputShape format;
    private final int maxRecordBytes;
    private final String countsDir;
    private final long head;
    private final Counter read = Metrics.counter(NAMESPACE, READ);
    private final Counter blank = Metrics.counter(NAMESPACE, BLANK);

    ParseFileFn(String license, InputShape format, int maxRecordBytes, String countsDir, long head) {
      this.license = license;
      this.format = format;
      this.maxRecordBytes = maxRecordBytes;
      this.countsDir = countsDir;
      this.head = head;
    }

    @ProcessElement
    public void process(@Element FileChunk piece, MultiOutputReceiver out) throws IOException {
      FaultPoint.exhaustHeap("read.parse");
      InputFile file = piece.file();
      RecordConverter converter = new RecordConverter(file.dataset(), license, file.split());
      RecordStreamParser parser =
          new RecordStreamParser(converter, Optional.ofNullable(format), maxRecordBytes, file.path(), file.name());
      Emit emit = new Emit(out, file.index(), head, piece.lines(), read, blank);
      piece.parse(parser, emit);
      if (countsDir != null) {
        OutputLayout.writeReadCounts(countsDir, file.index(), piece.piece(), emit.read, emit.blank);
      }
    }
  }

  /**
   * Sends what a parser reads of file {@code fileIndex} to the reader's two outputs, keyed by position,
   * leaving out what lies past the head (JSONL lines count from 1, elements from 0), and counts it.
   */
  static final class Emit implements RecordStreamParser.Sink {
    private final DoFn.MultiOutputReceiver out;
    private final int fileIndex;
    private final long head;
    private final boolean lines;
    private final Counter readCounter;
    private final Counter blankCounter;
    /** Records and rejects sent. */
    long read;
    /** Blank lines skipped. */
    long blank;

    Emit(DoFn.MultiOutputReceiver out, int fileIndex, long head, boolean lines, Counter read, Counter blank) {
      this.out = out;
      this.fileIndex = fileIndex;
      this.head = head;
      this.lines = lines;
      this.readCounter = read;
      this.blankCounter = blank;
    }

    private boolean pastHead(long position) {
      return head > 0 && (lines ? position > head : position >= head);
    }

    @Override
    public void example(Example example, long position, int sub) {
      if (!pastHead(position)) {
        out.get(EXAMPLES).output(KV.of(new OrderKey(fileIndex, position, sub), example));
        counted();
      }
    }

    @Override
    public void reject(Reject reject, long position) {
      if (!pastHead(position)) {
        out.get(REJECTS).output(KV.of(new OrderKey(fileIndex, position, 0), reject));
        counted();
      }
    }

    private void counted() {
      read++;
      readCounter.inc();
      Progress.add(Progress.READ, 1);
    }

    @Override
    public void blankLine(long line) {
      if (!pastHead(line)) {
        blank++;
        blankCounter.inc();
      }
    }
  }
}
