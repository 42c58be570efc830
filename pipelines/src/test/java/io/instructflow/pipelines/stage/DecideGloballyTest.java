package io.instructflow.pipelines.stage;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Verdict;
import java.io.Serializable;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.SimpleFunction;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.junit.Rule;
import org.junit.Test;

/**
 * {@link DecideGlobally} on Beam's runner: a rule over every record at once (the first of each
 * normalized text lives, later copies name it), English and Chinese, lands each record in exactly one
 * of kept and filtered with the same bytes as the rule applied in a plain loop, in two separate runs;
 * a partial decider leaves the records it does not name to the route; a decider that forgets a record
 * fails the run; and a stage that waits for an ordered pass ends a chain.
 */
public class DecideGloballyTest {
  @Rule public final transient TestPipeline p = TestPipeline.create();
  @Rule public final transient TestPipeline again = TestPipeline.create();

  static final String STEP = "first_of_text";
  static final String REASON = "first_of_text.copy";

  static final List<String> TEXTS = List.of(
      "Write a short poem about the sea at night.",
      "write a  short poem about the sea at night.",          // copy of 1 (case, spaces)
      "你好，世界",                                              // fullwidth comma
      "你好,世界",                                               // copy of 3 under NFKC
      "请列出三种常见的排序算法，并说明它们的时间复杂度。",
      "Summarize the following article in three sentences.",
      "ＷＲＩＴＥ a short poem about the sea at night.",          // fullwidth Latin: copy of 1
      "请列出三种常见的排序算法,并说明它们的时间复杂度。");         // copy of 5

  static List<KV<OrderKey, Example>> records() {
    return StageRecords.of(TEXTS, "An answer.");
  }

  /** What the rule needs of a record: its input line and its normalized text. */
  record Item(long line, String text) implements Serializable {
    private static final long serialVersionUID = 1L;
  }

  /** The first record of each normalized text (NFKC, lower case, single spaces) lives; later ones name it. */
  static final class FirstOfText implements DecideGlobally.Rule<Item, Verdict> {
    private static final long serialVersionUID = 1L;

    @Override
    public Item item(OrderKey key, Example e) {
      String t = Normalizer.normalize(e.instructionText(), Normalizer.Form.NFKC).toLowerCase(Locale.ROOT);
      return new Item(key.position(), t.strip().replaceAll("\\s+", " "));
    }

    @Override
    public List<Verdict> decide(List<Item> items) {
      Map<String, Long> first = new HashMap<>();
      List<Verdict> out = new ArrayList<>();
      for (Item i : items) {
        Long seen = first.putIfAbsent(i.text(), i.line());
        out.add(seen == null ? Verdict.KEPT : new Verdict.Dropped(STEP, REASON, Map.of("first_line", seen)));
      }
      return out;
    }
  }

  static DecideGlobally.Verdicts route() {
    return DecideGlobally.Verdicts.of(STEP, "1", Map.of("normalization", "NFKC"));
  }

  static DecideGlobally<Verdict> stage() {
    return DecideGlobally.once(new FirstOfText(), SerializableCoder.of(Item.class), JsonCoder.of(Verdict.class), route());
  }

  /** A record as {@code line<TAB>json}, to compare whole outputs. */
  static final class AsLine extends SimpleFunction<KV<OrderKey, Example>, String> {
    private static final long serialVersionUID = 1L;

    @Override
    public String apply(KV<OrderKey, Example> kv) {
      return kv.getKey().position() + "\t" + Json.line(kv.getValue());
    }
  }

  /** The expected kept and filtered lines, by the rule in a plain loop without Beam. */
  static List<List<String>> reference() {
    FirstOfText rule = new FirstOfText();
    List<Item> items = new ArrayList<>();
    for (KV<OrderKey, Example> kv : records()) {
      items.add(rule.item(kv.getKey(), kv.getValue()));
    }
    List<Verdict> verdicts = rule.decide(items);
    List<String> kept = new ArrayList<>();
    List<String> filtered = new ArrayList<>();
    AsLine line = new AsLine();
    for (int i = 0; i < verdicts.size(); i++) {
      KV<OrderKey, Example> kv = records().get(i);
      String l = line.apply(KV.of(kv.getKey(), route().stamp(kv.getValue(), verdicts.get(i))));
      (verdicts.get(i) instanceof Verdict.Kept ? kept : filtered).add(l);
    }
    return List.of(kept, filtered);
  }

  private static void expectReference(Pipeline pipeline) {
    List<List<String>> want = reference();
    StageResult r = pipeline.apply(Create.of(records()).withCoder(StageResult.RECORDS)).apply("FirstOfText", stage());
    PAssert.that(r.kept().apply("KeptLines", MapElements.via(new AsLine()))).containsInAnyOrder(want.get(0));
    PAssert.that(r.filtered().apply("FilteredLines", MapElements.via(new AsLine()))).containsInAnyOrder(want.get(1));
    PAssert.that(r.rejects()).empty();
    PCollection<String> both = PCollectionList.of(r.kept()).and(r.filtered()).apply("Both", Flatten.pCollections())
        .apply("BothLines", MapElements.via(new AsLine()));
    List<String> all = new ArrayList<>(want.get(0));
    all.addAll(want.get(1));
    PAssert.that(both).containsInAnyOrder(all);
  }

  @Test
  public void everyRecordEndsOnceWithThePlainRulesVerdictInTwoRuns() {
    List<List<String>> want = reference();
    assertEquals("lines 1, 3, 5, 6 are the firsts", 4, want.get(0).size());
    assertEquals(TEXTS.size() - 4, want.get(1).size());
    assertTrue("a Chinese copy names its first", want.get(1).stream().anyMatch(l -> l.startsWith("4\t") && l.contains("\"first_line\":3")));
    assertTrue("fullwidth Latin is a copy", want.get(1).stream().anyMatch(l -> l.startsWith("7\t") && l.contains("\"first_line\":1")));
    assertEquals(STEP, stage().id());
    assertEquals(Map.of("normalization", "NFKC"), stage().params());
    expectReference(p);
    p.run().waitUntilFinish();
    expectReference(again);
    again.run().waitUntilFinish();
  }

  /** Drops every record with a Han character and names no other record. */
  static final class DropHan extends PTransform<PCollection<KV<OrderKey, Example>>, PCollection<KV<OrderKey, Verdict>>> {
    private static final long serialVersionUID = 1L;

    @Override
    public PCollection<KV<OrderKey, Verdict>> expand(PCollection<KV<OrderKey, Example>> records) {
      return records.apply("Han", ParDo.of(new HanFn())).setCoder(
          org.apache.beam.sdk.coders.KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Verdict.class)));
    }
  }

  static final class HanFn extends DoFn<KV<OrderKey, Example>, KV<OrderKey, Verdict>> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, OutputReceiver<KV<OrderKey, Verdict>> out) {
      if (kv.getValue().instructionText().codePoints().anyMatch(c -> Character.UnicodeScript.of(c) == Character.UnicodeScript.HAN)) {
        out.output(KV.of(kv.getKey(), new Verdict.Dropped("han", "han.present", Map.of())));
      }
    }
  }

  @Test
  public void aPartialDecisionPassesTheOthersOnAndAChainCarriesItsDrops() {
    StageResult r = StageResult.keptAll("Input", p.apply(Create.of(records()).withCoder(StageResult.RECORDS)))
        .then("Han", DecideGlobally.by(new DropHan(), DecideGlobally.Verdicts.of("han", "1", Map.of()).passingUnstamped())
            .withPartialDecisions())
        .then("FirstOfText", stage());
    PAssert.that(r.kept().apply("KeptLines", MapElements.via(new AsLine()))).satisfies(lines -> {
      List<String> got = new ArrayList<>();
      lines.forEach(l -> got.add(l.substring(0, l.indexOf('\t'))));
      got.sort(null);
      assertEquals("the English firsts", List.of("1", "6"), got);
      for (String l : lines) {
        assertTrue("only the second stage's step", !l.contains("\"han\"") && l.contains("\"" + STEP + "\""));
      }
      return null;
    });
    PAssert.that(r.filtered().apply("FilteredLines", MapElements.via(new AsLine()))).satisfies(lines -> {
      int han = 0;
      int copies = 0;
      for (String l : lines) {
        if (l.contains("han.present")) {
          han++;
        } else {
          assertTrue(l, l.contains(REASON));
          copies++;
        }
      }
      assertEquals("the four Chinese records", 4, han);
      assertEquals("lines 2 and 7", 2, copies);
      return null;
    });
    p.run().waitUntilFinish();
  }

  @Test
  public void aDeciderThatForgetsARecordFailsTheRun() {
    p.apply(Create.of(records()).withCoder(StageResult.RECORDS))
        .apply("Han", DecideGlobally.by(new DropHan(), DecideGlobally.Verdicts.of("han", "1", Map.of())));
    Pipeline.PipelineExecutionException e = assertThrows(Pipeline.PipelineExecutionException.class, () -> p.run().waitUntilFinish());
    assertTrue(String.valueOf(e.getCause()), String.valueOf(e.getCause()).contains("0 decision(s)"));
  }

  @Test
  public void aStageThatWaitsForAnOrderedPassEndsAChain() {
    Pipeline never = Pipeline.create();
    StageResult pending = StageResult.keptAll("Input", never.apply(Create.of(records()).withCoder(StageResult.RECORDS)))
        .pendingOrderedPass();
    assertTrue(pending.pending());
    assertThrows(IllegalStateException.class, () -> pending.then("Next", stage()));
    assertThrows(UnsupportedOperationException.class, () -> stage().orderedPass());
  }
}
