package io.instructflow.filters.rouge;

import io.instructflow.filters.dedup.UnionFind;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The Self-Instruct / Alpaca near-duplicate rule: go through texts in order and drop one whose ROUGE-L
 * F against any earlier <em>kept</em> text is above t; keep it otherwise.
 *
 * <p>Three implementations with identical results (tested against each other):
 * <ul>
 *   <li>{@link #bruteForce}: the reference loop, every pair, O(N²) LCS computations;
 *   <li>{@link #sequential}: the same loop, with candidates from an incremental {@link RougeIndex};
 *   <li>{@link #viaComponents}: the distributable form. All similar pairs (i &lt; j, F > t) are found
 *       independently per text against a static index, in parallel. The greedy decision for j depends only
 *       on the decisions of texts linked to j by such pairs, so the rule runs per connected component of
 *       the pair graph, in global order, and the union of those runs equals the sequential run: a text with
 *       no pair is always kept, and within a component every decision sees exactly the earlier kept texts
 *       it is similar to, as in the sequential loop.
 * </ul>
 * A dropped text names the kept text it matched best (highest F, then earliest).
 */
public final class GreedyRougeFilter {
  /** How often {@link #sequential(List, double, java.util.function.LongConsumer)} reports progress. */
  public static final int PROGRESS_EVERY = 10_000;

  private GreedyRougeFilter() {}

  /**
   * The decision for one text.
   *
   * @param kept whether the text is kept
   * @param matched for a dropped text, the ordinal of the kept text it matched best; -1 when kept
   * @param score that match's F; 0 when kept
   */
  public record Decision(boolean kept, int matched, double score) {
    static final Decision KEEP = new Decision(true, -1, 0);
  }

  /** Work counters of a run. */
  public record Stats(long candidates, long verifications, long pairs) {}

  /** The result of a run: one decision per text, in input order, and the work it took. */
  public record Result(List<Decision> decisions, Stats stats) {
    /** Ordinals of the kept texts. */
    public List<Integer> kept() {
      List<Integer> out = new ArrayList<>();
      for (int i = 0; i < decisions.size(); i++) {
        if (decisions.get(i).kept()) {
          out.add(i);
        }
      }
      return out;
    }
  }

  /** The reference: every text against every earlier kept text. */
  public static Result bruteForce(List<List<String>> texts, double t) {
    List<int[]> ids = new ArrayList<>();
    java.util.Map<String, Integer> vocab = new java.util.HashMap<>();
    for (List<String> tokens : texts) {
      int[] a = new int[tokens.size()];
      for (int i = 0; i < a.length; i++) {
        a[i] = vocab.computeIfAbsent(tokens.get(i), k -> vocab.size());
      }
      ids.add(a);
    }
    List<Decision> out = new ArrayList<>(texts.size());
    List<Integer> kept = new ArrayList<>();
    long verifications = 0;
    for (int j = 0; j < ids.size(); j++) {
      Match best = null;
      for (int i : kept) {
        verifications++;
        double f = RougeL.fmeasure(ids.get(j), ids.get(i));
        if (f > t) {
          Match m = new Match(i, f);
          if (best == null || m.betterThan(best)) {
            best = m;
          }
        }
      }
      if (best == null) {
        kept.add(j);
        out.add(Decision.KEEP);
      } else {
        out.add(new Decision(false, best.ordinal(), best.score()));
      }
    }
    return new Result(out, new Stats(verifications, verifications, 0));
  }

  /** The reference loop with an incremental index of kept texts. */
  public static Result sequential(List<List<String>> texts, double t) {
    return sequential(texts, t, done -> {});
  }

  /**
   * The reference loop with an incremental index of kept texts; {@code progress} is told the number
   * of texts decided every {@value #PROGRESS_EVERY} texts and at the end.
   */
  public static Result sequential(List<List<String>> texts, double t, java.util.function.LongConsumer progress) {
    List<Decision> out = new ArrayList<>(texts.size());
    List<Integer> keptOrdinals = new ArrayList<>();
    try (RougeIndex index = new RougeIndex(t, 256)) {
      for (List<String> tokens : texts) {
        Match best = index.best(tokens, index.size());
        if (best == null) {
          keptOrdinals.add(out.size());
          index.add(tokens);
          out.add(Decision.KEEP);
        } else {
          int original = keptOrdinals.get(best.ordinal());
          out.add(new Decision(false, original, best.score()));
        }
        if (out.size() % PROGRESS_EVERY == 0) {
          progress.accept(PROGRESS_EVERY);
        }
      }
      progress.accept(out.size() % PROGRESS_EVERY);
      return new Result(out, new Stats(index.candidateCount(), index.verificationCount(), 0));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /**
   * All pairs (i, j) with i &lt; j and F(j against i) > t, found with {@code threads} threads over a static
   * index; {@code pairs[j]} lists j's earlier similar texts with their scores.
   */
  public static List<List<Match>> similarPairs(List<List<String>> texts, double t, int threads, long[] work) {
    try (RougeIndex index = new RougeIndex(t, Integer.MAX_VALUE)) {
      for (List<String> tokens : texts) {
        index.add(tokens);
      }
      index.optimize();
      List<List<Match>> pairs = new ArrayList<>(texts.size());
      ExecutorService pool = Executors.newFixedThreadPool(Math.max(1, threads));
      try {
        List<Future<List<Match>>> futures = new ArrayList<>(texts.size());
        for (int j = 0; j < texts.size(); j++) {
          final int jj = j;
          futures.add(pool.submit(() -> index.matches(texts.get(jj), jj)));
        }
        for (Future<List<Match>> f : futures) {
          pairs.add(f.get());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted", e);
      } catch (ExecutionException e) {
        throw new IllegalStateException(e.getCause());
      } finally {
        pool.shutdownNow();
      }
      if (work != null) {
        work[0] = index.candidateCount();
        work[1] = index.verificationCount();
      }
      return pairs;
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  /**
   * The greedy rule over precomputed pairs, per connected component in global order. {@code pairs[j]}
   * holds every earlier i with F > t (as {@link #similarPairs} returns).
   */
  public static List<Decision> decide(List<List<Match>> pairs) {
    int n = pairs.size();
    int[] parent = new int[n];
    Arrays.setAll(parent, i -> i);
    for (int j = 0; j < n; j++) {
      for (Match m : pairs.get(j)) {
        UnionFind.union(parent, m.ordinal(), j);
      }
    }
    // group members by component root, in global order
    List<List<Integer>> members = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      members.add(null);
    }
    for (int j = 0; j < n; j++) {
      int r = UnionFind.find(parent, j);
      if (members.get(r) == null) {
        members.set(r, new ArrayList<>());
      }
      members.get(r).add(j);
    }
    Decision[] out = new Decision[n];
    boolean[] kept = new boolean[n];
    for (List<Integer> component : members) {
      if (component == null) {
        continue;
      }
      for (int j : component) {
        Match best = null;
        for (Match m : pairs.get(j)) {
          if (kept[m.ordinal()] && (best == null || m.betterThan(best))) {
            best = m;
          }
        }
        kept[j] = best == null;
        out[j] = best == null ? Decision.KEEP : new Decision(false, best.ordinal(), best.score());
      }
    }
    return Arrays.asList(out);
  }

  /** Similar pairs in parallel, then the greedy rule per component. */
  public static Result viaComponents(List<List<String>> texts, double t, int threads) {
    long[] work = new long[2];
    List<List<Match>> pairs = similarPairs(texts, t, threads, work);
    long pairCount = pairs.stream().mapToLong(List::size).sum();
    return new Result(decide(pairs), new Stats(work[0], work[1], pairCount));
  }
}
