package io.instructflow.pipelines.bench;

import io.instructflow.filters.rouge.GreedyRougeFilter;
import io.instructflow.filters.rouge.Lcs;
import io.instructflow.filters.rouge.RougeL;
import io.instructflow.filters.rouge.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * {@code bench dedup}: our ROUGE-L greedy filter against the exhaustive all-pairs loop, on real
 * corpora, in one JVM with the same tokenization and the same LCS code.
 *
 * <p>The exhaustive loop compares each text with every earlier kept text. It is run until a time cap;
 * since our run yields the exact kept set, the number of comparisons the full exhaustive run needs is
 * known exactly (the sum over texts of the number of kept texts before it), and its time is
 * extrapolated from the rate measured on the comparisons it did (the first texts are shorter or
 * longer than average only by chance: the rate is per comparison, over a prefix of thousands of
 * texts). The kept sets are checked for identity on the part the exhaustive run completed.
 */
public final class DedupBench {
  private DedupBench() {}

  /** The instruction of every record of the files under {@code path} (a file or folder), in order. */
  public static List<String> texts(Path path) throws IOException {
    List<String> out = new ArrayList<>();
    BenchData.examples(path, true).forEach(e -> out.add(e.instructionText()));
    return out;
  }

  /** Peak heap use since the last reset, in MiB. */
  public static long peakHeapMib() {
    long sum = 0;
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      if (p.getType() == MemoryType.HEAP) {
        sum += p.getPeakUsage().getUsed();
      }
    }
    return sum >> 20;
  }

  /** Resets the peak heap counters. */
  public static void resetPeaks() {
    System.gc();
    for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
      p.resetPeakUsage();
    }
  }

  /** One benchmark row. */
  public record Row(String corpus, int n, int kept, double oursSeconds, long oursVerifications, long oursCandidates,
      double componentsSeconds, long exhaustiveComparisons, double exhaustiveSeconds, boolean exhaustiveExtrapolated,
      int exhaustiveTextsDone, long peakHeapMib) {}

  /** Runs ours (sequential and components) and the capped exhaustive loop on the first {@code n} texts. */
  public static Row run(String corpus, List<String> all, int n, Tokenizer tok, double t, double exhaustiveCapSeconds,
      int threads, PrintStream log) {
    List<List<String>> texts = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      texts.add(tok.tokens(all.get(i)));
    }
    resetPeaks();
    long t0 = System.nanoTime();
    GreedyRougeFilter.Result seq = GreedyRougeFilter.sequential(texts, t);
    double seqS = (System.nanoTime() - t0) / 1e9;
    long heap = peakHeapMib();
    log.printf(Locale.ROOT, "  %s n=%,d: sequential %.1f s, kept %,d, %,d candidates, %,d LCS%n", corpus, n, seqS,
        seq.kept().size(), seq.stats().candidates(), seq.stats().verifications());
    double compS = -1;
    if (threads > 0) {
      t0 = System.nanoTime();
      GreedyRougeFilter.Result comp = GreedyRougeFilter.viaComponents(texts, t, threads);
      compS = (System.nanoTime() - t0) / 1e9;
      if (!comp.decisions().equals(seq.decisions())) {
        throw new IllegalStateException("components and sequential disagree on " + corpus + " n=" + n);
      }
      log.printf(Locale.ROOT, "  %s n=%,d: components (%d threads) %.1f s, %,d pairs%n", corpus, n, threads, compS, comp.stats().pairs());
    }
    // exhaustive comparisons needed: for each text, the number of kept texts before it
    long comparisons = 0;
    int keptSoFar = 0;
    for (GreedyRougeFilter.Decision d : seq.decisions()) {
      comparisons += keptSoFar;
      if (d.kept()) {
        keptSoFar++;
      }
    }
    // the exhaustive loop, capped
    Map<String, Integer> vocab = new HashMap<>();
    List<int[]> ids = new ArrayList<>(n);
    for (List<String> tokens : texts) {
      int[] a = new int[tokens.size()];
      for (int i = 0; i < a.length; i++) {
        a[i] = vocab.computeIfAbsent(tokens.get(i), k -> vocab.size());
      }
      ids.add(a);
    }
    List<Integer> kept = new ArrayList<>();
    long done = 0;
    int j = 0;
    t0 = System.nanoTime();
    long cap = (long) (exhaustiveCapSeconds * 1e9);
    for (; j < n && System.nanoTime() - t0 < cap; j++) {
      boolean drop = false;
      for (int i : kept) {
        done++;
        if (RougeL.fmeasure(Lcs.length(ids.get(j), ids.get(i)), ids.get(j).length, ids.get(i).length) > t) {
          drop = true;
        }
      }
      if (drop != !seq.decisions().get(j).kept()) {
        throw new IllegalStateException("exhaustive and ours disagree at text " + j + " of " + corpus);
      }
      if (!drop) {
        kept.add(j);
      }
    }
    double exS = (System.nanoTime() - t0) / 1e9;
    boolean extrapolated = j < n;
    double exTotal = extrapolated ? exS * comparisons / Math.max(1, done) : exS;
    log.printf(Locale.ROOT, "  %s n=%,d: exhaustive %s %.1f s (%,d of %,d comparisons in %.1f s, %,d texts)%n", corpus, n,
        extrapolated ? "~" : "", exTotal, done, comparisons, exS, j);
    return new Row(corpus, n, seq.kept().size(), seqS, seq.stats().verifications(), seq.stats().candidates(), compS,
        comparisons, exTotal, extrapolated, j, heap);
  }

  /**
   * A large instruction list composed from real ones: the base texts in order, then copies with
   * controlled word edits (deletions, swaps, insertions of words from other texts), seeded.
   */
  public static List<String> compose(List<String> base, int size, long seed) {
    List<String> out = new ArrayList<>(size);
    compose(base, size, seed, (text, i) -> out.add(text));
    return out;
  }

  /** What {@link #compose(List, int, long)} lists, handed out one by one with its ordinal. */
  public static void compose(List<String> base, int size, long seed, java.util.function.ObjIntConsumer<String> out) {
    Random r = new Random(seed);
    for (int i = 0; i < size; i++) {
      String b = base.get(i % base.size());
      if (i < base.size()) {
        out.accept(b, i);
        continue;
      }
      String[] w = b.split("\\s+");
      List<String> words = new ArrayList<>(List.of(w));
      int edits = 1 + r.nextInt(Math.max(1, words.size() / 3));
      for (int e = 0; e < edits && !words.isEmpty(); e++) {
        int op = r.nextInt(3);
        int at = r.nextInt(words.size());
        String[] donor = base.get(r.nextInt(base.size())).split("\\s+");
        if (op == 0) {
          words.remove(at);
        } else if (op == 1) {
          words.set(at, donor[r.nextInt(donor.length)]);
        } else {
          words.add(at, donor[r.nextInt(donor.length)]);
        }
      }
      out.accept(String.join(" ", words), i);
    }
  }

  /**
   * Writes {@code size} records as JSON Lines to {@code file}: the instructions of {@link #compose}
   * over the records of {@code corpora} (files or folders, in order), each with the input and output
   * of the record its instruction was composed from.
   */
  public static void composeRecords(List<Path> corpora, int size, long seed, Path file) throws IOException {
    List<io.instructflow.schemas.Example> base = new ArrayList<>();
    for (Path p : corpora) {
      base.addAll(BenchData.examples(p, true));
    }
    List<String> texts = new ArrayList<>(base.size());
    base.forEach(e -> texts.add(e.instructionText()));
    try (java.io.Writer w = java.nio.file.Files.newBufferedWriter(file, java.nio.charset.StandardCharsets.UTF_8)) {
      java.io.IOException[] failed = {null};
      compose(texts, size, seed, (text, i) -> {
        if (failed[0] != null) {
          return;
        }
        io.instructflow.schemas.Example b = base.get(i % base.size());
        java.util.Map<String, Object> row = new java.util.LinkedHashMap<>();
        row.put("instruction", text);
        row.put("input", b.input() == null ? "" : b.input());
        row.put("output", b.output() == null ? "" : b.output());
        try {
          w.write(io.instructflow.schemas.Json.line(row));
          w.write('\n');
        } catch (java.io.IOException e) {
          failed[0] = e;
        }
      });
      if (failed[0] != null) {
        throw failed[0];
      }
    }
  }
}
