package io.instructflow.pipelines.stage;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.util.List;
import java.util.TreeMap;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.junit.Rule;
import org.junit.Test;

/**
 * {@link ApplyFilters} and {@link StageResult} on Beam's runner: each record lands in exactly one of
 * kept and filtered with the step the chain's settings give it, English and Chinese alike, and two
 * stages chained with {@link StageResult#then} carry the first stage's drops along.
 */
public class ApplyFiltersTest {
  @Rule public final transient TestPipeline p = TestPipeline.create();

  static final List<String> TEXTS = List.of(
      "Write a short poem about the sea at night.",
      "Hi",
      "把下面这句话翻译成英文：今天天气很好，我们去公园散步吧。",
      "Summarize the following article in three sentences for a busy reader.",
      "?",
      "请列出三种常见的排序算法，并说明它们的时间复杂度。");

  static List<KV<OrderKey, Example>> records() {
    return StageRecords.of(TEXTS, "An answer of a few words here.");
  }

  static FilterChain chain(String filters) {
    return FilterChain.parse("{\"name\":\"t\",\"filters\":[" + filters + "]}", "test");
  }

  /** The chain's verdict for each record, computed without Beam ({@code kept} or the drop reason). */
  static TreeMap<Long, String> expected(FilterChain chain) {
    TreeMap<Long, String> m = new TreeMap<>();
    for (KV<OrderKey, Example> kv : records()) {
      m.put(kv.getKey().position(), code(chain.run(kv.getValue()).verdict()));
    }
    return m;
  }

  static String code(Verdict v) {
    return v instanceof Verdict.Dropped d ? d.reason() : "kept";
  }

  static Step filterStep(Example e) {
    List<Step> steps = e.provenance().steps();
    assertFalse("a filter step", steps.isEmpty());
    Step s = steps.get(steps.size() - 1);
    assertEquals(ApplyFilters.STEP, s.name());
    return s;
  }

  @Test
  public void everyRecordEndsKeptOrFilteredWithTheChainsVerdict() {
    FilterChain chain = chain("{\"type\":\"length\",\"field\":\"instruction\",\"minChars\":5}");
    TreeMap<Long, String> want = expected(chain);
    assertTrue("the data has drops", want.values().stream().anyMatch(v -> !v.equals("kept")));
    assertTrue("and keeps", want.containsValue("kept"));
    ApplyFilters stage = ApplyFilters.of(chain);
    assertTrue(stage.stampsPassing());
    assertEquals(chain.asMap(), stage.params());
    StageResult r = p.apply(Create.of(records()).withCoder(StageResult.RECORDS)).apply("Filters", stage);
    PAssert.that(r.kept()).satisfies(kept -> {
      for (KV<OrderKey, Example> kv : kept) {
        Step s = filterStep(kv.getValue());
        assertEquals(want.get(kv.getKey().position()), code(s.verdict()));
        assertTrue(s.verdict() instanceof Verdict.Kept);
        assertEquals(stage.params().keySet(), s.parameters().keySet());
      }
      return null;
    });
    PAssert.that(r.filtered()).satisfies(dropped -> {
      int n = 0;
      for (KV<OrderKey, Example> kv : dropped) {
        Step s = filterStep(kv.getValue());
        assertEquals(want.get(kv.getKey().position()), code(s.verdict()));
        assertEquals("length.too_few_chars", ((Verdict.Dropped) s.verdict()).reason());
        n++;
      }
      assertEquals(want.values().stream().filter(v -> !v.equals("kept")).count(), n);
      return null;
    });
    PAssert.that(r.rejects()).empty();
    p.run().waitUntilFinish();
  }

  @Test
  public void anOrderedChainPassesRecordsOnWithoutAStep() {
    FilterChain chain = chain("{\"type\":\"length\",\"field\":\"instruction\",\"minChars\":5},{\"type\":\"rouge_l\"}");
    ApplyFilters stage = ApplyFilters.of(chain);
    assertFalse("the ROUGE-L rule still decides passing records", stage.stampsPassing());
    StageResult r = p.apply(Create.of(records()).withCoder(StageResult.RECORDS)).apply("Filters", stage);
    PAssert.that(r.kept()).satisfies(kept -> {
      for (KV<OrderKey, Example> kv : kept) {
        assertTrue("no step yet", kv.getValue().provenance().steps().isEmpty());
      }
      return null;
    });
    p.run().waitUntilFinish();
  }

  @Test
  public void chainedStagesCarryEveryDropAlong() {
    FilterChain first = chain("{\"type\":\"length\",\"field\":\"instruction\",\"minChars\":5}");
    FilterChain second = chain("{\"type\":\"length\",\"field\":\"instruction\",\"maxChars\":40}");
    long firstDrops = expected(first).values().stream().filter(v -> !v.equals("kept")).count();
    StageResult r = StageResult.keptAll("Input", p.apply(Create.of(records()).withCoder(StageResult.RECORDS)))
        .then("First", ApplyFilters.of(first))
        .then("Second", ApplyFilters.of(second));
    PAssert.that(r.filtered()).satisfies(dropped -> {
      int byFirst = 0;
      int bySecond = 0;
      for (KV<OrderKey, Example> kv : dropped) {
        String f = ((Verdict.Dropped) filterStep(kv.getValue()).verdict()).reason();
        if (f.equals("length.too_few_chars")) {
          byFirst++;
        } else {
          assertEquals("length.too_many_chars", f);
          bySecond++;
        }
      }
      assertEquals(firstDrops, byFirst);
      assertTrue("the second chain drops the long English texts", bySecond > 0);
      return null;
    });
    PAssert.that(r.kept()).satisfies(kept -> {
      int n = 0;
      for (KV<OrderKey, Example> kv : kept) {
        assertEquals("both steps", 2, kv.getValue().provenance().steps().size());
        n++;
      }
      assertTrue(n > 0);
      return null;
    });
    PCollection<Long> all = PCollectionList.of(r.kept()).and(r.filtered()).apply("Both", Flatten.pCollections())
        .apply("CountBoth", Count.globally());
    PAssert.thatSingleton(all).isEqualTo((long) TEXTS.size());
    p.run().waitUntilFinish();
  }
}
