package io.instructflow.pipelines.io;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.io.RecordConverter;
import io.instructflow.schemas.io.RecordStreamParser;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PBegin;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PCollectionView;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * The kept records of one command handed to the next command in the same pipeline (a fused recipe run,
 * issue 20), exactly as that command would read them from the first one's published {@code data/}.
 *
 * <p>A command that reads an earlier output of ours gives every record an {@code import} step naming
 * the shard and line it was read at ({@code part-00003.jsonl:17}), and orders and shards its own output
 * by those positions. Shards are cut only when the output is published, after the pipeline. So the
 * first command writes its records as usual ({@link WriteOrdered#handingOn}) and also hands each written
 * fragment on; the reader here numbers the shards-to-be from the fragments' line counts, which the
 * written file names carry (a side input), with {@link OutputLayout#shardCuts}, the rule
 * {@link OutputLayout#publish} cuts by, and parses each fragment's lines with the same parser, at the
 * same shard, line and file name as reading the published shard would. Records, rejects, steps and
 * order are therefore the same bytes as when the two commands run one after the other, and
 * {@code FusedRun} checks the shards it named against those published.
 *
 * <pre>{@code
 * PCollectionTuple w = lines.apply(WriteOrdered.handingOn(layout.staging(DATA)));
 * HandOff h = HandOff.of(w, layout, shardSize);
 * ReadRecords.Result r = p.apply(h.reader(readOptions, nextLayout.countsDir()));
 * }</pre>
 *
 * @param files the written fragment files (their names carry their line counts)
 * @param fragments each fragment's key and its lines, in order
 * @param output the output the fragments are published into
 * @param shardSize that output's lines per shard
 */
public record HandOff(PCollection<String> files, PCollection<KV<String, List<String>>> fragments, OutputLayout output,
    long shardSize) {
  /** The written fragment files, under {@link WriteOrdered#handingOn}. */
  public static final TupleTag<String> FILES = new TupleTag<>() {};
  /** The fragments handed on, under {@link WriteOrdered#handingOn}. */
  public static final TupleTag<KV<String, List<String>>> FRAGMENTS = new TupleTag<>() {};

  public HandOff {
    Objects.requireNonNull(files, "files");
    Objects.requireNonNull(fragments, "fragments");
    Objects.requireNonNull(output, "output");
    if (shardSize < 1) {
      throw new IllegalArgumentException("shard size must be positive, got " + shardSize);
    }
  }

  /** The hand-off of what {@link WriteOrdered#handingOn} wrote into {@code output}'s {@code data/}. */
  public static HandOff of(PCollectionTuple written, OutputLayout output, long shardSize) {
    return new HandOff(written.get(FILES), written.get(FRAGMENTS), output, shardSize);
  }

  /**
   * Reads the handed-on records with {@code read}'s options (its {@code in} is this output; format, dataset
   * name, license, line limit and head apply as when reading the published shards), writing each shard's
   * counts to {@code countsDir} as {@link ReadRecords#withCountsDir} does.
   */
  public PTransform<PBegin, ReadRecords.Result> reader(ReadOptions read, String countsDir) {
    HandOff self = this;
    return new PTransform<>() {
      private static final long serialVersionUID = 1L;

      @Override
      public ReadRecords.Result expand(PBegin begin) {
        PCollectionView<List<String>> written = self.files.apply("FragmentSizes", View.asList());
        PCollectionTuple out = self.fragments.apply("ParseHandedOn",
            ParDo.of(new ParseFragmentFn(read, self.output.root(), self.shardSize, countsDir, written))
                .withSideInputs(written)
                .withOutputTags(ReadRecords.EXAMPLES, TupleTagList.of(ReadRecords.REJECTS)));
        PCollection<KV<OrderKey, Example>> examples =
            out.get(ReadRecords.EXAMPLES).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class)));
        PCollection<KV<OrderKey, Reject>> rejects =
            out.get(ReadRecords.REJECTS).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class)));
        return new ReadRecords.Result(examples, rejects);
      }
    };
  }

  /** Where one fragment lands once published: its shard, its first line there, its place among all fragments. */
  record Place(int shard, long firstLine, int ordinal) {}

  /**
   * Where each fragment lands, by fragment key, from the written fragment files: in key order, cut into
   * shards as {@link OutputLayout#publish} cuts them.
   */
  static Map<String, Place> places(List<String> writtenFiles, long shardSize) {
    TreeMap<String, Long> sizes = new TreeMap<>();
    for (String f : writtenFiles) {
      String name = f.substring(f.lastIndexOf('/') + 1);
      sizes.put(WriteOrdered.fragmentKeyOf(name), WriteOrdered.linesOf(name));
    }
    List<String> keys = new ArrayList<>(sizes.keySet());
    Map<String, Place> out = new HashMap<>();
    int next = 0;
    List<Integer> cuts = OutputLayout.shardCuts(new ArrayList<>(sizes.values()), shardSize);
    for (int shard = 0; shard < cuts.size(); shard++) {
      long line = 1;
      for (int k = 0; k < cuts.get(shard); k++, next++) {
        String key = keys.get(next);
        out.put(key, new Place(shard, line, next));
        line += sizes.get(key);
      }
    }
    return out;
  }

  /** The lines as the bytes of a JSON Lines file, each UTF-8 and ended by a newline, made one line at a time. */
  static InputStream lines(List<String> lines) {
    Iterator<String> it = lines.iterator();
    return new SequenceInputStream(new Enumeration<InputStream>() {
      @Override
      public boolean hasMoreElements() {
        return it.hasNext();
      }

      @Override
      public InputStream nextElement() {
        return new ByteArrayInputStream((it.next() + "\n").getBytes(StandardCharsets.UTF_8));
      }
    });
  }

  /** Parses one handed-on fragment as the lines of its shard-to-be. */
  static final class ParseFragmentFn extends DoFn<KV<String, List<String>>, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final ReadOptions read;
    private final String outputRoot;
    private final long shardSize;
    private final String countsDir;
    private final PCollectionView<List<String>> written;
    private final Counter readCounter = Metrics.counter(ReadRecords.NAMESPACE, ReadRecords.READ);
    private final Counter blankCounter = Metrics.counter(ReadRecords.NAMESPACE, ReadRecords.BLANK);
    private transient Map<String, Place> places;

    ParseFragmentFn(ReadOptions read, String outputRoot, long shardSize, String countsDir,
        PCollectionView<List<String>> written) {
      this.read = read;
      this.outputRoot = outputRoot;
      this.shardSize = shardSize;
      this.countsDir = countsDir;
      this.written = written;
    }

    @ProcessElement
    public void process(@Element KV<String, List<String>> fragment, MultiOutputReceiver out, ProcessContext c)
        throws IOException {
      if (places == null) {
        // the same list in every bundle (the global window's one side input)
        places = places(c.sideInput(written), shardSize);
      }
      Place at = places.get(fragment.getKey());
      if (at == null) {
        throw new IllegalStateException("fragment " + fragment.getKey() + " is not among the written fragments");
      }
      InputFile file = InputFiles.publishedShard(new OutputLayout(outputRoot), at.shard(), read.datasetName());
      RecordConverter converter = new RecordConverter(file.dataset(), read.license(), file.split());
      RecordStreamParser parser = new RecordStreamParser(converter, Optional.ofNullable(read.format()),
          read.maxLineBytes(), file.path(), file.name());
      ReadRecords.Emit emit = new ReadRecords.Emit(out, file.index(), read.head(), true, readCounter, blankCounter);
      parser.parseLines(lines(fragment.getValue()), at.firstLine(), null, emit);
      if (countsDir != null) {
        OutputLayout.writeReadCounts(countsDir, file.index(), at.ordinal(), emit.read, emit.blank);
      }
    }
  }
}
