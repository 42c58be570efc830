package io.instructflow.filters.dedup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.chain.GateInput;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Verdict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Semantic dedup with the real embedding models: evidence, routing by script, agreement with the exhaustive rule. */
class SemanticDedupTest {
  static List<GateInput> prompts(List<String> texts) {
    List<GateInput> out = new ArrayList<>();
    for (int i = 0; i < texts.size(); i++) {
      out.add(new GateInput("id" + i, "in.jsonl:" + (i + 1), texts.get(i), texts.get(i), texts.get(i) + "\nanswer " + i));
    }
    return out;
  }

  static SemanticDedup rule(Double threshold) {
    return new SemanticDedup("auto", threshold, "prompt", 32, 1000);
  }

  @Test
  void dropsParaphrasesNamingTheKeptRecordAndTheCosine() {
    List<Verdict> v = rule(null).apply(prompts(List.of(
        "How do I start running?",
        "What is the capital of Australia?",
        "How can I begin running?",
        "Write a haiku about autumn leaves.")));
    assertEquals(Verdict.KEPT, v.get(0));
    assertEquals(Verdict.KEPT, v.get(1));
    Verdict.Dropped d = (Verdict.Dropped) v.get(2);
    assertEquals(SemanticDedup.REASON, d.reason());
    assertEquals("id0", d.details().get("matched_id"));
    assertEquals("in.jsonl:1", d.details().get("matched_location"));
    assertEquals("all-minilm-l6-v2-q", d.details().get("model"));
    assertEquals(0.90, d.details().get("threshold"));
    double cos = (Double) d.details().get("cosine");
    assertTrue(cos >= 0.90 && cos < 1, "cosine " + cos);
    assertEquals(Verdict.KEPT, v.get(3));
  }

  @Test
  void thresholdIsInclusiveAndCosineIsExact() {
    List<GateInput> in = prompts(List.of("How do I start running?", "How can I begin running?"));
    double cos = (Double) ((Verdict.Dropped) rule(0.5).apply(in).get(1)).details().get("cosine");
    List<float[]> v = Embedders.ALL_MINILM_L6_V2_Q.embed(List.of("How do I start running?", "How can I begin running?"), 8, n -> {});
    double exact = SemanticDedup.dot(v.get(0), v.get(1));
    assertEquals(Math.round(exact * 10_000) / 10_000.0, cos);
    assertTrue(rule(exact).apply(in).get(1) instanceof Verdict.Dropped, "at the threshold: dropped");
    assertEquals(Verdict.KEPT, rule(Math.nextUp(exact)).apply(in).get(1), "just above: kept");
  }

  @Test
  void chineseGoesToTheChineseModelAndIsComparedOnlyWithChinese() {
    assertTrue(Embedders.mostlyCjk("描述机器学习和深度学习之间的区别"));
    assertTrue(Embedders.mostlyCjk("用Python写一个函数"));
    assertFalse(Embedders.mostlyCjk("Translate 你好 into English please, politely"));
    assertFalse(Embedders.mostlyCjk("12345"));
    List<Verdict> v = rule(null).apply(prompts(List.of(
        "描述机器学习和深度学习之间的区别",
        "今天天气很好，我们去公园散步吧。",
        "How do I start running?",
        "机器学习和深度学习有什么区别？",
        "请写一首关于秋天的诗。")));
    assertEquals(Verdict.KEPT, v.get(0));
    assertEquals(Verdict.KEPT, v.get(1));
    assertEquals(Verdict.KEPT, v.get(2));
    Verdict.Dropped d = (Verdict.Dropped) v.get(3);
    assertEquals("bge-small-zh-v15-q", d.details().get("model"));
    assertEquals("id0", d.details().get("matched_id"));
    assertEquals(Verdict.KEPT, v.get(4), "unrelated Chinese is kept (the English model would call it similar)");
  }

  @Test
  void fieldChoosesWhatIsCompared() {
    List<GateInput> in = List.of(
        new GateInput("a", "f:1", "Summarize the text.", "Summarize the text.\nThe cat sat on the mat all day.", "x"),
        new GateInput("b", "f:2", "Summarize the text.", "Summarize the text.\nQuarterly revenue rose by ten percent.", "y"));
    assertEquals(Verdict.KEPT, new SemanticDedup("auto", null, "prompt", 32, 1000).apply(in).get(1),
        "the same instruction over different inputs is not a duplicate prompt");
    assertTrue(new SemanticDedup("auto", null, "instruction", 32, 1000).apply(in).get(1) instanceof Verdict.Dropped);
  }

  @Test
  void agreesWithTheExhaustiveGreedyRuleOnRealInstructions() throws Exception {
    Path f = Paths.get(System.getProperty("instructflow.shared", "../../shared"), "data/corpora/alpagasus/random_9k.json");
    assumeTrue(Files.exists(f), "shared data not present");
    List<String> texts = new ArrayList<>();
    for (JsonNode n : Json.mapper().readTree(f.toFile())) {
      if (texts.size() == 1500) {
        break;
      }
      String in = n.path("input").asText("");
      texts.add(n.path("instruction").asText() + (in.isEmpty() ? "" : "\n" + in));
    }
    double t = 0.85;
    SemanticDedup r = new SemanticDedup("all-minilm-l6-v2-q", t, "prompt", 32, 1000);
    List<Verdict> got = r.apply(prompts(texts));
    List<float[]> v = Embedders.ALL_MINILM_L6_V2_Q.embed(texts, 256, n -> {});
    List<Integer> kept = new ArrayList<>();
    int drops = 0;
    int agree = 0;
    for (int j = 0; j < texts.size(); j++) {
      boolean dup = false;
      for (int k : kept) {
        if (SemanticDedup.dot(v.get(k), v.get(j)) >= t) {
          dup = true;
          break;
        }
      }
      if (!dup) {
        kept.add(j);
      } else {
        drops++;
      }
      agree += dup == got.get(j) instanceof Verdict.Dropped ? 1 : 0;
    }
    assertTrue(drops >= 5, "the sample has near-duplicates at 0.85: " + drops);
    assertEquals(texts.size(), agree, "the HNSW candidates found every pair the exhaustive rule found");
  }

  @Test
  void configIsStrict() {
    FilterChain c = FilterChain.parse("{\"filters\":[{\"type\":\"exact_dedup\"},{\"type\":\"semantic_dedup\","
        + "\"model\":\"bge-small-zh-v15-q\",\"threshold\":0.95,\"field\":\"all\",\"neighbours\":8,\"maxChars\":500}]}", "t");
    assertEquals(new SemanticDedup("bge-small-zh-v15-q", 0.95, "all", 8, 500), c.dedup().get(1));
    assertEquals(new SemanticDedup("auto", null, "prompt", 32, 1000),
        FilterChain.parse("{\"filters\":[{\"type\":\"semantic_dedup\"}]}", "t").dedup().get(0));
    for (String bad : List.of("{\"model\":\"gpt\"}", "{\"threshold\":1.5}", "{\"threshold\":\"high\"}", "{\"field\":\"output\"}",
        "{\"neighbours\":0}", "{\"cosine\":0.9}")) {
      String json = "{\"filters\":[" + bad.replace("{", "{\"type\":\"semantic_dedup\",") + "]}";
      assertThrows(IllegalArgumentException.class, () -> FilterChain.parse(json, "t"), json);
    }
    assertThrows(IllegalArgumentException.class, () -> FilterChain.parse(
        "{\"filters\":[{\"type\":\"semantic_dedup\"},{\"type\":\"length\",\"minChars\":1}]}", "t"), "per-record filters come first");
  }

  /** Seeded paraphrases in English and Chinese, with exact copies and unrelated texts. */
  static List<String> paraphrases(long seed) {
    java.util.Random r = new java.util.Random(seed);
    String[] topics = {"the sea at night", "autumn leaves", "a lost cat", "city lights", "mountain rain", "old friends",
        "winter mornings", "a quiet library"};
    String[] en = {"Write a short poem about %s.", "Write a brief poem about %s.", "Please write a short poem about %s.",
        "Compose a short poem about %s.", "write a short poem about %s", "Write a short story about %s."};
    String[] zhTopics = {"大海", "秋天的落叶", "迷路的小猫", "城市的灯光", "老朋友"};
    String[] zh = {"请写一首关于%s的短诗。", "请写一首关于%s的小诗。", "写一首关于%s的短诗吧", "请你写一首关于%s的短诗"};
    List<String> out = new ArrayList<>();
    for (int k = 0; k < 60; k++) {
      out.add(r.nextInt(3) == 0 ? String.format(zh[r.nextInt(zh.length)], zhTopics[r.nextInt(zhTopics.length)])
          : String.format(en[r.nextInt(en.length)], topics[r.nextInt(topics.length)]));
    }
    out.addAll(List.of("How many grams are in a kilogram?", "List three rivers in Africa.", "如何提高睡眠质量？",
        "Explain how a bicycle gear works.", "今天天气很好，我们去公园散步吧。"));
    java.util.Collections.shuffle(out, r);
    return out;
  }

  /** The exhaustive greedy rule over the same embeddings: every earlier kept record of the same model compared. */
  static List<String> exhaustive(SemanticDedup r, List<GateInput> items) {
    List<SemanticDedup.Prepared> p = r.prepareAll(items);
    List<Integer> kept = new ArrayList<>();
    List<String> out = new ArrayList<>();
    for (int j = 0; j < items.size(); j++) {
      int best = -1;
      double bestCos = -2;
      for (int k : kept) {
        if (p.get(k).model() != p.get(j).model()) {
          continue;
        }
        double cos = SemanticDedup.dot(p.get(k).vector(), p.get(j).vector());
        if (cos >= r.thresholdOf(p.get(j).model()) && cos > bestCos) {
          best = k;
          bestCos = cos;
        }
      }
      if (best < 0) {
        kept.add(j);
        out.add("kept");
      } else {
        out.add(items.get(best).id() + " " + Math.round(bestCos * 10_000) / 10_000.0 + " " + p.get(j).model().code());
      }
    }
    return out;
  }

  static List<String> described(List<Verdict> verdicts) {
    List<String> out = new ArrayList<>();
    for (Verdict v : verdicts) {
      out.add(v instanceof Verdict.Dropped d
          ? d.details().get("matched_id") + " " + d.details().get("cosine") + " " + d.details().get("model") : "kept");
    }
    return out;
  }

  /**
   * The stream keeps only kept records' embeddings, in one graph over a vector file mapped a few vectors
   * at a time: with pieces of 4 vectors (many pieces) and of the default size it decides as the
   * exhaustive greedy rule, on English and Chinese.
   */
  @Test
  void streamOverKeptRecordsMatchesTheExhaustiveRuleAcrossMappedPieces() {
    SemanticDedup r = new SemanticDedup("auto", null, "prompt", 32, 1000);
    List<GateInput> in = prompts(paraphrases(5));
    List<String> want = exhaustive(r, in);
    assertTrue(want.stream().filter(s -> s.endsWith("bge-small-zh-v15-q")).count() >= 3, want.toString());
    assertTrue(want.stream().filter(s -> s.endsWith("all-minilm-l6-v2-q")).count() >= 10, want.toString());
    assertTrue(want.stream().filter(s -> s.equals("kept")).count() >= 15, want.toString());
    assertEquals(want, described(r.apply(in, 4)));
    assertEquals(want, described(r.apply(in)));
  }

  /** One record's embedding alone (the ordered pass) is the batch's; the index folder goes on close. */
  @Test
  void preparedOneByOneAsInABatchAndTheIndexIsRemovedOnClose() {
    SemanticDedup r = rule(null);
    List<GateInput> in = prompts(List.of("How do I start running?", "机器学习和深度学习有什么区别？", "How can I begin running?",
        "Name three rivers in Africa."));
    List<SemanticDedup.Prepared> batch = r.prepareAll(in);
    List<Verdict> got = new ArrayList<>();
    List<java.nio.file.Path> folders;
    try (SemanticDedup.KeptVectors d = r.new KeptVectors(2)) {
      for (int i = 0; i < in.size(); i++) {
        SemanticDedup.Prepared one = r.prepare(in.get(i));
        assertEquals(batch.get(i).model(), one.model());
        assertTrue(java.util.Arrays.equals(batch.get(i).vector(), one.vector()), "record " + i);
        got.add(d.decide(in.get(i), one));
      }
      assertEquals(3, d.kept());
      folders = d.folders();
      assertEquals(2, folders.size(), "one index per model");
      folders.forEach(f -> assertTrue(Files.isDirectory(f)));
    }
    folders.forEach(f -> assertFalse(Files.exists(f), f.toString()));
    assertEquals(List.of(true, true, false, true), got.stream().map(v -> v instanceof Verdict.Kept).toList());
  }

  /** mode components: parsed with its blocks, first among the dedup rules, and keeps one record per component. */
  @Test
  void componentsModeKeepsTheEarliestOfEachComponentWhereGreedyKeepsTwo() {
    FilterChain c = FilterChain.parse("{\"filters\":[{\"type\":\"semantic_dedup\",\"mode\":\"components\",\"blocks\":4,"
        + "\"threshold\":0.8},{\"type\":\"exact_dedup\"}]}", "t");
    assertEquals(new SemanticComponents(new SemanticDedup("auto", 0.8, "prompt", 32, 1000), 4), c.components().orElseThrow());
    assertEquals(SemanticComponents.BLOCKS, ((SemanticComponents) FilterChain.parse(
        "{\"filters\":[{\"type\":\"semantic_dedup\",\"mode\":\"components\"}]}", "t").dedup().get(0)).blocks());
    for (String bad : List.of("{\"mode\":\"sharded\"}", "{\"blocks\":4}", "{\"mode\":\"components\",\"blocks\":0}",
        "{\"mode\":\"components\",\"blocks\":\"x\"}")) {
      String json = "{\"filters\":[" + bad.replace("{", "{\"type\":\"semantic_dedup\",") + "]}";
      assertThrows(IllegalArgumentException.class, () -> FilterChain.parse(json, "t"), json);
    }
    assertThrows(IllegalArgumentException.class, () -> FilterChain.parse("{\"filters\":[{\"type\":\"exact_dedup\"},"
        + "{\"type\":\"semantic_dedup\",\"mode\":\"components\"}]}", "t"), "components must come first");
    // A~B and B~C but not A~C, at a threshold between the cosines
    List<String> texts = List.of("How do I start running?", "How can I begin running?", "How can I begin jogging slowly?");
    List<float[]> v = Embedders.ALL_MINILM_L6_V2_Q.embed(texts, 8, n -> {});
    double ab = SemanticDedup.dot(v.get(0), v.get(1));
    double bc = SemanticDedup.dot(v.get(1), v.get(2));
    double ac = SemanticDedup.dot(v.get(0), v.get(2));
    double t = Math.min(ab, bc);
    assertTrue(ac < t, "A and C further apart than A~B and B~C: " + ab + " " + bc + " " + ac);
    List<GateInput> in = prompts(texts);
    SemanticDedup greedy = new SemanticDedup("all-minilm-l6-v2-q", t, "prompt", 32, 1000);
    assertEquals(List.of(true, false, true), greedy.apply(in).stream().map(x -> x instanceof Verdict.Kept).toList());
    List<Verdict> comp = new SemanticComponents(greedy, 2).apply(in);
    assertEquals(Verdict.KEPT, comp.get(0));
    for (int i = 1; i < 3; i++) {
      Verdict.Dropped d = (Verdict.Dropped) comp.get(i);
      assertEquals(SemanticComponents.REASON, d.reason());
      assertEquals("id0", d.details().get("matched_id"));
      assertEquals(3L, d.details().get("component_size"));
    }
  }

  /** The fast estimate that skips pairs is never far from the exact cosine. */
  @Test
  void estimateStaysWithinTheMargin() {
    java.util.Random r = new java.util.Random(3);
    for (int k = 0; k < 2000; k++) {
      float[] a = new float[384];
      float[] b = new float[384];
      for (int i = 0; i < a.length; i++) {
        a[i] = (float) r.nextGaussian();
        b[i] = r.nextInt(4) == 0 ? a[i] : (float) r.nextGaussian();
      }
      a = Embedders.unit(a);
      b = Embedders.unit(b);
      assertTrue(Math.abs(SemanticComponents.estimate(a, b) - SemanticDedup.dot(a, b)) < SemanticComponents.MARGIN / 1000);
    }
  }
}
