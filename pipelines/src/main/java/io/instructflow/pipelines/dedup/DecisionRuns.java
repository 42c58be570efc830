package io.instructflow.pipelines.dedup;

import io.instructflow.pipelines.io.OrderKey;
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
final class DecisionRuns implements Closeable {
  /** Decisions per run by default. */
  static final int RUN = 1 << 16;

  /**
   * One record's decision.
   *
   * @param key the record's input position
   * @param id the record's id, checked when the decision is applied
   * @param kept whether it is kept
   * @param matchedId for a dropped record, the id of the kept record it matched best
   * @param matchedLocation that record's origin location
   * @param score the ROUGE-L F of the match
   */
  record Entry(OrderKey key, String id, boolean kept, String matchedId, String matchedLocation, double score) {
    Entry {
      Objects.requireNonNull(key, "key");
      Objects.requireNonNull(id, "id");
      if (!kept) {
        Objects.requireNonNull(matchedId, "matchedId");
        Objects.requireNonNull(matchedLocation, "matchedLocation");
      }
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
  DecisionRuns(int runSize) throws IOException {
    if (runSize < 1) {
      throw new IllegalArgumentException("run size must be positive, got " + runSize);
    }
    this.runSize = runSize;
    this.dir = Files.createTempDirectory("instructflow-decisions-");
  }

  /** Adds a decision, in any order. */
  void add(Entry e) throws IOException {
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
          writeText(out, e.matchedId());
          writeText(out, e.matchedLocation());
          out.writeDouble(e.score());
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
      return new Entry(k, id, true, null, null, 0);
    }
    return new Entry(k, id, false, readText(in), readText(in), in.readDouble());
  }

  /** Every decision added, by input position; call once, after the last {@link #add}. */
  Iterator<Entry> inInputOrder() throws IOException {
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
}
