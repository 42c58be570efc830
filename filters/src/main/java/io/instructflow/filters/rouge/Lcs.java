package io.instructflow.filters.rouge;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Length of the longest common subsequence of two token-id sequences, bit-parallel: the shorter
 * sequence is a bit vector of {@code ceil(m/64)} words, and each token of the longer one updates it
 * with one add and a few logical operations per word ({@code V' = (V + (V & M)) | (V & ~M)}, Crochemore
 * et al. / Hyyrö). O(n·m/64) instead of the O(n·m) dynamic program, with identical results.
 */
public final class Lcs {
  private Lcs() {}

  /** LCS length of {@code a} and {@code b}. */
  public static int length(int[] a, int[] b) {
    if (a.length == 0 || b.length == 0) {
      return 0;
    }
    int[] p = a.length <= b.length ? a : b;
    int[] t = p == a ? b : a;
    int m = p.length;
    int words = (m + 63) >>> 6;
    Map<Integer, long[]> masks = new HashMap<>();
    for (int i = 0; i < m; i++) {
      masks.computeIfAbsent(p[i], k -> new long[words])[i >>> 6] |= 1L << (i & 63);
    }
    return length(m, t, masks::get, new long[words]);
  }

  /**
   * LCS length of a pattern of {@code m} tokens and {@code text}, from the pattern's bit masks:
   * {@code maskOf} gives the {@code ceil(m/64)}-word mask of a token's positions in the pattern, or null
   * for a token it does not have. {@code v} is scratch space of that many words. For callers that
   * score one pattern against many texts and build its masks once.
   */
  public static int length(int m, int[] text, IntFunction<long[]> maskOf, long[] v) {
    int words = v.length;
    Arrays.fill(v, -1L);
    for (int sym : text) {
      long[] mk = maskOf.apply(sym);
      if (mk == null) {
        continue;
      }
      long carry = 0;
      for (int w = 0; w < words; w++) {
        long vw = v[w];
        long u = vw & mk[w];
        long sum = vw + u;
        long s2 = sum + carry;
        // carry out of (vw + u + carry), as unsigned 64-bit arithmetic
        carry = (Long.compareUnsigned(sum, vw) < 0 || Long.compareUnsigned(s2, sum) < 0) ? 1 : 0;
        v[w] = s2 | (vw & ~mk[w]);
      }
    }
    int zeros = 0;
    for (int w = 0; w < words; w++) {
      long vw = v[w];
      if (w == words - 1 && (m & 63) != 0) {
        vw |= -1L << (m & 63);
      }
      zeros += Long.bitCount(~vw);
    }
    return zeros;
  }

  /** The textbook O(n·m) dynamic program; the reference the fast version is tested against. */
  public static int lengthDp(int[] a, int[] b) {
    int[] prev = new int[b.length + 1];
    int[] cur = new int[b.length + 1];
    for (int i = 1; i <= a.length; i++) {
      for (int j = 1; j <= b.length; j++) {
        cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
      }
      int[] tmp = prev;
      prev = cur;
      cur = tmp;
    }
    return prev[b.length];
  }
}
