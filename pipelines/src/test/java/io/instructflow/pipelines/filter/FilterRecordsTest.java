package io.instructflow.pipelines.filter;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.rouge.RougeGate;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OrderedPass;
import io.instructflow.pipelines.stage.ApplyFilters;
import io.instructflow.pipelines.stage.DecideGlobally;
import io.instructflow.pipelines.stage.StageRecords;
import io.instructflow.pipelines.stage.StageResult;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.KV;
import org.junit.Rule;
import org.junit.Test;

/**
 * {@link FilterRecords} as a stage: the ROUGE-L rule as a {@link DecideGlobally} decision over every
 * record in one place decides exactly what the chain decides in a plain loop (English and Chinese,
 * with a pool), and a chain whose ordered rules stream says it needs an ordered pass and leaves its
 * passing records pending.
 */
public class FilterRecordsTest {
  @Rule public final transient TestPipeline p = TestPipeline.create();

  static final List<String> POOL = List.of("Explain how rainbows form after a summer storm.");
  static final List<String> TEXTS = List.of(
      "Write a short poem about the sea at night.",
      "Write a short poem about the sea at midnight.",         // near-duplicate of 1
      "Explain how rainbows form after a summer storm today.",  // near-duplicate of the pool text
      "请列出三种常见的排序算法并说明它们的时间复杂度",
      "请列出三种常见的排序算法并说明它们的空间复杂度",              // near-duplicate of 4 (unicode tokens)
      "Hi");                                                    // too short for the length filter

  static List<KV<OrderKey, Example>> records() {
    return StageRecords.of(TEXTS, "An answer.");
  }

  static final FilterChain CHAIN = FilterChain.parse("{\"name\":\"t\",\"filters\":[{\"type\":\"length\",\"field\":"
      + "\"instruction\",\"minChars\":5},{\"type\":\"rouge_l\",\"threshold\":0.7,\"tokenizer\":\"unicode\"}]}", "test");

  static String code(Verdict v) {
    return v instanceof Verdict.Dropped d ? d.reason() : "kept";
  }

  @Test
  public void theRougeRuleDecidedOnceEqualsThePlainChain() {
    List<Example> plain = new ArrayList<>();
    records().forEach(kv -> plain.add(kv.getValue()));
    List<Verdict> want = CHAIN.apply(plain, POOL);
    TreeMap<Long, String> byLine = new TreeMap<>();
    for (int i = 0; i < want.size(); i++) {
      byLine.put(i + 1L, code(want.get(i)));
    }
    assertEquals(List.of("kept", RougeGate.REASON, RougeGate.REASON, "kept", RougeGate.REASON, "length.too_few_chars"),
        new ArrayList<>(byLine.values()));
    // the per-record filters first, then the ROUGE-L rule over the survivors as one global decision
    StageResult r = p.apply(Create.of(records()).withCoder(StageResult.RECORDS))
        .apply("Filters", ApplyFilters.of(CHAIN))
        .then("Rouge", DecideGlobally.once(new FilterRecords.GateRule(CHAIN, POOL), SerializableCoder.of(GateInput.class),
            JsonCoder.of(Verdict.class), DecideGlobally.Verdicts.of(ApplyFilters.STEP, ApplyFilters.STEP_VERSION, CHAIN.asMap())));
    PAssert.that(r.kept()).satisfies(kept -> {
      List<Long> lines = new ArrayList<>();
      for (KV<OrderKey, Example> kv : kept) {
        lines.add(kv.getKey().position());
        assertEquals(1, kv.getValue().provenance().steps().size());
      }
      lines.sort(null);
      assertEquals(List.of(1L, 4L), lines);
      return null;
    });
    PAssert.that(r.filtered()).satisfies(dropped -> {
      int n = 0;
      for (KV<OrderKey, Example> kv : dropped) {
        Verdict v = kv.getValue().provenance().steps().get(0).verdict();
        assertEquals(byLine.get(kv.getKey().position()), code(v));
        assertEquals(ApplyFilters.STEP, kv.getValue().provenance().steps().get(0).name());
        n++;
      }
      assertEquals(4, n);
      return null;
    });
    p.run().waitUntilFinish();
  }

  @Test
  public void streamedOrderedRulesWaitForTheOrderedPass() {
    FilterRecords stage = FilterRecords.of(CHAIN).withPool(POOL);
    assertEquals(CHAIN.asMap(), stage.params());
    assertTrue("rouge_l streams", stage.needsOrderedPass());
    try (OrderedPass.Gate<?> gate = stage.orderedPass()) {
      assertTrue(gate instanceof FilterRecords.ChainGate);
    }
    StageResult r = p.apply(Create.of(records()).withCoder(StageResult.RECORDS)).apply("Filter", stage);
    assertTrue(r.pending());
    PAssert.that(r.kept()).satisfies(pending -> {
      int n = 0;
      for (KV<OrderKey, Example> kv : pending) {
        assertTrue("undecided: no step yet", kv.getValue().provenance().steps().isEmpty());
        n++;
      }
      assertEquals("all but the short one", 5, n);
      return null;
    });
    p.run().waitUntilFinish();
    FilterChain perRecord = FilterChain.parse("{\"name\":\"p\",\"filters\":[{\"type\":\"length\",\"field\":\"instruction\","
        + "\"minChars\":5}]}", "test");
    assertFalse(FilterRecords.of(perRecord).needsOrderedPass());
    assertThrows(IllegalArgumentException.class, () -> FilterRecords.of(perRecord).withPool(POOL));
    assertThrows(UnsupportedOperationException.class, () -> FilterRecords.of(perRecord).orderedPass());
  }
}
