package io.instructflow.pipelines.blend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.pipelines.io.OrderKey;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Quotas (weights, caps, upsampling, temperature, tokens, largest remainder) and the plan built on them. */
class QuotasTest {
  static Quotas.Input w(String name, long n, double weight) {
    return new Quotas.Input(name, n, weight, null, null, null, false, 10);
  }

  static List<Long> rows(Quotas.Result r) {
    List<Long> out = new ArrayList<>();
    r.quotas().forEach(q -> out.add(q.rows()));
    return out;
  }

  @Test
  void weightsShareTheTargetByLargestRemainder() {
    assertEquals(List.of(700L, 300L), rows(Quotas.compute(List.of(w("a", 5000, 0.7), w("b", 5000, 0.3)), 1000L, null, null)));
    // 1000 / 3 each: 333.33 -> floors 999, the one left goes to the first (ties to the earlier source)
    assertEquals(List.of(334L, 333L, 333L),
        rows(Quotas.compute(List.of(w("a", 5000, 1), w("b", 5000, 1), w("c", 5000, 1)), 1000L, null, null)));
    // 10 * (0.55, 0.25, 0.2) = 5.5, 2.5, 2: floors 9, the largest remainders are equal, so a gets it
    assertEquals(List.of(6L, 2L, 2L),
        rows(Quotas.compute(List.of(w("a", 99, 0.55), w("b", 99, 0.25), w("c", 99, 0.2)), 10L, null, null)));
  }

  @Test
  void aSourceAtItsLimitPassesTheRestOnByWeight() {
    Quotas.Result r = Quotas.compute(List.of(w("small", 100, 0.5), w("big", 5000, 0.3), w("mid", 5000, 0.2)), 1000L, null, null);
    assertEquals(List.of(100L, 540L, 360L), rows(r));
    assertEquals("size", r.quotas().get(0).limitedBy());
    Quotas.Result capped = Quotas.compute(List.of(new Quotas.Input("a", 5000, 0.7, null, null, 200L, false, 1), w("b", 5000, 0.3)),
        1000L, null, null);
    assertEquals(List.of(200L, 800L), rows(capped));
    assertEquals("cap", capped.quotas().get(0).limitedBy());
    Quotas.Result short_ = Quotas.compute(List.of(w("a", 100, 1), w("b", 50, 1)), 1000L, null, null);
    assertEquals(List.of(100L, 50L), rows(short_));
    assertTrue(short_.notes().get(0).contains("target 1,000 rows not reached"));
  }

  @Test
  void upsamplingRepeatsWholeSourcesThenTheRemainder() {
    Quotas.Result r = Quotas.compute(List.of(new Quotas.Input("a", 30, 1.0, null, null, null, true, 1), w("b", 5000, 1)), 200L,
        null, null);
    assertEquals(List.of(100L, 100L), rows(r));
    assertEquals(3, r.quotas().get(0).fullCopies());
    assertEquals(10, r.quotas().get(0).remainder());
    assertEquals(0, r.quotas().get(1).fullCopies());
    assertEquals(100, r.quotas().get(1).remainder());
  }

  @Test
  void countsFractionsTemperatureAndTokens() {
    Quotas.Result mixed = Quotas.compute(List.of(new Quotas.Input("fixed", 1000, null, null, 150L, null, false, 1),
        new Quotas.Input("half", 400, null, 0.5, null, null, false, 1), w("rest", 9000, 1)), 1000L, null, null);
    assertEquals(List.of(150L, 200L, 650L), rows(mixed));
    // T = 2: weights sqrt(n) = 10 and 30 -> 25% and 75% of 400
    Quotas.Result t = Quotas.compute(List.of(new Quotas.Input("a", 100, null, null, null, null, false, 1),
        new Quotas.Input("b", 900, null, null, null, null, false, 1)), 400L, null, 2.0);
    assertEquals(List.of(100L, 300L), rows(t));
    assertEquals(10.0, t.quotas().get(0).weight(), 1e-9);
    // 10,000 tokens by equal weight: a has 10-token records (500 rows), b 50-token records (100 rows)
    Quotas.Result tok = Quotas.compute(List.of(new Quotas.Input("a", 5000, 1.0, null, null, null, false, 10),
        new Quotas.Input("b", 5000, 1.0, null, null, null, false, 50)), null, 10_000L, null);
    assertEquals(List.of(500L, 100L), rows(tok));
    assertThrows(IllegalArgumentException.class, () -> Quotas.compute(List.of(new Quotas.Input("a", 1000, null, null, 800L, null,
        false, 1), w("b", 100, 1)), 500L, null, null), "fixed counts over the target");
  }

  static List<BlendPlan.Item> items(int source, int n, String prefix) {
    List<BlendPlan.Item> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(new BlendPlan.Item(new OrderKey(source, i, 0), source, prefix + i, "f" + source + ":" + (i + 1),
          prefix + "-text-" + i, 10));
    }
    return out;
  }

  @Test
  void planSelectsByHashSplitsWholeRecordsAndIsOrderFree() {
    BlendSpec spec = BlendSpec.parse(io.instructflow.schemas.Json.tree(Map.of("target", 100, "seed", 7, "validation", 0.1,
        "sources", List.of(Map.of("path", "a", "weight", 3, "upsample", true), Map.of("path", "b", "weight", 1)))),
        java.nio.file.Path.of("/tmp"), "{}", "t");
    List<BlendPlan.Item> in = new ArrayList<>(items(0, 40, "a"));
    in.addAll(items(1, 200, "b"));
    in.add(new BlendPlan.Item(new OrderKey(1, 999, 0), 1, "dup", "f1:1000", "a-text-3", 10));
    BlendPlanReference.Plan p = BlendPlanReference.make(spec, in);
    List<BlendPlan.Item> shuffled = new ArrayList<>(in);
    java.util.Collections.shuffle(shuffled, new java.util.Random(1));
    assertEquals(p.decisions(), new HashMap<>(BlendPlanReference.make(spec, shuffled).decisions()), "input order does not matter");
    BlendPlan.Decision dup = p.decisions().get(new OrderKey(1, 999, 0));
    assertEquals("duplicate", dup.outcome());
    assertEquals("a3", dup.evidence().get("matched_id"));
    assertEquals("a", dup.evidence().get("matched_source"));
    long aRows = 0;
    long bRows = 0;
    long val = 0;
    for (BlendPlan.Decision d : p.decisions().values()) {
      if (d.outcome().equals("selected")) {
        if (d.source().equals("a")) {
          aRows += d.rows().size();
          assertTrue(d.rows().size() == 1 || d.rows().size() == 2, "75 rows of 40 records: 1 or 2 copies each");
        } else {
          bRows += d.rows().size();
        }
        val += d.split().equals("validation") ? 1 : 0;
      }
    }
    assertEquals(75, aRows);
    assertEquals(25, bRows);
    assertEquals(Math.round(0.1 * (40 + 25)), val, "10% of the distinct records");
    assertEquals(100L, p.splitRows().values().stream().mapToLong(Long::longValue).sum());
    BlendSpec other = BlendSpec.parse(io.instructflow.schemas.Json.tree(Map.of("target", 100, "seed", 8, "validation", 0.1,
        "sources", List.of(Map.of("path", "a", "weight", 3, "upsample", true), Map.of("path", "b", "weight", 1)))),
        java.nio.file.Path.of("/tmp"), "{}", "t");
    assertTrue(!p.decisions().equals(BlendPlanReference.make(other, in).decisions()), "another seed, another blend");
  }
}
