package io.instructflow.pipelines.io;

import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Verdict;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.MoveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.TypeDescriptor;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * An order-dependent decision over every record, in input order, without gathering the records: the
 * pipeline stages them in order ({@link #stage}), then this pass reads the staged fragments one after
 * the other, decides each pending record, and writes the kept ones to {@code data/} and the rest to
 * {@code filtered/} as fragments of the same keys, which {@link OutputLayout#publish} packs as usual.
 *
 * <p>Memory: one fragment ({@value WriteOrdered#FRAGMENT_POSITIONS} input positions) at a time, plus
 * what the decision keeps for the records it has kept. Per fragment the records are parsed, prepared
 * ({@link Gate#prepare}) and stamped ({@link Gate#stamp}) in parallel over the cores, and decided in
 * order. The pass runs where the command runs (the driver), reading and writing through Beam's
 * FileSystems, so the staging folder must be one the driver and the workers share, as the outputs are.
 *
 * <p>A record a stage before the decision already dropped is staged as final: it passes to
 * {@code filtered/} in its place, unread.
 *
 * <p>A decision in another order than the input's ({@code dedup --order-by}) reads fragments staged in
 * that order under {@value #SORTED}, whose lines carry their input positions ({@link #sortedLine}),
 * and hands its verdicts to the caller ({@link #decideSorted}), which applies them in input order.
 */
public final class OrderedPass {
  private OrderedPass() {}

  /** The name of the staging sub-folder the pending records go to. */
  public static final String STAGING = "ordered";

  private static final char PENDING = 'P';
  private static final char FINAL = 'F';

  /**
   * An order-dependent decision.
   *
   * @param <P> what the decision compares of a record
   */
  public interface Gate<P> extends AutoCloseable {
    /** What the decision needs of a record; thread-safe. */
    P prepare(Example e);

    /** The next record's verdict, in input order. */
    Verdict decide(Example e, P prepared);

    /** The record as written, with the step for its verdict; thread-safe. */
    Example stamp(Example e, Verdict v);

    @Override
    default void close() {}
  }

  /** What a pass did. */
  public record Counts(long kept, long dropped, long passedThrough) {
    /** Records decided: kept or dropped. */
    public long decided() {
      return kept + dropped;
    }
  }

  /**
   * Stages {@code pending} records (to decide) and {@code decided} ones (already dropped, with their
   * step) in input order under {@code layout}, for {@link #run}.
   */
  public static void stage(OutputLayout layout, PCollection<KV<OrderKey, Example>> pending,
      PCollection<KV<OrderKey, Example>> decided, String name) {
    PCollection<KV<OrderKey, String>> p = pending.apply(name + "Pending", marked(PENDING));
    PCollection<KV<OrderKey, String>> d = decided.apply(name + "Decided", marked(FINAL));
    PCollectionList.of(p).and(d)
        .apply(name + "Staged", Flatten.pCollections())
        .setCoder(KvCoder.of(OrderKey.Coder.of(), StringUtf8Coder.of()))
        .apply("Write" + name, WriteOrdered.to(layout.staging(STAGING)));
  }

  private static MapElements<KV<OrderKey, Example>, KV<OrderKey, String>> marked(char mark) {
    return MapElements.into(TypeDescriptors.kvs(new TypeDescriptor<OrderKey>() {}, TypeDescriptors.strings()))
        .via(new Mark(mark));
  }

  /** A record to its marked JSON line. */
  static final class Mark implements org.apache.beam.sdk.transforms.SerializableFunction<KV<OrderKey, Example>, KV<OrderKey, String>> {
    private static final long serialVersionUID = 1L;
    private final char mark;

    Mark(char mark) {
      this.mark = mark;
    }

    @Override
    public KV<OrderKey, String> apply(KV<OrderKey, Example> kv) {
      return KV.of(kv.getKey(), mark + Json.line(kv.getValue()));
    }
  }

  /**
   * The staging sub-folder for records staged in another order than the input's ({@link #sortedLine},
   * {@link #decideSorted}).
   */
  public static final String SORTED = "sorted";

  /** Receives each verdict of {@link #decideSorted} with its record's input position. */
  public interface Decisions {
    /** The verdict of {@code e}, at input position {@code key}. */
    void accept(OrderKey key, Example e, Verdict v) throws IOException;
  }

  /**
   * A line of a fragment in {@link #SORTED}: a pending record with its input position, which the
   * fragment's name and place no longer tell.
   */
  public static String sortedLine(OrderKey key, String json) {
    return String.valueOf(PENDING) + key.source() + "." + key.position() + "." + key.sub() + "\t" + json;
  }

  private static OrderKey keyOf(String line, int tab) {
    int a = line.indexOf('.');
    int b = line.indexOf('.', a + 1);
    return new OrderKey(Integer.parseInt(line, 1, a, 10), Long.parseLong(line, a + 1, b, 10),
        Integer.parseInt(line, b + 1, tab, 10));
  }

  /**
   * Decides every record staged in {@link #SORTED} with {@code gate}, in the fragments' order (by
   * name, then line) rather than input order, and hands each verdict to {@code decisions} in that
   * order instead of writing it: the caller applies them in input order. Memory as for {@link #run}:
   * one fragment at a time, parsed and prepared in parallel. Removes the staged fragments; returns the
   * number of records decided.
   */
  public static <P> long decideSorted(OutputLayout layout, Gate<P> gate, Decisions decisions) throws IOException {
    TreeMap<String, ResourceId> fragments = OutputLayout.fragments(layout.staging(SORTED));
    long decided = 0;
    for (ResourceId fragment : fragments.values()) {
      List<String> lines = readLines(fragment);
      int n = lines.size();
      OrderKey[] keys = new OrderKey[n];
      Example[] records = new Example[n];
      List<P> prepared = new ArrayList<>(java.util.Collections.nCopies(n, null));
      IntStream.range(0, n).parallel().forEach(i -> {
        String l = lines.get(i);
        int tab = l.indexOf('\t');
        if (l.charAt(0) != PENDING || tab < 0) {
          throw new IllegalStateException("staged record " + fragment + ":" + (i + 1) + " is not a sorted line");
        }
        keys[i] = keyOf(l, tab);
        try {
          records[i] = Json.mapper().readValue(l.substring(tab + 1), Example.class);
        } catch (IOException e) {
          throw new UncheckedIOException("staged record " + fragment + ":" + (i + 1) + ": " + e.getMessage(), e);
        }
        prepared.set(i, gate.prepare(records[i]));
      });
      for (int i = 0; i < n; i++) {
        Verdict v = gate.decide(records[i], prepared.get(i));
        prepared.set(i, null);
        decisions.accept(keys[i], records[i], v);
        records[i] = null;
      }
      decided += n;
      Progress.add(Progress.DECIDED, n);
    }
    if (!fragments.isEmpty()) {
      FileSystems.delete(fragments.values(), MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
    }
    layout.removeEmptyStaging(SORTED);
    return decided;
  }

  private static List<String> readLines(ResourceId fragment) throws IOException {
    List<String> lines = new ArrayList<>();
    try (BufferedReader in = new BufferedReader(
        new InputStreamReader(Channels.newInputStream(FileSystems.open(fragment)), StandardCharsets.UTF_8), 1 << 16)) {
      String l;
      while ((l = in.readLine()) != null) {
        lines.add(l);
      }
    }
    return lines;
  }

  /** Decides every staged record with {@code gate}, in order; removes the staged fragments. */
  public static <P> Counts run(OutputLayout layout, Gate<P> gate) throws IOException {
    TreeMap<String, ResourceId> fragments = OutputLayout.fragments(layout.staging(STAGING));
    long[] counts = new long[3];
    for (var f : fragments.entrySet()) {
      pass(layout, f.getKey(), f.getValue(), gate, counts);
    }
    if (!fragments.isEmpty()) {
      FileSystems.delete(fragments.values(), MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
    }
    layout.removeEmptyStaging(STAGING);
    return new Counts(counts[0], counts[1], counts[2]);
  }

  private static <P> void pass(OutputLayout layout, String key, ResourceId fragment, Gate<P> gate, long[] counts)
      throws IOException {
    List<String> lines = readLines(fragment);
    int n = lines.size();
    Example[] records = new Example[n];
    List<P> prepared = new ArrayList<>(java.util.Collections.nCopies(n, null));
    IntStream.range(0, n).parallel().forEach(i -> {
      String l = lines.get(i);
      if (l.charAt(0) == PENDING) {
        try {
          records[i] = Json.mapper().readValue(l.substring(1), Example.class);
        } catch (IOException e) {
          throw new UncheckedIOException("staged record " + fragment + ":" + (i + 1) + ": " + e.getMessage(), e);
        }
        prepared.set(i, gate.prepare(records[i]));
      }
    });
    Verdict[] verdicts = new Verdict[n];
    for (int i = 0; i < n; i++) {
      if (records[i] != null) {
        verdicts[i] = gate.decide(records[i], prepared.get(i));
        prepared.set(i, null);
      }
    }
    String[] out = new String[n];
    IntStream.range(0, n).parallel().forEach(i -> {
      out[i] = records[i] == null ? lines.get(i).substring(1) : Json.line(gate.stamp(records[i], verdicts[i]));
    });
    List<String> kept = new ArrayList<>();
    List<String> filtered = new ArrayList<>();
    int passedThrough = 0;
    for (int i = 0; i < n; i++) {
      if (records[i] == null) {
        filtered.add(out[i]);
        passedThrough++;
      } else if (verdicts[i] instanceof Verdict.Kept) {
        kept.add(out[i]);
      } else {
        filtered.add(out[i]);
      }
    }
    counts[0] += kept.size();
    counts[1] += filtered.size() - passedThrough;
    counts[2] += passedThrough;
    Progress.add(Progress.DECIDED, n - passedThrough);
    write(layout.staging(OutputLayout.Kind.DATA), key, kept);
    write(layout.staging(OutputLayout.Kind.FILTERED), key, filtered);
  }

  /** Writes a non-empty fragment ({@link WriteOrdered#writeFragment}: a temporary name, then renamed). */
  private static void write(String dir, String key, List<String> lines) throws IOException {
    if (!lines.isEmpty()) {
      WriteOrdered.writeFragment(dir, key, lines);
    }
  }
}
