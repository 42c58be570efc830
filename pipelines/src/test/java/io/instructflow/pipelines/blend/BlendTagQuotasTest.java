package io.instructflow.pipelines.blend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
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
 * Tag quotas in a blend (issue 22, item 5): a binding cap is met exactly, the rows are those of walking each
 * source in selection-hash order and skipping records over their source's share of a cap (checked against
 * that definition computed here in one place), every left-out record is in filtered/ with its reason and
 * evidence, counts reconcile, a source without enough other records shrinks with a note, DirectRunner and
 * SparkRunner write the same bytes, and bad specs are refused.
 */
class BlendTagQuotasTest {
  static final Runner DIRECT = new Runner("direct", null);
  static final String SPEC = "{\"target\": 300, \"seed\": 11, \"validation\": 0.1, \"sources\": ["
      + "{\"path\": \"en.jsonl\", \"name\": \"en\", \"weight\": 1}, {\"path\": \"zh.jsonl\", \"name\": \"zh\", \"weight\": 1}],"
      + " \"tagQuotas\": {\"task_category\": {\"coding\": {\"max\": 0.2}, \"math\": {\"maxRows\": 10}}}}";

  @TempDir static Path dir;

  /**
   * en: 600 English records, half coding, a quarter math, a quarter creative writing, tagged as the tag
   * command writes them; zh: 200 Chinese records, a fifth coding, tagged with plain strings, every seventh
   * without tags.
   */
  @BeforeAll
  static void sources() throws Exception {
    StringBuilder en = new StringBuilder();
    for (int i = 0; i < 600; i++) {
      String cat = i % 2 == 0 ? "coding" : i % 4 == 1 ? "math" : "creative_writing";
      en.append(Json.line(Map.of("instruction", "Task " + i + ": do some " + cat + ".", "output", "Done " + i + ".",
          "tags", Map.of("task_category", Map.of("value", cat, "model", Map.of("id", "judge.gguf")))))).append('\n');
    }
    Files.writeString(dir.resolve("en.jsonl"), en.toString());
    StringBuilder zh = new StringBuilder();
    for (int i = 0; i < 200; i++) {
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("instruction", "第" + i + "题：" + (i % 5 == 0 ? "写一个排序函数。" : "写一首关于春天的诗。"));
      r.put("output", "好的，第" + i + "个。");
      if (i % 7 != 0) {
        r.put("tags", Map.of("task_category", i % 5 == 0 ? "coding" : "creative_writing"));
      }
      zh.append(Json.line(r)).append('\n');
    }
    Files.writeString(dir.resolve("zh.jsonl"), zh.toString());
  }

  static RunSummary blend(String spec, String out, Runner runner) throws Exception {
    return blend(dir, spec, out, runner);
  }

  /** Writes {@code spec} beside the data in {@code dir} and blends it into {@code dir/out}, quietly. */
  static RunSummary blend(Path dir, String spec, String out, Runner runner) throws Exception {
    Path file = dir.resolve(out + "-spec.json");
    Files.writeString(file, spec);
    return BlendPipeline.run(new BlendPipeline.Config(BlendSpec.read(file), dir.resolve(out).toString(), runner),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
  }

  static List<JsonNode> lines(String out, OutputLayout.Kind kind) throws Exception {
    return lines(dir, out, kind);
  }

  /** The lines of {@code dir/out}'s shards of {@code kind}, parsed. */
  static List<JsonNode> lines(Path dir, String out, OutputLayout.Kind kind) throws Exception {
    List<JsonNode> l = new ArrayList<>();
    for (String s : TestFiles.lines(new OutputLayout(dir.resolve(out).toString()), kind)) {
      l.add(Json.mapper().readTree(s));
    }
    return l;
  }

  static String category(JsonNode r) {
    JsonNode t = r.path("metadata").path("tags").path("task_category");
    return t.isObject() ? t.path("value").asText() : t.asText("");
  }

  /** One record as the reference sees it: id, source, capped value (-1 none), selection hash. */
  record Rec(String id, int source, int value, long hash) {}

  /**
   * The rule computed in one place, by its definition: each source's records in selection-hash order; the
   * caps shared by {@link TagQuotas.Tag#caps} from the demands counted over each source's first q records; then
   * walk each source in order, skipping a record whose value already has its source's share, until q taken.
   */
  static Set<String> reference(BlendSpec spec, List<Rec> recs, long[] quotas) {
    TagQuotas.Tag tq = spec.tagQuotas().tags().get(0);
    int n = quotas.length;
    int v = tq.limits().size();
    List<List<Rec>> bySource = new ArrayList<>();
    for (int s = 0; s < n; s++) {
      int src = s;
      bySource.add(recs.stream().filter(r -> r.source() == src).sorted(Comparator.comparingLong(Rec::hash)).toList());
    }
    long[][] demand = new long[n][v];
    long[][] available = new long[n][v];
    for (int s = 0; s < n; s++) {
      for (int i = 0; i < bySource.get(s).size(); i++) {
        Rec r = bySource.get(s).get(i);
        if (r.value() >= 0) {
          available[s][r.value()]++;
          if (i < quotas[s]) {
            demand[s][r.value()]++;
          }
        }
      }
    }
    long[][] caps = tq.caps(quotas, demand, available);
    Set<String> out = new HashSet<>();
    for (int s = 0; s < n; s++) {
      long[] taken = new long[v];
      long rows = 0;
      for (Rec r : bySource.get(s)) {
        if (rows == quotas[s]) {
          break;
        }
        if (r.value() >= 0 && taken[r.value()] == caps[s][r.value()]) {
          continue;
        }
        if (r.value() >= 0) {
          taken[r.value()]++;
        }
        rows++;
        out.add(r.id());
      }
    }
    return out;
  }

  @Test
  void aBindingCapIsMetExactlyByTheWalkOverHashRanksAndLeftOutRecordsSayWhy() throws Exception {
    RunSummary s = blend(SPEC, "direct", DIRECT);
    assertTrue(s.reconciled(), s.notes().toString());
    assertEquals(new RunSummary.Counts(800, 300, 500, 0), s.counts());
    List<JsonNode> rows = lines("direct", OutputLayout.Kind.DATA);
    Map<String, Long> byCategory = new TreeMap<>();
    Map<String, Long> bySource = new TreeMap<>();
    Set<String> ids = new HashSet<>();
    for (JsonNode r : rows) {
      byCategory.merge(category(r), 1L, Long::sum);
      bySource.merge(r.path("metadata").path("blend").path("source").asText(), 1L, Long::sum);
      ids.add(r.path("id").asText());
    }
    // without caps the blend would hold about 75 + 25 coding and 37 math rows: the caps bind, exactly
    assertEquals(60L, byCategory.get("coding"), byCategory.toString());
    assertEquals(10L, byCategory.get("math"), byCategory.toString());
    assertEquals(Map.of("en", 150L, "zh", 150L), bySource, "the source quotas stand");
    assertEquals(30, rows.stream().filter(r -> r.path("metadata").path("blend").path("split").asText().equals("validation"))
        .count());

    // the same rows as the rule's definition computed in one place
    BlendSpec spec = BlendSpec.read(dir.resolve("direct-spec.json"));
    List<Rec> recs = new ArrayList<>();
    List<JsonNode> all = new ArrayList<>(rows);
    all.addAll(lines("direct", OutputLayout.Kind.FILTERED));
    for (JsonNode r : all) {
      String cat = category(r);
      int value = cat.equals("coding") ? 0 : cat.equals("math") ? 1 : -1;
      int source = r.path("provenance").path("origin").path("dataset").asText().equals("en") ? 0 : 1;
      recs.add(new Rec(r.path("id").asText(), source, value, BlendPlan.keyed(BlendPlan.SELECT, 11, r.path("id").asText(), 0)));
    }
    assertEquals(800, new HashSet<>(recs.stream().map(Rec::id).toList()).size());
    assertEquals(reference(spec, recs, new long[] {150, 150}), ids);

    // each left-out record names the tag, the value, the quota, the cap, its source's share and its rank
    Map<String, Long> reasons = new TreeMap<>();
    for (JsonNode f : lines("direct", OutputLayout.Kind.FILTERED)) {
      JsonNode steps = f.path("provenance").path("steps");
      JsonNode verdict = steps.get(steps.size() - 1).path("verdict");
      String reason = verdict.path("reason").asText();
      reasons.merge(reason, 1L, Long::sum);
      if (reason.equals("blend.tag_quota")) {
        JsonNode d = verdict.path("details");
        assertEquals("task_category", d.path("tag").asText());
        assertEquals(category(f), d.path("value").asText());
        if (category(f).equals("coding")) {
          assertEquals(0.2, d.path("quota").path("max").asDouble());
          assertEquals(60, d.path("cap").asLong());
        } else {
          assertEquals(10, d.path("quota").path("maxRows").asLong());
          assertEquals(10, d.path("cap").asLong());
        }
        assertTrue(d.path("rank").asLong() >= d.path("sourceCap").asLong(), d.toString());
      }
    }
    // every coding and math record ranked beyond its source's share of the cap is left out (zh has no
    // math, so en's share of math is the whole cap)
    JsonNode plan = Json.mapper().readTree(dir.resolve("direct/blend-plan.json").toFile());
    JsonNode coding = plan.path("tagQuotas").get(0);
    JsonNode math = plan.path("tagQuotas").get(1);
    long zhCoding = 0;
    for (int i = 0; i < 200; i += 5) {
      zhCoding += i % 7 != 0 ? 1 : 0;
    }
    assertEquals(10, math.path("sourceCaps").path("en").asLong());
    assertEquals(300 - coding.path("sourceCaps").path("en").asLong() + 150 - 10
        + zhCoding - coding.path("sourceCaps").path("zh").asLong(), reasons.get("blend.tag_quota"), reasons.toString());
    assertEquals(500 - reasons.get("blend.tag_quota"), reasons.get("blend.not_selected"));
    assertEquals(Map.of("blend.tag_quota", reasons.get("blend.tag_quota"), "blend.not_selected",
        reasons.get("blend.not_selected")), s.filtered().get("blend"));

    assertEquals("coding", coding.path("value").asText());
    assertEquals(zhCoding, coding.path("records").asLong() - 300);
    assertEquals(60, coding.path("cap").asLong());
    assertEquals(60, coding.path("sourceCaps").path("en").asLong() + coding.path("sourceCaps").path("zh").asLong());
    assertTrue(coding.path("wanted").asLong() > 60, coding.toString());
    assertTrue(plan.path("notes").isEmpty(), plan.path("notes").toString());
    String card = Files.readString(dir.resolve("direct/README.md"));
    assertTrue(card.contains("blend.tag_quota"), card);
    assertTrue(card.contains("Tag quota: task_category = coding at most 60 rows (max 0.2; by source: en "
        + coding.path("sourceCaps").path("en").asLong() + ", zh " + coding.path("sourceCaps").path("zh").asLong() + ")."),
        card);

    // SparkRunner local[2]: the same bytes
    blend(SPEC, "spark", new Runner("spark", "local[2]"));
    assertEquals(BlendPipelineTest.tree(dir.resolve("direct")), BlendPipelineTest.tree(dir.resolve("spark")));
  }

  @Test
  void aSourceWithoutEnoughOtherRecordsShrinksWithANote() throws Exception {
    String spec = "{\"seed\": 3, \"validation\": 35, \"sources\": [{\"path\": \"en.jsonl\", \"name\": \"en\", \"count\": 400},"
        + " {\"path\": \"zh.jsonl\", \"name\": \"zh\", \"count\": 50}],"
        + " \"tagQuotas\": {\"task_category\": {\"coding\": {\"maxRows\": 0}}}}";
    RunSummary s = blend(spec, "shrunk", DIRECT);
    assertTrue(s.reconciled(), s.notes().toString());
    // en has 300 records that are not coding, zh 160 (untagged ones included)
    assertEquals(new RunSummary.Counts(800, 350, 450, 0), s.counts());
    for (JsonNode r : lines("shrunk", OutputLayout.Kind.DATA)) {
      assertTrue(!category(r).equals("coding"), r.toString());
    }
    JsonNode plan = Json.mapper().readTree(dir.resolve("shrunk/blend-plan.json").toFile());
    assertEquals("source en: 300 rows instead of its quota of 400: tag quotas left too few other records",
        plan.path("notes").get(0).asText());
    assertEquals(300, plan.path("sources").get(0).path("selected").asLong());
    assertEquals(350, plan.path("distinct").asLong());
    // the validation count is shared by the records selected, 300 and 50, not by the quotas
    assertEquals(30, plan.path("sources").get(0).path("validation").asLong());
    assertEquals(5, plan.path("sources").get(1).path("validation").asLong());
    assertEquals(315, plan.path("splitRows").path("train").asLong());
    assertEquals(35, plan.path("splitRows").path("validation").asLong());
  }

  @Test
  void theSharesOfACapFollowTheQuotasHeldAtDemand() {
    // 60 over quotas 150/150, demands 75 and 30: 30 each; demands 75 and 20: 40 and 20
    TagQuotas.Tag tq = new TagQuotas.Tag("task_category", List.of(new TagQuotas.Limit("coding", 0.2, null)));
    assertArrayEquals(new long[] {30}, tq.caps(new long[] {150, 150}, new long[][] {{75}, {30}}, new long[][] {{300}, {40}})[0]);
    long[][] c = tq.caps(new long[] {150, 150}, new long[][] {{75}, {20}}, new long[][] {{300}, {40}});
    assertEquals(40, c[0][0]);
    assertEquals(20, c[1][0]);
    // a cap above the demands: each source gets its demand, then the slack by quota, held at its records
    c = tq.caps(new long[] {150, 150}, new long[][] {{20}, {10}}, new long[][] {{25}, {100}});
    assertEquals(25, c[0][0]);
    assertEquals(35, c[1][0]);
    assertArrayEquals(new long[] {1, 1, 1}, TagQuotas.share(3, new long[] {1, 1, 1}, new long[] {5, 5, 5}));
    assertArrayEquals(new long[] {2, 1, 0}, TagQuotas.share(3, new long[] {2, 1, 0}, new long[] {5, 5, 5}));
  }

  @Test
  void badTagQuotasAreRefusedWithTheirPlace() {
    String head = "{\"target\": 10, \"sources\": [{\"path\": \"x\", \"weight\": 1}], \"tagQuotas\": ";
    for (String bad : List.of("{\"task_category\": {\"codng\": {\"max\": 0.2}}}",
        "{\"task_category\": {\"coding\": {\"max\": 0.2, \"maxRows\": 3}}}",
        "{\"task_category\": {\"coding\": {}}}",
        "{\"task_category\": {\"coding\": {\"max\": 1.5}}}",
        "{\"task_category\": {\"coding\": {\"min\": 0.1, \"minRows\": 3}}}",
        "{\"task_category\": {\"coding\": {\"min\": 0.3, \"max\": 0.2}}}",
        "{\"task_category\": {\"coding\": {\"minRows\": 4, \"maxRows\": 3}}}",
        "{\"task_category\": {\"coding\": {\"min\": 1.5}}}",
        "{\"task_category\": {\"coding\": {\"minimum\": 0.1}}}",
        "{\"task_category\": {\"coding\": {\"max\": 0.2}}, \"difficulty\": {\"hardest\": {\"max\": 0.1}}}",
        "{\"task_category\": {}}",
        "{}")) {
      String spec = head + bad + "}";
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> BlendSpec.parse(Json.mapper().readTree(spec), dir, spec, "s.json"), spec);
      assertTrue(e.getMessage().startsWith("s.json: "), e.getMessage());
    }
    String upsampled = "{\"target\": 10, \"sources\": [{\"path\": \"x\", \"weight\": 1, \"upsample\": true}], "
        + "\"tagQuotas\": {\"task_category\": {\"coding\": {\"max\": 0.2}}}}";
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> BlendSpec.parse(Json.mapper().readTree(upsampled), dir, upsampled, "s.json"));
    assertTrue(e.getMessage().contains("upsample"), e.getMessage());
    // a tag the tag command does not write takes any value
    String custom = "{\"target\": 10, \"sources\": [{\"path\": \"x\", \"weight\": 1}], "
        + "\"tagQuotas\": {\"topic\": {\"sports\": {\"maxRows\": 2}}}}";
    assertEquals("topic", assertDoesNotThrow(custom).tagQuotas().tags().get(0).tag());
  }

  static BlendSpec assertDoesNotThrow(String spec) {
    try {
      return BlendSpec.parse(Json.mapper().readTree(spec), dir, spec, "s.json");
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }
}
