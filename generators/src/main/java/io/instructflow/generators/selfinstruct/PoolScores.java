package io.instructflow.generators.selfinstruct;

import io.instructflow.filters.rouge.Lcs;
import io.instructflow.filters.rouge.RougeL;
import io.instructflow.filters.rouge.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The ROUGE-L F of a task against every instruction of a growing pool, for the kept-task metadata
 * ({@link Similarity}). Unlike the gate, which needs only the best match above the threshold and asks
 * the Lucene index for it, the mean needs every score, so this is the references' all-pairs loop: one
 * bit-parallel LCS ({@link Lcs}) per pool instruction, with the task's token masks built once.
 */
final class PoolScores {
  private final Tokenizer tokenizer;
  private final Map<String, Integer> ids = new HashMap<>();
  private final List<int[]> tokens = new ArrayList<>();
  private final List<String> texts = new ArrayList<>();
  /** Token id to the task's mask row, -1 when the task does not have the token; reset after each task. */
  private int[] row = new int[0];

  PoolScores(Tokenizer tokenizer, List<String> pool) {
    this.tokenizer = tokenizer;
    pool.forEach(this::add);
  }

  /** Adds an instruction to the pool. */
  void add(String text) {
    tokens.add(ids(tokenizer.tokens(text)));
    texts.add(text);
  }

  private int[] ids(List<String> toks) {
    int[] out = new int[toks.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = ids.computeIfAbsent(toks.get(i), k -> ids.size());
    }
    return out;
  }

  /** The task's scores against the pool as it is now. */
  Similarity score(String text) {
    int[] task = ids(tokenizer.tokens(text));
    int n = texts.size();
    double[] f = new double[n];
    if (task.length > 0) {
      if (row.length < ids.size()) {
        int old = row.length;
        row = Arrays.copyOf(row, Math.max(ids.size(), 2 * old));
        Arrays.fill(row, old, row.length, -1);
      }
      int words = (task.length + 63) >>> 6;
      List<long[]> masks = new ArrayList<>();
      for (int i = 0; i < task.length; i++) {
        if (row[task[i]] < 0) {
          row[task[i]] = masks.size();
          masks.add(new long[words]);
        }
        masks.get(row[task[i]])[i >>> 6] |= 1L << (i & 63);
      }
      long[] v = new long[words];
      for (int k = 0; k < n; k++) {
        f[k] = RougeL.fmeasure(lcs(task.length, tokens.get(k), masks, v), task.length, tokens.get(k).length);
      }
      for (int t : task) {
        row[t] = -1;
      }
    }
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    // by score, highest first; ties in pool order (the sort is stable)
    Arrays.sort(order, (a, b) -> Double.compare(f[b], f[a]));
    List<Similarity.Similar> top = new ArrayList<>();
    for (int i = 0; i < Math.min(Similarity.TOP, n); i++) {
      top.add(new Similarity.Similar(texts.get(order[i]), f[order[i]]));
    }
    double sum = 0;
    for (double x : f) {
      sum += x;
    }
    return new Similarity(top, n == 0 ? 0 : sum / n);
  }

  /** LCS of the task (its masks, {@code m} tokens) and {@code other}. */
  private int lcs(int m, int[] other, List<long[]> masks, long[] v) {
    return Lcs.length(m, other, sym -> {
      int r = sym < row.length ? row[sym] : -1;
      return r < 0 ? null : masks.get(r);
    }, v);
  }
}
