package io.instructflow.filters.dedup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.chain.GateInput;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Exact and MinHash dedup: normalization, evidence, agreement with the exhaustive greedy rule. */
class DedupRulesTest {
  static List<GateInput> inputs(List<String> texts) {
    List<GateInput> out = new ArrayList<>();
    for (int i = 0; i < texts.size(); i++) {
      out.add(new GateInput("id" + i, "in.jsonl:" + (i + 1), texts.get(i), texts.get(i), texts.get(i)));
    }
    return out;
  }

  @Test
  void exactDedupNormalizesCasePunctuationAndSpaces() {
    List<Verdict> v = new ExactDedup(false).apply(inputs(List.of("Name three rivers in Asia.", "name  THREE rivers, in asia!",
        "Name three rivers in Africa.", "写一首诗。", "写一首诗")));
    assertEquals(Verdict.KEPT, v.get(0));
    Verdict.Dropped d = (Verdict.Dropped) v.get(1);
    assertEquals(ExactDedup.REASON, d.reason());
    assertEquals("id0", d.details().get("matched_id"));
    assertEquals("in.jsonl:1", d.details().get("matched_location"));
    assertEquals(Verdict.KEPT, v.get(2));
    assertEquals(ExactDedup.REASON, ((Verdict.Dropped) v.get(4)).reason());
  }

  @Test
  void minHashDropsWhatTheExhaustiveGreedyRuleDrops() {
    Random r = new Random(11);
    String[] words = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
        + "upsilon phi chi psi omega river mountain city ocean forest desert").split(" ");
    List<String> texts = new ArrayList<>();
    for (int i = 0; i < 600; i++) {
      if (!texts.isEmpty() && r.nextInt(3) == 0) {
        String[] w = texts.get(r.nextInt(texts.size())).split(" ");
        w[r.nextInt(w.length)] = words[r.nextInt(words.length)];
        texts.add(String.join(" ", w));
      } else {
        StringBuilder b = new StringBuilder();
        for (int k = 0, n = 20 + r.nextInt(30); k < n; k++) {
          b.append(k == 0 ? "" : " ").append(words[r.nextInt(words.length)]);
        }
        texts.add(b.toString());
      }
    }
    MinHashDedup m = new MinHashDedup(5, 20, 5, 0.8, false);
    List<Verdict> got = m.apply(inputs(texts));
    // the exhaustive rule: each text against every earlier kept one, exact Jaccard
    List<Set<Long>> kept = new ArrayList<>();
    int drops = 0;
    int agree = 0;
    for (int i = 0; i < texts.size(); i++) {
      Set<Long> s = m.shingles(texts.get(i));
      boolean dup = false;
      for (Set<Long> k : kept) {
        if (MinHashDedup.jaccard(s, k) >= 0.8) {
          dup = true;
          break;
        }
      }
      if (!dup) {
        kept.add(s);
      }
      drops += dup ? 1 : 0;
      agree += dup == (got.get(i) instanceof Verdict.Dropped) ? 1 : 0;
    }
    assertTrue(drops > 30, "the data has near-duplicates: " + drops);
    assertEquals(texts.size(), agree, "LSH missed no pair at Jaccard >= 0.8 on this data, and verification never drops wrongly");
    for (Verdict v : got) {
      if (v instanceof Verdict.Dropped d) {
        assertTrue((double) d.details().get("jaccard") >= 0.8);
      }
    }
  }

  @Test
  void chainsOrderPerRecordFiltersThenDedupThenRouge() {
    FilterChain c = FilterChain.parse("{\"filters\":[{\"type\":\"code_fences\"},{\"type\":\"exact_dedup\"},"
        + "{\"type\":\"minhash_dedup\",\"threshold\":0.9},{\"type\":\"rouge_l\"}]}", "c.json");
    assertEquals(List.of("code_fences", "exact_dedup", "minhash_dedup", "rouge_l"), c.asMap().get("filters"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FilterChain.parse(
        "{\"filters\":[{\"type\":\"exact_dedup\"},{\"type\":\"code_fences\"}]}", "c.json"));
    assertTrue(e.getMessage().contains("per-record filters and llm_judge come before the dedup rules"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> FilterChain.parse(
        "{\"filters\":[{\"type\":\"minhash_dedup\",\"bands\":0}]}", "c.json"));
    assertThrows(IllegalArgumentException.class, () -> FilterChain.parse(
        "{\"filters\":[{\"type\":\"exact_dedup\",\"field\":\"output\"}]}", "c.json"));
  }

  @Test
  void componentsModeIsParsedAndMustComeFirst() {
    FilterChain c = FilterChain.parse("{\"filters\":[{\"type\":\"minhash_dedup\",\"mode\":\"components\",\"shingle\":3},"
        + "{\"type\":\"exact_dedup\"}]}", "t");
    MinHashComponents m = (MinHashComponents) c.components().orElseThrow();
    assertEquals(new MinHashDedup(3, 20, 5, 0.8, false), m.hashing());
    assertEquals(List.of(ExactDedup.TYPE), c.afterComponents().dedup().stream().map(r -> r.id()).toList());
    assertEquals(c.hash(), c.afterComponents().hash());
    assertTrue(FilterChain.parse("{\"filters\":[{\"type\":\"minhash_dedup\",\"mode\":\"ordered\"}]}", "t")
        .components().isEmpty());
    IllegalArgumentException late = assertThrows(IllegalArgumentException.class, () -> FilterChain.parse(
        "{\"filters\":[{\"type\":\"exact_dedup\"},{\"type\":\"minhash_dedup\",\"mode\":\"components\"}]}", "t"));
    assertTrue(late.getMessage().contains("must be the first dedup rule"), late.getMessage());
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> FilterChain.parse(
        "{\"filters\":[{\"type\":\"minhash_dedup\",\"mode\":\"greedy\"}]}", "t"));
    assertTrue(bad.getMessage().contains("mode must be ordered or components"), bad.getMessage());
  }

  /** A~B, B~C, A!~C: the ordered rule keeps A and C, the components rule keeps A and names it for B and C. */
  @Test
  void componentsDropAWholeChainWhereTheGreedyRuleKeepsItsEnds() {
    MinHashDedup h = new MinHashDedup(1, 40, 2, 0.6, true);
    List<GateInput> in = inputs(List.of("alpha beta gamma delta", "alpha beta gamma delta epsilon zeta", "gamma delta epsilon zeta",
        "写 一 首 诗", "写 一 首 诗"));
    List<Verdict> greedy = h.apply(in);
    assertEquals(List.of(true, false, true, true, false), greedy.stream().map(v -> v instanceof Verdict.Kept).toList());
    List<Verdict> comp = new MinHashComponents(h).apply(in);
    assertEquals(List.of(true, false, false, true, false), comp.stream().map(v -> v instanceof Verdict.Kept).toList());
    Verdict.Dropped c = (Verdict.Dropped) comp.get(2);
    assertEquals(MinHashDedup.TYPE, c.filter());
    assertEquals(MinHashComponents.REASON, c.reason());
    assertEquals("id0", c.details().get("matched_id"));
    assertEquals("in.jsonl:1", c.details().get("matched_location"));
    assertEquals(3L, c.details().get("component_size"));
    assertEquals("id3", ((Verdict.Dropped) comp.get(4)).details().get("matched_id"));
  }

  /** A bucket's links keep exactly the connectivity of all its verified pairs; copies join without comparisons. */
  @Test
  void linkJoinsCopiesAndVerifiedPairs() {
    MinHashComponents m = new MinHashComponents(new MinHashDedup(1, 4, 2, 0.5, true));
    List<long[]> sets = List.of(new long[] {1, 2, 3, 4}, new long[] {7, 8, 9}, new long[] {1, 2, 3, 5}, new long[] {1, 2, 3, 4},
        new long[] {}, new long[] {7, 8, 9, 10, 11, 12, 13}, new long[] {});
    assertEquals(List.of(0, 1, 0, 0, 4, 5, 4), java.util.Arrays.stream(m.link(sets)).boxed().toList());
  }
}
