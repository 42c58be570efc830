package io.instructflow.filters.rouge;

/**
 * Exact pruning bounds for "ROUGE-L F > t".
 *
 * <p>Why they never prune a pair the reference would drop: for a candidate of m tokens and an earlier
 * text of n tokens with LCS length L, {@link RougeL#fmeasure} computes 2PR/(P+R), which equals
 * 2L/(m+n) up to a few units in the last place (four roundings of values ≤ 2). So a computed F > t
 * implies 2L/(m+n) > t − δ with δ < 1e-15, i.e. L > t(m+n)/2 − ε for the slack ε used here
 * (1e-9 plus 1e-12 per token, far above δ·(m+n)/2 and far below the 1/(m+n) gap between distinct
 * ratios, so nothing is loosened beyond the float boundary cases). Since L ≤ min(m, n) and L is at most
 * the multiset overlap of the two token bags, every pair the reference drops has
 * {@code min(m,n) ≥ t(m+n)/2 − ε} (the length bound) and {@code overlap ≥ ⌈t(m+n)/2 − ε⌉} (the overlap
 * bound). Candidate search asks only for texts meeting both and verifies each with the exact F.
 */
public final class Bounds {
  private Bounds() {}

  static double slack(int m, int n) {
    return 1e-9 + 1e-12 * (m + n);
  }

  /** The least multiset overlap (hence LCS) a pair of lengths m, n needs for F > t. */
  public static int minOverlap(int m, int n, double t) {
    return Math.max(1, (int) Math.ceil(t * (m + n) / 2 - slack(m, n)));
  }

  /** Whether lengths m and n can reach F > t at all. */
  public static boolean lengthsCompatible(int m, int n, double t) {
    return Math.min(m, n) >= minOverlap(m, n, t);
  }

  /** Smallest earlier length n that {@link #lengthsCompatible} with candidate length m (a lower bound). */
  public static int minLength(int m, double t) {
    return Math.max(1, (int) Math.floor((t * m - 2 * slack(m, m)) / (2 - t)) - 1);
  }

  /** Largest earlier length n that {@link #lengthsCompatible} with candidate length m (an upper bound). */
  public static int maxLength(int m, double t) {
    double hi = (m * (2 - t) + 2 * slack(m, 4 * m)) / t;
    return hi >= Integer.MAX_VALUE - 1 ? Integer.MAX_VALUE : (int) Math.ceil(hi) + 1;
  }
}
