package io.instructflow.filters.rouge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class RougeLTest {
  @Test
  void boundaryValuesMatchTheReferenceFloats() {
    // 2·LCS/(m+n) = 0.7 exactly in both cases; the float result decides
    assertEquals(0.7000000000000001, RougeL.fmeasure(7, 8, 12));
    assertTrue(RougeL.fmeasure(7, 8, 12) > 0.7, "dropped by the reference");
    assertEquals(0.7, RougeL.fmeasure(7, 10, 10));
    assertTrue(!(RougeL.fmeasure(7, 10, 10) > 0.7), "kept by the reference");
    assertEquals(0.0, RougeL.fmeasure(0, 5, 5));
    assertEquals(0.0, RougeL.fmeasure(0, 0, 5));
    assertEquals(1.0, RougeL.fmeasure(4, 4, 4));
  }

  @Test
  void sequencesGiveTheSameFloats() {
    int[] cand = {1, 2, 3, 4, 5, 6, 7, 8};
    int[] earlier = {1, 2, 3, 4, 5, 6, 7, 20, 21, 22, 23, 24};
    assertEquals(0.7000000000000001, RougeL.fmeasure(cand, earlier));
    assertEquals(0.0, RougeL.fmeasure(new int[0], earlier));
  }

  @Test
  void bitParallelLcsEqualsTheDynamicProgram() {
    long seed = 20261125L;
    Random r = new Random(seed);
    for (int iter = 0; iter < 3000; iter++) {
      int alphabet = 1 + r.nextInt(iter % 3 == 0 ? 3 : 40);
      int[] a = random(r, r.nextInt(iter % 10 == 0 ? 300 : 70), alphabet);
      int[] b = random(r, r.nextInt(iter % 10 == 0 ? 300 : 70), alphabet);
      assertEquals(Lcs.lengthDp(a, b), Lcs.length(a, b), "seed " + seed + " iteration " + iter);
      assertEquals(Lcs.length(a, b), Lcs.length(b, a));
    }
  }

  @Test
  void boundsNeverExcludeAPairAboveTheThreshold() {
    for (double t : new double[] {0.3, 0.5, 0.7, 0.7000000000000001, 0.9, 1.0}) {
      for (int m = 1; m <= 120; m++) {
        for (int n = 1; n <= 240; n++) {
          for (int lcs = 0; lcs <= Math.min(m, n); lcs++) {
            if (RougeL.fmeasure(lcs, m, n) > t) {
              assertTrue(lcs >= Bounds.minOverlap(m, n, t), "overlap bound t=" + t + " m=" + m + " n=" + n + " L=" + lcs);
              assertTrue(Bounds.lengthsCompatible(m, n, t), "length bound t=" + t + " m=" + m + " n=" + n);
              assertTrue(n >= Bounds.minLength(m, t) && n <= Bounds.maxLength(m, t), "length range t=" + t + " m=" + m + " n=" + n);
            }
          }
        }
      }
    }
  }

  private static int[] random(Random r, int len, int alphabet) {
    int[] a = new int[len];
    for (int i = 0; i < len; i++) {
      a[i] = r.nextInt(alphabet);
    }
    return a;
  }
}
