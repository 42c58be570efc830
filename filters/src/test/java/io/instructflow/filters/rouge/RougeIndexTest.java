package io.instructflow.filters.rouge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The index's answers against a direct computation, for queries interleaved with adds, so that
 * every query sees several Lucene segments plus texts not yet visible to Lucene.
 */
class RougeIndexTest {
  private static List<Match> direct(List<List<String>> indexed, List<String> query, int limit, double t) {
    Map<String, Integer> vocab = new HashMap<>();
    int[] q = ids(query, vocab);
    List<Match> out = new ArrayList<>();
    for (int o = 0; o < limit; o++) {
      double f = RougeL.fmeasure(q, ids(indexed.get(o), vocab));
      if (f > t) {
        out.add(new Match(o, f));
      }
    }
    return out;
  }

  private static int[] ids(List<String> tokens, Map<String, Integer> vocab) {
    int[] a = new int[tokens.size()];
    for (int i = 0; i < a.length; i++) {
      a[i] = vocab.computeIfAbsent(tokens.get(i), k -> vocab.size());
    }
    return a;
  }

  @Test
  void matchesAndBestAgreeWithDirectComputationAcrossRefreshes() throws Exception {
    for (long seed = 1; seed <= 6; seed++) {
      Random r = new Random(seed);
      List<List<String>> texts = GreedyRougeFilterTest.randomTexts(r, 500);
      for (double t : new double[] {0.5, 0.7}) {
        List<List<String>> added = new ArrayList<>();
        int matched = 0;
        try (RougeIndex index = new RougeIndex(t, 7)) {
          for (List<String> text : texts) {
            int limit = added.isEmpty() ? 0 : r.nextInt(added.size() + 1);
            List<Match> expected = direct(added, text, limit, t);
            assertEquals(expected, index.matches(text, limit), "matches, seed " + seed + " t=" + t);
            Match best = null;
            for (Match m : expected) {
              if (best == null || m.betterThan(best)) {
                best = m;
              }
            }
            assertEquals(best, index.best(text, limit), "best, seed " + seed + " t=" + t);
            matched += expected.isEmpty() ? 0 : 1;
            index.add(text);
            added.add(text);
          }
        }
        assertTrue(matched > 50, "the random texts have near copies: " + matched);
      }
    }
  }
}
