package io.instructflow.filters.rouge;

/**
 * ROUGE-L F-measure exactly as Google's {@code rouge_score} computes it, in double precision:
 * {@code P = LCS / len(earlier)}, {@code R = LCS / len(candidate)},
 * {@code F = 2 * P * R / (P + R)} evaluated left to right, 0 when either side has no tokens.
 *
 * <p>The exact float result matters at the boundary: mathematically {@code F = 2·LCS/(m+n)}, but where
 * that is exactly 0.7 the computed value can land on either side (8 vs 12 tokens with LCS 7 gives
 * 0.7000000000000001, which the reference drops at t = 0.7; 10 vs 10 with LCS 7 gives 0.7, kept).
 */
public final class RougeL {
  private RougeL() {}

  /** F-measure from an LCS length and the two lengths. */
  public static double fmeasure(int lcs, int candidateLength, int earlierLength) {
    if (candidateLength == 0 || earlierLength == 0) {
      return 0.0;
    }
    double precision = (double) lcs / earlierLength;
    double recall = (double) lcs / candidateLength;
    if (precision + recall > 0) {
      return 2 * precision * recall / (precision + recall);
    }
    return 0.0;
  }

  /** F-measure of two token-id sequences: the candidate, and an earlier text it is compared with. */
  public static double fmeasure(int[] candidate, int[] earlier) {
    return fmeasure(Lcs.length(candidate, earlier), candidate.length, earlier.length);
  }
}
