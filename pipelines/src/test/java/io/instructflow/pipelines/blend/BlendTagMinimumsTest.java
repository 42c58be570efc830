package io.instructflow.pipelines.blend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tag quotas with minimums and on several tags at once (issue 22, item 5): minimums and two tags' caps
 * are met exactly, the rows are those of the rule computed here in one place from every record, each
 * left-out record says which tag, value and quota, counts reconcile, Chinese tag values work, DirectRunner
 * and SparkRunner write the same bytes, and a minimum the data cannot meet fails the run with the tag,
 * value, minimum and the records available, before anything is published.
 */
class BlendTagMinimumsTest {
  static final Runner DIRECT = new Runner("direct", null);
  static final String SOURCES = "\"sources\": [{\"path\": \"en.jsonl\", \"name\": \"en\", \"weight\": 1},"
      + " {\"path\": \"zh.jsonl\", \"name\": \"zh\", \"weight\": 1}]";
  static final String[] DIFFICULTY = {"easy", "medium", "hard"};

  @TempDir static Path dir;

  /**
   * en: 600 English records, half coding, a quarter math, a quarter creative writing, and easy, medium, hard
   * in runs of three, tagged as the tag command writes them; zh: 200 Chinese records, a fifth coding, a
   * difficulty each and a {@code topic} of 编程 or 诗歌, tagged with plain strings, every seventh untagged.
   */
  @BeforeAll
  static void sources() throws Exception {
    StringBuilder en = new StringBuilder();
    for (int i = 0; i < 600; i++) {
      String cat = i % 2 == 0 ? "coding" : i % 4 == 1 ? "math" : "creative_writing";
      en.append(Json.line(Map.of("instruction", "Task " + i + ": do some " + cat + ".", "output", "Done " + i + ".",
          "tags", Map.of("task_category", Map.of("value", cat, "model", Map.of("id", "judge.gguf")),
              "difficulty", Map.of("value", DIFFICULTY[(i / 3) % 3]))))).append('\n');
    }
    Files.writeString(dir.resolve("en.jsonl"), en.toString());
    StringBuilder zh = new StringBuilder();
    for (int i = 0; i < 200; i++) {
      Map<String, Object> r = new LinkedHashMap<>();
      boolean code = i % 5 == 0;
      r.put("instruction", "第" + i + "题：" + (code ? "写一个排序函数。" : "写一首关于春天的诗。"));
      r.put("output", "好的，第" + i + "个。");
      if (i % 7 != 0) {
        r.put("tags", Map.of("task_category", code ? "coding" : "creative_writing", "difficulty", DIFFICULTY[i % 3],
            "topic", code ? "编程" : "诗歌"));
      }
      zh.append(Json.line(r)).append('\n');
    }
    Files.writeString(dir.resolve("zh.jsonl"), zh.toString());
  }

  static RunSummary blend(String spec, String out, Runner runner) throws Exception {
    return BlendTagQuotasTest.blend(dir, spec, out, runner);
  }

  static List<JsonNode> lines(String out, OutputLayout.Kind kind) throws Exception {
    return BlendTagQuotasTest.lines(dir, out, kind);
  }

  static String tag(JsonNode r, String tag) {
    JsonNode t = r.path("metadata").path("tags").path(tag);
    return t.isObject() ? t.path("value").asText() : t.asText("");
  }

  /** Rows per value of a tag. */
  static Map<String, Long> count(List<JsonNode> rows, String tag) {
    Map<String, Long> m = new TreeMap<>();
    for (JsonNode r : rows) {
      m.merge(tag(r, tag), 1L, Long::sum);
    }
    return m;
  }

  /** One record as the reference sees it. */
  record Rec(String id, int source, int combination, long hash) {}

  /**
   * The rule computed in one place from every record: each source's records in selection-hash order, the
   * counts per (source, combination) taken from those lists, the rows planned from them, and then each
   * combination's first rows by hash.
   */
  static Set<String> reference(BlendSpec spec, List<JsonNode> records, long[] quotas) {
    TagQuotas tq = spec.tagQuotas();
    int k = tq.combinations();
    List<Rec> recs = new ArrayList<>();
    for (JsonNode r : records) {
      int combination = 0;
      int radix = 1;
      for (TagQuotas.Tag t : tq.tags()) {
        String v = tag(r, t.tag());
        int index = -1;
        for (int i = 0; i < t.limits().size(); i++) {
          index = t.limits().get(i).value().equals(v) ? i : index;
        }
        combination += (index + 1) * radix;
        radix *= t.limits().size() + 1;
      }
      int source = r.path("provenance").path("origin").path("dataset").asText().equals("en") ? 0 : 1;
      String id = r.path("id").asText();
      recs.add(new Rec(id, source, combination, BlendPlan.keyed(BlendPlan.SELECT, spec.seed(), id, 0)));
    }
    int n = quotas.length;
    long[][] demand = new long[n][k];
    long[][] available = new long[n][k];
    List<List<Rec>> bySource = new ArrayList<>();
    for (int s = 0; s < n; s++) {
      int src = s;
      List<Rec> l = recs.stream().filter(r -> r.source() == src).sorted(Comparator.comparingLong(Rec::hash)).toList();
      bySource.add(l);
      for (int i = 0; i < l.size(); i++) {
        available[s][l.get(i).combination()]++;
        if (i < quotas[s]) {
          demand[s][l.get(i).combination()]++;
        }
      }
    }
    TagAllocation.Result plan = TagAllocation.plan(tq, List.of("en", "zh"), quotas, demand, available);
    Set<String> out = new HashSet<>();
    for (int s = 0; s < n; s++) {
      long[] taken = new long[k];
      for (Rec r : bySource.get(s)) {
        if (taken[r.combination()] < plan.rows()[s][r.combination()]) {
          taken[r.combination()]++;
          out.add(r.id());
        }
      }
    }
    return out;
  }

  /** The blend's rows and filtered records, with the reference's verdict and the reasons counted. */
  static Map<String, Long> check(String out, RunSummary s, long rows) throws Exception {
    assertTrue(s.reconciled(), s.notes().toString());
    assertEquals(new RunSummary.Counts(800, rows, 800 - rows, 0), s.counts());
    List<JsonNode> data = lines(out, OutputLayout.Kind.DATA);
    List<JsonNode> filtered = lines(out, OutputLayout.Kind.FILTERED);
    assertEquals(800, data.size() + filtered.size());
    Set<String> ids = new HashSet<>();
    data.forEach(r -> ids.add(r.path("id").asText()));
    List<JsonNode> all = new ArrayList<>(data);
    all.addAll(filtered);
    BlendSpec spec = BlendSpec.read(dir.resolve(out + "-spec.json"));
    assertEquals(reference(spec, all, new long[] {rows / 2, rows / 2}), ids);
    Map<String, Long> reasons = new TreeMap<>();
    for (JsonNode f : filtered) {
      JsonNode steps = f.path("provenance").path("steps");
      reasons.merge(steps.get(steps.size() - 1).path("verdict").path("reason").asText(), 1L, Long::sum);
    }
    assertEquals(reasons, s.filtered().get("blend"));
    return reasons;
  }

  /** The verdict details of the filtered records with a reason. */
  static List<JsonNode> details(String out, String reason) throws Exception {
    List<JsonNode> l = new ArrayList<>();
    for (JsonNode f : lines(out, OutputLayout.Kind.FILTERED)) {
      JsonNode steps = f.path("provenance").path("steps");
      JsonNode v = steps.get(steps.size() - 1).path("verdict");
      if (v.path("reason").asText().equals(reason)) {
        l.add(v.path("details"));
      }
    }
    return l;
  }

  @Test
  void aMinimumIsMetExactlyAndTheRecordsItDisplacesSaySo() throws Exception {
    String spec = "{\"target\": 300, \"seed\": 11, \"validation\": 0.1, " + SOURCES
        + ", \"tagQuotas\": {\"difficulty\": {\"hard\": {\"min\": 0.5}, \"easy\": {\"minRows\": 60}}}}";
    RunSummary s = blend(spec, "min", DIRECT);
    Map<String, Long> reasons = check("min", s, 300);
    List<JsonNode> rows = lines("min", OutputLayout.Kind.DATA);
    Map<String, Long> byDifficulty = count(rows, "difficulty");
    // without the minimum about a third of the tagged rows would be hard: it binds, and is met exactly
    assertEquals(150L, byDifficulty.get("hard"), byDifficulty.toString());
    assertTrue(byDifficulty.get("easy") >= 60, byDifficulty.toString());
    Map<String, Long> bySource = new TreeMap<>();
    rows.forEach(r -> bySource.merge(r.path("metadata").path("blend").path("source").asText(), 1L, Long::sum));
    assertEquals(Map.of("en", 150L, "zh", 150L), bySource, "the source quotas stand");
    JsonNode plan = Json.mapper().readTree(dir.resolve("min/blend-plan.json").toFile());
    JsonNode hard = plan.path("tagQuotas").get(0);
    assertEquals("hard", hard.path("value").asText());
    assertEquals(150, hard.path("minimum").asLong());
    assertEquals(150, hard.path("rows").asLong());
    assertTrue(hard.path("wanted").asLong() < 150, hard.toString());
    assertEquals(150, hard.path("sourceRows").path("en").asLong() + hard.path("sourceRows").path("zh").asLong());
    assertTrue(plan.path("notes").isEmpty(), plan.path("notes").toString());
    // the records the minimum displaced (taken without it) name it; none of them is hard
    List<JsonNode> displaced = details("min", "blend.tag_quota");
    assertEquals(reasons.get("blend.tag_quota"), (long) displaced.size());
    assertEquals(150 - hard.path("wanted").asLong(), displaced.size());
    for (JsonNode d : displaced) {
      assertEquals("difficulty", d.path("tag").asText());
      assertEquals("hard", d.path("value").asText());
      assertEquals(0.5, d.path("quota").path("min").asDouble());
      assertEquals(150, d.path("minimum").asLong());
      assertFalse(d.path("combination").path("difficulty").asText().equals("hard"), d.toString());
      assertTrue(d.path("rank").asLong() >= d.path("combinationRows").asLong(), d.toString());
    }
    String card = Files.readString(dir.resolve("min/README.md"));
    assertTrue(card.contains("Tag quota: difficulty = hard at least 150 rows: 150 in the blend (min 0.5; by source: en "
        + hard.path("sourceRows").path("en").asLong() + ", zh " + hard.path("sourceRows").path("zh").asLong() + ")."), card);
  }

  @Test
  void twoTagsCapsAreMetExactlyAtOnceAndARecordCountsAgainstBoth() throws Exception {
    String spec = "{\"target\": 300, \"seed\": 4, " + SOURCES
        + ", \"tagQuotas\": {\"task_category\": {\"coding\": {\"max\": 0.2}}, \"difficulty\": {\"hard\": {\"maxRows\": 40}}}}";
    RunSummary s = blend(spec, "caps2", DIRECT);
    Map<String, Long> reasons = check("caps2", s, 300);
    List<JsonNode> rows = lines("caps2", OutputLayout.Kind.DATA);
    assertEquals(60L, count(rows, "task_category").get("coding"));
    assertEquals(40L, count(rows, "difficulty").get("hard"));
    JsonNode plan = Json.mapper().readTree(dir.resolve("caps2/blend-plan.json").toFile());
    assertTrue(plan.path("tagQuotas").get(0).path("wanted").asLong() > 60);
    assertTrue(plan.path("tagQuotas").get(1).path("wanted").asLong() > 40);
    assertTrue(plan.path("notes").isEmpty(), plan.path("notes").toString());
    // a left-out record names a value it carries that is at its cap
    List<JsonNode> over = details("caps2", "blend.tag_quota");
    assertEquals(reasons.get("blend.tag_quota"), (long) over.size());
    assertTrue(over.size() > 0);
    for (JsonNode d : over) {
      String value = d.path("value").asText();
      assertEquals(value, d.path("combination").path(d.path("tag").asText()).asText(), d.toString());
      assertEquals(value.equals("coding") ? 60 : 40, d.path("cap").asLong());
      assertEquals(d.path("cap").asLong(), d.path("rows").asLong());
    }
    for (JsonNode d : details("caps2", "blend.not_selected")) {
      assertEquals(150, d.path("quota").asLong());
    }
  }

  @Test
  void chineseValuesMinimumsAndCapsOnThreeTagsWriteTheSameBytesOnSpark() throws Exception {
    String spec = "{\"target\": 300, \"seed\": 9, \"validation\": 0.2, \"formats\": [\"jsonl\", \"messages\"], " + SOURCES
        + ", \"tagQuotas\": {\"topic\": {\"诗歌\": {\"maxRows\": 90}, \"编程\": {\"minRows\": 30}},"
        + " \"difficulty\": {\"hard\": {\"min\": 0.4}, \"easy\": {\"max\": 0.25}},"
        + " \"task_category\": {\"math\": {\"minRows\": 45, \"maxRows\": 45}}}}";
    RunSummary s = blend(spec, "mixed", DIRECT);
    JsonNode plan = Json.mapper().readTree(dir.resolve("mixed/blend-plan.json").toFile());
    check("mixed", s, 300);
    List<JsonNode> rows = lines("mixed", OutputLayout.Kind.DATA);
    Map<String, Long> topic = count(rows, "topic");
    Map<String, Long> difficulty = count(rows, "difficulty");
    // zh (150 rows) has 137 诗歌 records, 34 编程 and 29 untagged, so its quota needs 87 诗歌 at least; without the
    // cap it would hold about 100, so the cap binds and is met exactly, beside the minimums and the other caps
    assertEquals(90L, topic.get("诗歌"), plan.toString());
    assertTrue(topic.get("编程") >= 30, plan.toString());
    assertTrue(difficulty.get("hard") >= 120, plan.toString());
    assertEquals(75L, difficulty.get("easy"), plan.toString());
    assertEquals(45L, count(rows, "task_category").get("math"), plan.toString());
    assertEquals("诗歌", plan.path("tagQuotas").get(0).path("value").asText());
    assertTrue(plan.path("notes").isEmpty(), plan.toString());
    assertTrue(Files.readString(dir.resolve("mixed/README.md")).contains("Tag quota: topic = 诗歌 at most 90 rows: 90 in the blend"));

    blend(spec, "mixed-spark", new Runner("spark", "local[2]"));
    assertEquals(BlendPipelineTest.tree(dir.resolve("mixed")), BlendPipelineTest.tree(dir.resolve("mixed-spark")));
  }

  @Test
  void aMinimumTheDataCannotMeetFailsWithTheNumbersAndPublishesNothing() throws Exception {
    // en has 150 math records, zh none
    String spec = "{\"target\": 300, \"seed\": 1, " + SOURCES
        + ", \"tagQuotas\": {\"task_category\": {\"math\": {\"minRows\": 200}}}}";
    Exception e = assertThrows(Exception.class, () -> blend(spec, "short", DIRECT));
    Throwable root = e;
    while (root.getCause() != null && !(root instanceof IllegalArgumentException)) {
      root = root.getCause();
    }
    assertEquals("tagQuotas.task_category.math: a minimum of 200 rows (minRows 200, of 300 planned rows), but the sources "
        + "have only 150 records of it after dedup", root.getMessage());
    OutputLayout out = new OutputLayout(dir.resolve("short").toString());
    assertTrue(TestFiles.lines(out, OutputLayout.Kind.DATA).isEmpty());
    assertFalse(Files.exists(dir.resolve("short/blend-plan.json")));
    assertFalse(Files.exists(dir.resolve("short/README.md")));

    // the 150 math records are there, but the caps on easy and medium leave only the hard ones and a few others
    String capped = "{\"target\": 300, \"seed\": 1, " + SOURCES
        + ", \"tagQuotas\": {\"task_category\": {\"math\": {\"minRows\": 100}}, \"difficulty\": {\"easy\": {\"maxRows\": 10},"
        + " \"medium\": {\"maxRows\": 10}}}}";
    e = assertThrows(Exception.class, () -> blend(capped, "short2", DIRECT));
    root = e;
    while (root.getCause() != null && !(root instanceof IllegalArgumentException)) {
      root = root.getCause();
    }
    assertTrue(root.getMessage().startsWith("tagQuotas.task_category.math: a minimum of 100 rows (minRows 100, of 300 planned "
        + "rows) cannot be met: the sources have 150 records of it after dedup, but only "), root.getMessage());
  }

  @Test
  void thePlanCutsInProportionTopsBindingCapsUpAndFillsMinimumsFromTheRecordsLeft() {
    // two tags of one value each: combinations 0 (other, other), 1 (coding, other), 2 (other, hard), 3 (coding, hard)
    TagQuotas caps = new TagQuotas(List.of(new TagQuotas.Tag("task_category", List.of(new TagQuotas.Limit("coding", null, 30L))),
        new TagQuotas.Tag("difficulty", List.of(new TagQuotas.Limit("hard", null, 20L)))));
    assertEquals(4, caps.combinations());
    assertEquals(Map.of("task_category", "coding", "difficulty", "hard"), caps.describe(3));
    // one source of 100 rows: demand 40 other, 20 coding only, 20 hard only, 20 both; plenty left of each
    TagAllocation.Result r = TagAllocation.plan(caps, List.of("a"), new long[] {100}, new long[][] {{40, 20, 20, 20}},
        new long[][] {{400, 200, 200, 200}});
    // coding 40 > 30: 10 cut, 5 from coding-only and 5 from both; hard is then 35 > 20: 15 cut in proportion to 20
    // and 15 rows (8.57 and 6.43: 9 from hard-only, 6 from both); coding is now 24, so the gap of 25 first brings
    // coding back to 30 from coding-only (the only open cell with coding), then the other 19 go to "other"
    assertArrayEquals(new long[] {59, 21, 11, 9}, r.rows()[0]);
    assertArrayEquals(new long[] {30, 20}, r.valueRows());
    assertTrue(r.notes().isEmpty(), r.notes().toString());

    TagQuotas mins = new TagQuotas(List.of(new TagQuotas.Tag("difficulty", List.of(new TagQuotas.Limit("hard", null, null, null, 50L)))));
    // two sources of 50 rows each with 10 hard in demand each; source a has 30 more hard, b 10 more
    r = TagAllocation.plan(mins, List.of("a", "b"), new long[] {50, 50}, new long[][] {{40, 10}, {40, 10}},
        new long[][] {{100, 40}, {100, 20}});
    // 30 more hard in proportion to what is left (30 and 10): 23 and 7 (rounded 22.5 and 7.5 by largest remainder,
    // ties to the earlier), each source then gives back as many "other" rows
    assertArrayEquals(new long[] {17, 33}, r.rows()[0]);
    assertArrayEquals(new long[] {33, 17}, r.rows()[1]);
    assertEquals(50, r.valueRows()[0]);
    assertArrayEquals(new int[] {0, 0}, r.raisedBy());

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TagAllocation.plan(mins, List.of("a", "b"),
        new long[] {50, 50}, new long[][] {{40, 10}, {40, 10}}, new long[][] {{100, 20}, {100, 20}}));
    assertEquals("tagQuotas.difficulty.hard: a minimum of 50 rows (minRows 50, of 100 planned rows), but the sources have "
        + "only 40 records of it after dedup", e.getMessage());
  }
}
