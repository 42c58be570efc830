package io.instructflow.pipelines.dedup;

import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OrderedPass;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Verdict;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.PriorityQueue;

/**
 * The decisions of a pass in sort order, given back in input order without holding them all: an
 * external sort. Decisions are buffered up to a run's size, sorted by input position and written to a
 * temporary file; {@link #inInputOrder} merges the runs. Memory: one run's buffer (by default 65,536
 * decisions, each a few hundred bytes with its ids and location) while adding, then a 16 KB read
 * buffer per run while merging. The temporary folder is the JVM's ({@code java.io.tmpdir}), on the
 * machine of the pass, and is removed by {@link #close}.
 */
public final class DecisionRuns implements Closeable {
  /** Decisions per run by default. */
  public static final int RUN = 1 << 16;

  /**
   * One record's decision.
   *
   * @param key the record's input position
   * @param id the record's id, checked when the decision is applied
   * @param verdict the verdict, kept or dropped with its evidence
   */
  public record Entry(OrderKey key, String id, Verdict verdict) {
    public Entry {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(id, "id");
      Objects.requireNonNull(verdict, "verdict");
    }

    /** Whether the record is kept. */
    public boolean kept() {
      return verdict instanceof Verdict.Kept;
    }
  }

  private static final Comparator<Entry> BY_KEY = Comparator.comparing(Entry::key);

  private final int runSize;
  private final Path dir;
  private final List<Entry> buffer = new ArrayList<>();
  private final List<Path> runs = new ArrayList<>();
  private final List<Long> runLengths = new ArrayList<>();
  private final List<DataInputStream> open = new ArrayList<>();
  private long added;

  /** An empty set of runs of {@code runSize} decisions each, in a new temporary folder. */
  public DecisionRuns(int runSize) throws IOException {
    if (runSize < 1) {
      throw new IllegalArgumentException("run size must be positive, got " + runSize);
    }
    this.runSize = runSize;
    this.dir = Files.createTempDirectory("instructflow-decisions-");
  }

  /** Adds a decision, in any order. */
  public void add(Entry e) throws IOException {
    buffer.add(e);
    added++;
    if (buffer.size() >= runSize) {
      spill();
    }
  }

  /** Decisions added. */
  long size() {
    return added;
  }

  /** Runs written so far. */
  int runs() {
    return runs.size();
  }

  private void spill() throws IOException {
    buffer.sort(BY_KEY);
    Path f = dir.resolve(String.format("run-%06d.bin", runs.size()));
    try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(f), 1 << 16))) {
      for (Entry e : buffer) {
        out.writeInt(e.key().source());
        out.writeLong(e.key().position());
        out.writeInt(e.key().sub());
        writeText(out, e.id());
        out.writeBoolean(e.kept());
        if (!e.kept()) {
          writeText(out, Json.line(e.verdict()));
        }
      }
    }
    runs.add(f);
    runLengths.add((long) buffer.size());
    buffer.clear();
  }

  private static void writeText(DataOutputStream out, String s) throws IOException {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    out.writeInt(b.length);
    out.write(b);
  }

  private static String readText(DataInputStream in) throws IOException {
    byte[] b = new byte[in.readInt()];
    in.readFully(b);
    return new String(b, StandardCharsets.UTF_8);
  }

  private static Entry read(DataInputStream in) throws IOException {
    OrderKey k = new OrderKey(in.readInt(), in.readLong(), in.readInt());
    String id = readText(in);
    if (in.readBoolean()) {
      return new Entry(k, id, Verdict.KEPT);
    }
    return new Entry(k, id, Json.mapper().readValue(readText(in), Verdict.class));
  }

  /** Every decision added, by input position; call once, after the last {@link #add}. */
  public Iterator<Entry> inInputOrder() throws IOException {
    if (!buffer.isEmpty()) {
      spill();
    }
    record Head(Entry entry, int run) {}
    long[] left = new long[runs.size()];
    PriorityQueue<Head> heads = new PriorityQueue<>(Math.max(1, runs.size()), Comparator.comparing(Head::entry, BY_KEY));
    for (int r = 0; r < runs.size(); r++) {
      DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(runs.get(r)), 1 << 14));
      open.add(in);
      left[r] = runLengths.get(r) - 1;
      heads.add(new Head(read(in), r));
    }
    return new Iterator<>() {
      @Override
      public boolean hasNext() {
        return !heads.isEmpty();
      }

      @Override
      public Entry next() {
        Head h = heads.poll();
        if (h == null) {
          throw new NoSuchElementException();
        }
        if (left[h.run()] > 0) {
          left[h.run()]--;
          try {
            heads.add(new Head(read(open.get(h.run())), h.run()));
          } catch (IOException e) {
            throw new UncheckedIOException("decision run " + runs.get(h.run()) + ": " + e.getMessage(), e);
          }
        }
        return h.entry();
      }
    };
  }

  /** Closes the runs and removes the temporary folder. */
  @Override
  public void close() throws IOException {
    for (DataInputStream in : open) {
      in.close();
    }
    for (Path f : runs) {
      Files.deleteIfExists(f);
    }
    Files.deleteIfExists(dir);
  }

  /**
   * Replays decisions made in another order onto the records in input order (a pass of
   * {@link OrderedPass#run}): each record takes the next decision, which must be its own.
   */
  public static final class Replay implements OrderedPass.Gate<Void> {
    private final Iterator<Entry> decisions;
    private final java.util.function.BiFunction<Example, Verdict, Example> stamp;

    /**
     * @param decisions the decisions, in input order ({@link #inInputOrder})
     * @param stamp the record as written, with the step of its verdict
     */
    public Replay(Iterator<Entry> decisions, java.util.function.BiFunction<Example, Verdict, Example> stamp) {
      this.decisions = decisions;
      this.stamp = stamp;
    }

    @Override
    public Void prepare(Example e) {
      return null;
    }

    @Override
    public Verdict decide(Example e, Void prepared) {
      if (!decisions.hasNext()) {
        throw new IllegalStateException("no decision left for record " + e.id());
      }
      Entry d = decisions.next();
      if (!d.id().equals(e.id())) {
        throw new IllegalStateException("the decision for record " + d.id() + " at " + d.key() + " met record " + e.id());
      }
      return d.verdict();
    }

    @Override
    public Example stamp(Example e, Verdict v) {
      return stamp.apply(e, v);
    }

    /** Fails when a decision was left over (a record decided but not staged in input order). */
    public void requireDone() {
      if (decisions.hasNext()) {
        throw new IllegalStateException("a decision was left over: " + decisions.next().key());
      }
    }
  }
}
