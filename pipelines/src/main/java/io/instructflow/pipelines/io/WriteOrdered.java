package io.instructflow.pipelines.io;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import io.instructflow.schemas.Json;
import java.util.Objects;
import java.util.function.Function;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.ListCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.SerializableFunction;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptor;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Writes JSON lines in their global {@link OrderKey} order as staged fragment files, which
 * {@link OutputLayout#publish} packs into shards {@code part-<n>.jsonl}: byte-identical on every run,
 * runner and number of workers.
 *
 * <p>A fragment is one block of {@value #FRAGMENT_POSITIONS} positions of one source file: its lines
 * are grouped, sorted by key and written whole, under a name that sorts in global order and carries its
 * line count. The packing into shards happens after the run from those names alone, so the pipeline
 * needs no side input and every group stays small (Beam's DirectRunner copies a group's state for each
 * bundle, which made large groups quadratic there).
 *
 * {@code lines.apply(WriteOrdered.to(layout.staging(OutputLayout.Kind.DATA)));}
 */
public final class WriteOrdered extends PTransform<PCollection<KV<OrderKey, String>>, PCollection<String>> {
  private static final long serialVersionUID = 1L;

  /** Positions of one source per fragment. */
  public static final long FRAGMENT_POSITIONS = 2048;

  private static final String PREFIX = "frag-";

  private final String dir;

  private WriteOrdered(String dir) {
    this.dir = dir;
  }

  /** Writes fragments into folder {@code dir} (a path or URI). */
  public static WriteOrdered to(String dir) {
    return new WriteOrdered(Objects.requireNonNull(dir, "dir"));
  }

  @Override
  public PCollection<String> expand(PCollection<KV<OrderKey, String>> lines) {
    return write(lines, dir, false).get(HandOff.FILES);
  }

  /**
   * Like {@link #to}, and also hands every fragment on as it was written (its key and its lines in
   * order) under {@link HandOff#FRAGMENTS}, beside the written files under {@link HandOff#FILES}: a
   * reader later in the same pipeline takes the records from there instead of from the published shards
   * ({@link HandOff}), with one grouping for both.
   */
  public static PTransform<PCollection<KV<OrderKey, String>>, PCollectionTuple> handingOn(String dir) {
    Objects.requireNonNull(dir, "dir");
    return new PTransform<>() {
      private static final long serialVersionUID = 1L;

      @Override
      public PCollectionTuple expand(PCollection<KV<OrderKey, String>> lines) {
        return write(lines, dir, true);
      }
    };
  }

  /** Groups the lines by fragment, sorts and writes each; with {@code handOn}, hands the fragments on too. */
  private static PCollectionTuple write(PCollection<KV<OrderKey, String>> lines, String dir, boolean handOn) {
    PCollectionTuple out = lines
        .apply(
            "KeyByFragment",
            MapElements.into(TypeDescriptors.kvs(TypeDescriptors.strings(), new TypeDescriptor<KV<OrderKey, String>>() {}))
                .via((KV<OrderKey, String> kv) -> KV.of(fragmentKey(kv.getKey()), kv)))
        .setCoder(KvCoder.of(StringUtf8Coder.of(), KvCoder.of(OrderKey.Coder.of(), StringUtf8Coder.of())))
        .apply("GroupFragments", GroupByKey.create())
        .apply("WriteFragments", ParDo.of(new WriteFragmentFn(dir, handOn))
            .withOutputTags(HandOff.FILES, handOn ? TupleTagList.of(HandOff.FRAGMENTS) : TupleTagList.empty()));
    out.get(HandOff.FILES).setCoder(StringUtf8Coder.of());
    if (handOn) {
      out.get(HandOff.FRAGMENTS).setCoder(KvCoder.of(StringUtf8Coder.of(), ListCoder.of(StringUtf8Coder.of())));
    }
    return out;
  }

  /** Serializes keyed records to keyed JSON lines (with {@link Json#line}). */
  public static <T> MapElements<KV<OrderKey, T>, KV<OrderKey, String>> asJsonLines() {
    // A named class, not a method reference: javac deserializes two serializable method references
    // that differ only in their type argument into the same lambda, with the first one's cast.
    return MapElements.into(TypeDescriptors.kvs(new TypeDescriptor<OrderKey>() {}, TypeDescriptors.strings()))
        .via(new ToJsonLine<T>());
  }

  /** A keyed record to its keyed JSON line. */
  static final class ToJsonLine<T> implements SerializableFunction<KV<OrderKey, T>, KV<OrderKey, String>> {
    private static final long serialVersionUID = 1L;

    @Override
    public KV<OrderKey, String> apply(KV<OrderKey, T> kv) {
      return KV.of(kv.getKey(), Json.line(kv.getValue()));
    }
  }

  /** Zero-padded source and block: string order equals global order. */
  static String fragmentKey(OrderKey k) {
    return String.format("%09d-%012d", k.source(), k.position() / FRAGMENT_POSITIONS);
  }

  /** The file name of a fragment with {@code lines} lines. */
  public static String fragmentName(String key, long lines) {
    return PREFIX + key + "-n" + lines + ".jsonl";
  }

  /** True for a staged fragment's file name. */
  public static boolean isFragment(String fileName) {
    return fileName.startsWith(PREFIX) && fileName.endsWith(".jsonl") && fileName.contains("-n");
  }

  /** The fragment's ordering key (source and block) from its file name. */
  public static String fragmentKeyOf(String fileName) {
    return fileName.substring(PREFIX.length(), fileName.lastIndexOf("-n"));
  }

  /** The line count from a fragment's file name. */
  public static long linesOf(String fileName) {
    return Long.parseLong(fileName.substring(fileName.lastIndexOf("-n") + 2, fileName.length() - ".jsonl".length()));
  }

  /**
   * Writes {@code lines} (each without its newline) as the staged fragment {@code key} in folder
   * {@code dir}: UTF-8, one line each, under the temporary name {@code tmp-<key>.jsonl} first and then
   * renamed to {@link #fragmentName}. {@link OutputLayout#publish} packs only fragment names, so a task
   * that fails while writing leaves at most a temporary file, never a half fragment; its retry writes
   * the same temporary name again and renames it. Every writer of ordered fragments goes through here,
   * so their bytes and names agree.
   *
   * @return the fragment file
   * @throws IOException when the file cannot be written or renamed
   */
  public static ResourceId writeFragment(String dir, String key, List<String> lines) throws IOException {
    ResourceId d = FileSystems.matchNewResource(dir, true);
    ResourceId tmp = d.resolve(OutputLayout.TMP_PREFIX + key + ".jsonl", StandardResolveOptions.RESOLVE_FILE);
    try (OutputStream os = new BufferedOutputStream(Channels.newOutputStream(FileSystems.create(tmp, "application/jsonl")), 1 << 16)) {
      for (String l : lines) {
        os.write(l.getBytes(StandardCharsets.UTF_8));
        os.write('\n');
      }
    }
    ResourceId file = d.resolve(fragmentName(key, lines.size()), StandardResolveOptions.RESOLVE_FILE);
    FileSystems.rename(List.of(tmp), List.of(file));
    return file;
  }

  /**
   * Writes one group of lines as the staged fragment {@code key} ({@link #writeFragment}), sorted first by
   * their keys in {@code order}: each row becomes the line {@code line} makes of it. The one way a grouped
   * fragment is put in order before it is written (the input-order fragments here, the sort-order ranges of
   * {@code StageInSortOrder}).
   *
   * @return the fragment file
   * @throws IOException when the file cannot be written or renamed
   */
  public static <K> ResourceId writeSorted(String dir, String key, Iterable<KV<K, String>> group,
      Comparator<? super K> order, Function<KV<K, String>, String> line) throws IOException {
    return writeFragment(dir, key, sortedLines(group, order, line));
  }

  /** The lines of a group, sorted by their keys in {@code order}, each made by {@code line}. */
  static <K> List<String> sortedLines(Iterable<KV<K, String>> group, Comparator<? super K> order,
      Function<KV<K, String>, String> line) {
    List<KV<K, String>> rows = new ArrayList<>();
    group.forEach(rows::add);
    rows.sort((x, y) -> order.compare(x.getKey(), y.getKey()));
    List<String> lines = new ArrayList<>(rows.size());
    rows.forEach(r -> lines.add(line.apply(r)));
    return lines;
  }

  /** Sorts one fragment and writes it; hands its lines on too when asked. */
  static final class WriteFragmentFn extends DoFn<KV<String, Iterable<KV<OrderKey, String>>>, String> {
    private static final long serialVersionUID = 1L;
    private final String dir;
    private final boolean handOn;

    WriteFragmentFn(String dir, boolean handOn) {
      this.dir = dir;
      this.handOn = handOn;
    }

    @ProcessElement
    public void process(@Element KV<String, Iterable<KV<OrderKey, String>>> fragment, MultiOutputReceiver out)
        throws IOException {
      List<String> lines = sortedLines(fragment.getValue(), Comparator.<OrderKey>naturalOrder(), KV::getValue);
      out.get(HandOff.FILES).output(writeFragment(dir, fragment.getKey(), lines).toString());
      if (handOn) {
        out.get(HandOff.FRAGMENTS).output(KV.of(fragment.getKey(), lines));
      }
    }
  }
}
