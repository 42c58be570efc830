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
}
