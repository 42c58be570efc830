package io.instructflow.pipelines.dedup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.rouge.DedupText;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.WriteOrdered;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.RunSummary;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.util.CoderUtils;
import org.apache.beam.sdk.values.KV;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dedup --order-by} with the sequential strategy through the bounded path (issue 23, item 7):
 * records staged by ranges of the sort key, decided by a pass, decisions applied in input order. The
 * outputs are byte-identical to the in-memory form it replaced ({@link InMemoryOrderBy}) on shared
 * corpora with numeric and string keys, ties, missing values and Chinese text, on both runners and
 * for tiny ranges and decision runs; the ranges are bounded even when every record has the same value.
 */
class StageInSortOrderTest {
  static final Runner DIRECT = new Runner("direct", null);
  static final Runner SPARK = new Runner("spark", "local[2]");
  static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

  static DedupPipeline.Config config(Path in, Path out, String tokenizer, String orderBy, Runner runner) {
    return new DedupPipeline.Config(ReadOptions.of(in.toString()), out.toString(), 0.7, DedupText.INSTRUCTION, tokenizer,
        false, orderBy, "sequential", 500, runner);
  }

  @Test
  void sortKeysRoundTrip() throws Exception {
    for (StageInSortOrder.SortKey k : List.of(
        new StageInSortOrder.SortKey(new SortValue(0, -0.0, null), new OrderKey(0, 1, 0)),
        new StageInSortOrder.SortKey(new SortValue(0, 1e300, null), new OrderKey(3, 123_456_789_012L, 4)),
        new StageInSortOrder.SortKey(new SortValue(1, 0, "用中文写一首诗"), new OrderKey(1, 7, 0)),
        new StageInSortOrder.SortKey(new SortValue(1, 0, ""), new OrderKey(1, 8, 0)),
        new StageInSortOrder.SortKey(new SortValue(2, 0, null), new OrderKey(2, 0, 9)))) {
      byte[] once = CoderUtils.encodeToByteArray(StageInSortOrder.SortKey.Coder.of(), k);
      StageInSortOrder.SortKey back = CoderUtils.decodeFromByteArray(StageInSortOrder.SortKey.Coder.of(), once);
      assertEquals(k, back);
      assertEquals(Double.doubleToRawLongBits(k.value().number()), Double.doubleToRawLongBits(back.value().number()));
      assertEquals(0, StageInSortOrder.SortKey.ORDER.compare(k, back));
    }
  }

  @Test
  void boundsSplitTiesByInputPosition() {
    List<StageInSortOrder.SortKey> keys = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      keys.add(new StageInSortOrder.SortKey(new SortValue(0, 5, null), new OrderKey(0, i, 0)));
    }
    java.util.Collections.shuffle(keys, new Random(3));
    List<StageInSortOrder.SortKey> b = StageInSortOrder.bounds(keys, 10);
    assertEquals(9, b.size());
    for (int i = 0; i < 9; i++) {
      assertEquals(new OrderKey(0, 10L * (i + 1), 0), b.get(i).key());
    }
    for (StageInSortOrder.SortKey k : keys) {
      assertEquals(k.key().position() / 10, StageInSortOrder.range(b, k), k.toString());
    }
    assertEquals(0, StageInSortOrder.range(List.of(), keys.get(0)));
  }

  @Test
  void decisionRunsComeBackInInputOrder() throws Exception {
    Random r = new Random(17);
    List<DecisionRuns.Entry> all = new ArrayList<>();
    for (int i = 0; i < 1000; i++) {
      OrderKey k = new OrderKey(r.nextInt(3), i, r.nextInt(2));
      all.add(r.nextBoolean() ? new DecisionRuns.Entry(k, "id-" + i, io.instructflow.schemas.Verdict.KEPT)
          : new DecisionRuns.Entry(k, "记录-" + i, new io.instructflow.schemas.Verdict.Dropped("rouge_l", "rouge_l.near_duplicate",
              new java.util.LinkedHashMap<>(java.util.Map.of("matched_id", "m-" + r.nextInt(50), "score", r.nextDouble())))));
    }
    List<DecisionRuns.Entry> shuffled = new ArrayList<>(all);
    java.util.Collections.shuffle(shuffled, r);
    for (int run : new int[] {1, 7, 1000, 5000}) {
      try (DecisionRuns d = new DecisionRuns(run)) {
        for (DecisionRuns.Entry e : shuffled) {
          d.add(e);
        }
        List<DecisionRuns.Entry> back = new ArrayList<>();
        Iterator<DecisionRuns.Entry> it = d.inInputOrder();
        it.forEachRemaining(back::add);
        List<DecisionRuns.Entry> want = new ArrayList<>(all);
        want.sort(Comparator.comparing(DecisionRuns.Entry::key));
        assertEquals(want, back, "run size " + run);
        assertEquals((1000 + run - 1) / run, d.runs());
      }
    }
  }

  /** Examples with a sort field {@code p}: numbers with ties, strings, missing ones, or one value for all. */
  static List<KV<OrderKey, Example>> examples(int n, boolean skewed) {
    List<KV<OrderKey, Example>> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      Map<String, Object> meta = new HashMap<>();
      if (skewed) {
        meta.put("p", 1);
      } else if (i % 13 == 0) {
        meta.put("p", i % 2 == 0 ? "高" : "low");
      } else if (i % 11 != 0) {
        meta.put("p", i % 5);
      }
      OrderKey k = new OrderKey(i % 3, i / 3 + 1, 0);
      out.add(KV.of(k, Example.single("task " + i, null, null, meta,
          new Provenance(new Origin("t", "unknown", "f" + k.source() + ".jsonl:" + k.position(), null, "alpaca", null), List.of()))));
    }
    return out;
  }

  /** Stages {@code examples} with {@code target}; the staged fragments' keys, fragment by fragment. */
  static List<List<OrderKey>> stage(Path dir, List<KV<OrderKey, Example>> examples, long target) throws Exception {
    Pipeline p = Pipeline.create(PipelineOptionsFactory.create());
    p.apply(Create.of(examples).withCoder(KvCoder.of(OrderKey.Coder.of(), io.instructflow.pipelines.io.JsonCoder.of(Example.class))))
        .apply(StageInSortOrder.by("p", dir.toString() + "/").withRangeTarget(target));
    p.run().waitUntilFinish();
    List<Path> files;
    try (Stream<Path> s = Files.list(dir)) {
      files = s.filter(f -> WriteOrdered.isFragment(f.getFileName().toString())).sorted().toList();
    }
    List<List<OrderKey>> out = new ArrayList<>();
    for (Path f : files) {
      List<OrderKey> keys = new ArrayList<>();
      for (String l : Files.readAllLines(f, StandardCharsets.UTF_8)) {
        String[] parts = l.substring(1, l.indexOf('\t')).split("\\.");
        keys.add(new OrderKey(Integer.parseInt(parts[0]), Long.parseLong(parts[1]), Integer.parseInt(parts[2])));
        Json.mapper().readValue(l.substring(l.indexOf('\t') + 1), Example.class);
      }
      assertEquals(WriteOrdered.linesOf(f.getFileName().toString()), keys.size());
      out.add(keys);
    }
    return out;
  }

  /**
   * No step holds all records: with a target of 64 (every key sampled) the ranges are exactly 64
   * records, with 512 (one key in 8 sampled) they stay near it, also when every record has the same
   * value; read in name order the fragments are the global sort order.
   */
  @Test
  void rangesAreBoundedAndInSortOrder(@TempDir Path tmp) throws Exception {
    for (boolean skewed : new boolean[] {false, true}) {
      List<KV<OrderKey, Example>> ex = examples(3000, skewed);
      List<OrderKey> want = ex.stream()
          .sorted(Comparator.comparing((KV<OrderKey, Example> kv) -> SortValue.of(kv.getValue(), "p"), SortValue.ORDER)
              .thenComparing(KV::getKey))
          .map(KV::getKey).toList();
      for (long target : new long[] {64, 512}) {
        Path dir = Files.createDirectories(tmp.resolve(skewed + "-" + target));
        List<List<OrderKey>> fragments = stage(dir, ex, target);
        List<OrderKey> got = new ArrayList<>();
        fragments.forEach(got::addAll);
        assertEquals(want, got, "skewed " + skewed + ", target " + target);
        int largest = fragments.stream().mapToInt(List::size).max().orElse(0);
        if (target == 64) {
          assertEquals(47, fragments.size());
          assertEquals(64, largest);
        } else {
          assertTrue(fragments.size() >= 4 && largest <= 2 * target,
              fragments.size() + " fragments, largest " + largest + " (skewed " + skewed + ")");
        }
      }
    }
  }

  /** A few thousand records of the shared corpora, with sort fields that tie, mix types and go missing. */
  static Path sharedInput(Path tmp) throws Exception {
    Path gpt = TestFiles.sharedData().resolve("corpora/gpteacher/codegen-instruct.json");
    Path t0 = TestFiles.sharedData().resolve("corpora/t0_train_50k");
    Path zh = TestFiles.sharedData().resolve("corpora/alpaca_zh_carbonz0/zh-data-part-00.json");
    Assumptions.assumeTrue(Files.isRegularFile(gpt) && Files.isDirectory(t0) && Files.isRegularFile(zh), "no shared data");
    List<String[]> texts = new ArrayList<>();
    int k = 0;
    for (JsonNode n : Json.mapper().readTree(gpt.toFile())) {
      if (k++ < 1200) {
        texts.add(new String[] {"gpteacher", n.path("instruction").asText()});
      }
    }
    List<Path> files;
    try (Stream<Path> st = Files.list(t0)) {
      files = st.sorted().limit(12).toList();
    }
    k = 0;
    for (Path f : files) {
      for (String l : Files.readAllLines(f)) {
        if (k++ < 800) {
          texts.add(new String[] {"t0", Json.mapper().readTree(l).path("prompt").asText()});
        }
      }
    }
    k = 0;
    List<String> zhTexts = new ArrayList<>();
    for (JsonNode n : Json.mapper().readTree(zh.toFile())) {
      if (k++ < 700) {
        zhTexts.add(n.path("instruction").asText());
        texts.add(new String[] {"zh", n.path("instruction").asText()});
      }
    }
    Random r = new Random(5);
    for (int i = 0; i < 150; i++) {
      // Chinese near duplicates: one character changed or a short tail added
      String t = zhTexts.get(r.nextInt(zhTexts.size()));
      String d = r.nextBoolean() && t.length() > 4 ? t.substring(0, t.length() - 2) + "吗？" : t + "请简要回答。";
      texts.add(r.nextInt(texts.size()), new String[] {"zh", d});
    }
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < texts.size(); i++) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("instruction", texts.get(i)[1]);
      if (i % 13 == 0) {
        m.put("priority", i % 2 == 0 ? "high" : "低");
      } else if (i % 11 != 0) {
        m.put("priority", i % 5 == 0 ? 2.5 : i % 4);
      }
      if (i % 17 == 0) {
        m.put("tag", 3);
      } else if (i % 9 != 0) {
        m.put("tag", texts.get(i)[0] + "-" + (i % 3));
      }
      b.append(Json.line(m)).append('\n');
    }
    b.append("{\"instruction\": \"broken\n");
    Path in = tmp.resolve("shared.jsonl");
    Files.writeString(in, b.toString());
    return in;
  }

  static void assertSameOutputs(Path want, Path got, String what) throws Exception {
    for (OutputLayout.Kind k : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.FILTERED, OutputLayout.Kind.REJECTS)) {
      assertEquals(TestFiles.fingerprint(new OutputLayout(want.toString()), k),
          TestFiles.fingerprint(new OutputLayout(got.toString()), k), what + " " + k);
    }
    assertTrue(!Files.exists(got.resolve(".staging")), what + ": staging left behind");
  }

  /**
   * On 2,850 shared records (GPTeacher, T0, Chinese Alpaca with seeded near duplicates): ordered by a
   * numeric field with ties, strings and missing values (rouge tokenizer) and by a string field
   * (unicode tokenizer, so Chinese is compared), the bounded path writes the in-memory form's bytes,
   * with the default ranges and with tiny ranges and decision runs, on the DirectRunner and on Spark.
   */
  @Test
  void orderByWritesTheInMemoryBytesOnSharedData(@TempDir Path tmp) throws Exception {
    Path in = sharedInput(tmp);
    RunSummary ref = InMemoryOrderBy.run(config(in, tmp.resolve("ref-num"), "rouge", "priority", DIRECT), QUIET);
    assertTrue(ref.counts().filtered() > 20 && ref.counts().rejected() == 1, ref.counts().toString());
    RunSummary direct = DedupPipeline.run(config(in, tmp.resolve("num"), "rouge", "priority", DIRECT), QUIET);
    assertEquals(ref.counts(), direct.counts());
    assertEquals(ref.filtered(), direct.filtered());
    assertSameOutputs(tmp.resolve("ref-num"), tmp.resolve("num"), "numeric, direct");
    DedupPipeline.run(config(in, tmp.resolve("num-tiny"), "rouge", "priority", DIRECT), QUIET, 16, 100);
    assertSameOutputs(tmp.resolve("ref-num"), tmp.resolve("num-tiny"), "numeric, direct, ranges of 16");
    DedupPipeline.run(config(in, tmp.resolve("num-spark"), "rouge", "priority", SPARK), QUIET, 200, 1000);
    assertSameOutputs(tmp.resolve("ref-num"), tmp.resolve("num-spark"), "numeric, spark, ranges of 200");

    RunSummary refZh = InMemoryOrderBy.run(config(in, tmp.resolve("ref-str"), "unicode", "metadata.tag", DIRECT), QUIET);
    long zhDropped = TestFiles.lines(new OutputLayout(tmp.resolve("ref-str").toString()), OutputLayout.Kind.FILTERED).stream()
        .filter(l -> l.codePoints().anyMatch(c -> Character.UnicodeScript.of(c) == Character.UnicodeScript.HAN)).count();
    assertTrue(zhDropped > 50, zhDropped + " Chinese near duplicates dropped of " + refZh.counts());
    DedupPipeline.run(config(in, tmp.resolve("str-tiny"), "unicode", "metadata.tag", DIRECT), QUIET, 16, 100);
    assertSameOutputs(tmp.resolve("ref-str"), tmp.resolve("str-tiny"), "string, direct, ranges of 16");
    RunSummary spark = DedupPipeline.run(config(in, tmp.resolve("str-spark"), "unicode", "metadata.tag", SPARK), QUIET);
    assertEquals(refZh.counts(), spark.counts());
    assertSameOutputs(tmp.resolve("ref-str"), tmp.resolve("str-spark"), "string, spark");
    // the order matters: input order keeps another set
    RunSummary inputOrder = DedupPipeline.run(config(in, tmp.resolve("input"), "unicode", null, DIRECT), QUIET);
    assertTrue(!TestFiles.fingerprint(new OutputLayout(tmp.resolve("input").toString()), OutputLayout.Kind.DATA)
        .equals(TestFiles.fingerprint(new OutputLayout(tmp.resolve("ref-str").toString()), OutputLayout.Kind.DATA)
            .replace("\"order\":\"metadata.tag\"", "\"order\":\"input\"")), "input order kept the same records: " + inputOrder.counts());
  }
}
