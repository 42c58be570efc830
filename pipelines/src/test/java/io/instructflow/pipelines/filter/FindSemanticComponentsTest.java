package io.instructflow.pipelines.filter;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.dedup.Embedders;
import io.instructflow.filters.dedup.SemanticComponents;
import io.instructflow.filters.dedup.SemanticDedup;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.runners.TransformHierarchy;
import org.apache.beam.sdk.util.CoderUtils;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PValue;
import org.junit.Rule;
import org.junit.Test;

/**
 * The semantic components stage on Beam's runner, with the real embedding models: its drops equal an
 * exact all-pairs reference (every pair of same-model texts, exact cosine, union-find, the earliest
 * member kept) on seeded English and Chinese paraphrases, whatever the number of blocks; the
 * in-memory rule agrees; and no step gathers records in one place.
 */
public class FindSemanticComponentsTest {
  @Rule public final transient TestPipeline p = TestPipeline.create();

  static final String[] TOPICS = {"the sea at night", "autumn leaves", "a lost cat", "city lights", "mountain rain",
      "a first day at work", "old friends", "winter mornings", "a quiet library", "the night sky", "a busy market",
      "a summer storm"};
  static final String[] FORMS = {"poem", "story", "letter", "song"};
  static final String[] EN = {"Write a short %s about %s.", "Write a brief %s about %s.", "Please write a short %s about %s.",
      "Compose a short %s about %s.", "write a short %s about %s", "Write a short %s about %s for children.",
      "Could you write a short %s about %s?"};
  static final String[] ZH_TOPICS = {"大海", "秋天的落叶", "迷路的小猫", "城市的灯光", "山里的雨", "老朋友", "冬天的早晨", "安静的图书馆"};
  static final String[] ZH = {"请写一首关于%s的短诗。", "请写一首关于%s的小诗。", "写一首关于%s的短诗吧", "请你写一首关于%s的短诗",
      "请为孩子们写一首关于%s的短诗。"};
  static final String[] OTHER = {"How many grams are in a kilogram?", "Translate 'good morning' into French.",
      "List three rivers in Africa.", "Explain how a bicycle gear works.", "What is the boiling point of water at sea level?",
      "Give two tips for a job interview.", "Name the largest planet in the solar system.", "Sort these numbers: 5, 2, 9, 1.",
      "描述机器学习和深度学习之间的区别", "今天天气很好，我们去公园散步吧。", "如何提高睡眠质量？", "用Python写一个函数，计算斐波那契数列。"};

  /**
   * Seeded texts: for 14 English (form, topic) pairs 1 to 4 of the seven phrasings, for 5 Chinese topics
   * 1 to 4 of the five phrasings, and the twelve unrelated texts with two exact copies; shuffled.
   */
  static List<String> texts(long seed) {
    Random r = new Random(seed);
    List<String> out = new ArrayList<>();
    for (int c = 0; c < 14; c++) {
      String form = FORMS[r.nextInt(FORMS.length)];
      String topic = TOPICS[r.nextInt(TOPICS.length)];
      List<String> ways = new ArrayList<>(Arrays.asList(EN));
      Collections.shuffle(ways, r);
      for (int k = 0, n = 1 + r.nextInt(4); k < n; k++) {
        out.add(String.format(ways.get(k), form, topic));
      }
    }
    List<String> zh = new ArrayList<>(Arrays.asList(ZH_TOPICS));
    Collections.shuffle(zh, r);
    for (int c = 0; c < 5; c++) {
      List<String> ways = new ArrayList<>(Arrays.asList(ZH));
      Collections.shuffle(ways, r);
      for (int k = 0, n = 1 + r.nextInt(4); k < n; k++) {
        out.add(String.format(ways.get(k), zh.get(c)));
      }
    }
    out.addAll(Arrays.asList(OTHER));
    out.add(OTHER[0]);
    out.add(OTHER[9]);
    Collections.shuffle(out, r);
    return out;
  }

  /** The reference: every pair of texts of one model with exact cosine at or above its threshold, union-find. */
  static List<String> reference(SemanticComponents rule, List<Example> records) {
    int n = records.size();
    SemanticDedup e = rule.embedding();
    List<Embedders> models = new ArrayList<>();
    List<float[]> vectors = new ArrayList<>();
    for (Example x : records) {
      String t = e.textOf(GateInput.of(x));
      Embedders m = e.modelFor(t);
      models.add(m);
      vectors.add(m.embed(List.of(t), 1, k -> {}).get(0));
    }
    int[] parent = new int[n];
    Arrays.setAll(parent, i -> i);
    for (int i = 0; i < n; i++) {
      for (int j = i + 1; j < n; j++) {
        if (models.get(i) == models.get(j) && SemanticDedup.dot(vectors.get(i), vectors.get(j)) >= e.thresholdOf(models.get(i))) {
          int a = find(parent, i);
          int b = find(parent, j);
          parent[Math.max(a, b)] = Math.min(a, b);
        }
      }
    }
    int[] size = new int[n];
    for (int i = 0; i < n; i++) {
      size[find(parent, i)]++;
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int root = find(parent, i);
      if (root != i) {
        Example k = records.get(root);
        out.add(new OrderKey(0, i + 1, 0) + " "
            + Json.line(rule.dropped(k.id(), k.provenance().origin().location(), models.get(root), size[root])));
      }
    }
    return out;
  }

  private static int find(int[] p, int x) {
    while (p[x] != x) {
      x = p[x];
    }
    return x;
  }

  static SemanticComponents rule(int blocks) {
    return new SemanticComponents(new SemanticDedup("auto", null, "prompt", 32, 1000), blocks);
  }

  static List<Example> records(List<String> texts) {
    List<Example> records = new ArrayList<>();
    for (int i = 0; i < texts.size(); i++) {
      records.add(FindMinHashComponentsTest.record(texts.get(i), i + 1));
    }
    return records;
  }

  @Test
  public void dropsEqualTheExactAllPairsReferenceWhateverTheBlocks() {
    List<Example> records = records(texts(11));
    List<String> want = reference(rule(1), records);
    // the data has what it is meant to: components of more than two, Chinese ones, many records in none
    assertTrue(want.toString(), want.size() > 15 && records.size() - want.size() > 20);
    assertTrue(want.toString(), want.stream().anyMatch(s -> s.contains("bge-small-zh-v15-q")));
    assertTrue(want.toString(), want.stream().anyMatch(s -> s.matches(".*\"component_size\":[3-9].*")));
    PCollection<KV<OrderKey, Example>> in = FindMinHashComponentsTest.input(p, records);
    for (int blocks : new int[] {1, 3, 7}) {
      PAssert.that(FindMinHashComponentsTest.described(in.apply("Blocks" + blocks, FindSemanticComponents.of(rule(blocks))),
          "Describe" + blocks)).containsInAnyOrder(want);
    }
    p.run().waitUntilFinish();
    // the in-memory form of the rule (a chain run in one JVM) decides the same
    List<GateInput> gates = new ArrayList<>();
    records.forEach(e -> gates.add(GateInput.of(e)));
    List<Verdict> mem = rule(5).apply(gates);
    List<String> got = new ArrayList<>();
    for (int i = 0; i < mem.size(); i++) {
      if (mem.get(i) instanceof Verdict.Dropped) {
        got.add(new OrderKey(0, i + 1, 0) + " " + Json.line(mem.get(i)));
      }
    }
    assertEquals(new HashSet<>(want), new HashSet<>(got));
  }

  @Test
  public void blocksAreEvenAndEveryPairMeetsOnce() {
    int blocks = 7;
    int[] count = new int[blocks];
    for (long pos = 1; pos <= 7000; pos++) {
      count[FindSemanticComponents.block(new OrderKey(0, pos, 0), blocks)]++;
    }
    for (int c : count) {
      assertTrue(Arrays.toString(count), c > 850 && c < 1150);
    }
    // two records of blocks a and b meet in groups (min(a, x), max(a, x)) ∩ (min(b, y), max(b, y)); CompareFn
    // compares them in exactly one: the group of a block with itself, or one where they are on opposite sides
    for (int a = 0; a < blocks; a++) {
      for (int b = 0; b < blocks; b++) {
        int compared = 0;
        for (int lo = 0; lo < blocks; lo++) {
          for (int hi = lo; hi < blocks; hi++) {
            boolean aIn = a == lo || a == hi;
            boolean bIn = b == lo || b == hi;
            boolean aRight = lo != hi && a == hi;
            boolean bRight = lo != hi && b == hi;
            if (aIn && bIn && (lo == hi || aRight != bRight)) {
              compared++;
            }
          }
        }
        assertEquals(a + " " + b, 1, compared);
      }
    }
    assertEquals(FindSemanticComponents.pairKey(Embedders.BGE_SMALL_ZH_V15_Q, 2, 5, blocks),
        (Embedders.BGE_SMALL_ZH_V15_Q.ordinal() * blocks + 2) * blocks + 5);
  }

  /** Only one record's embedding, or one block pair's, is ever in one element; no global combine. */
  @Test
  public void noStepGathersRecords() {
    FindMinHashComponentsTest.input(p, List.of(FindMinHashComponentsTest.record("a b c", 1))).apply(FindSemanticComponents.of(rule(4)));
    List<String> views = new ArrayList<>();
    p.traverseTopologically(new Pipeline.PipelineVisitor.Defaults() {
      @Override
      public CompositeBehavior enterCompositeTransform(TransformHierarchy.Node node) {
        check(node);
        return CompositeBehavior.ENTER_TRANSFORM;
      }

      @Override
      public void visitPrimitiveTransform(TransformHierarchy.Node node) {
        check(node);
      }

      private void check(TransformHierarchy.Node node) {
        PTransform<?, ?> t = node.getTransform();
        if (t == null) {
          return;
        }
        assertFalse(node.getFullName(), t instanceof Combine.Globally);
        if (t instanceof View.AsIterable || t instanceof View.AsList || t instanceof View.AsMap
            || t instanceof View.AsMultimap || t instanceof View.AsSingleton) {
          for (PValue v : node.getInputs().values()) {
            assertEquals(node.getFullName(), KvCoder.of(OrderKey.Coder.of(), OrderKey.Coder.of()), ((PCollection<?>) v).getCoder());
          }
          views.add(node.getFullName());
        }
      }
    });
    // the one view is ConnectedComponents' residual label pairs
    assertEquals(1, views.size());
    p.enableAbandonedNodeEnforcement(false);
  }

  @Test
  public void embeddingsRoundTrip() throws Exception {
    for (SemanticDedup.Prepared p1 : List.of(new SemanticDedup.Prepared(Embedders.BGE_SMALL_ZH_V15_Q, new float[0]),
        new SemanticDedup.Prepared(Embedders.ALL_MINILM_L6_V2_Q, new float[] {-0f, 1.5f, Float.MIN_VALUE, -3e-7f}))) {
      SemanticDedup.Prepared back = CoderUtils.decodeFromByteArray(FindSemanticComponents.PreparedCoder.INSTANCE,
          CoderUtils.encodeToByteArray(FindSemanticComponents.PreparedCoder.INSTANCE, p1));
      assertEquals(p1.model(), back.model());
      assertTrue(Arrays.equals(p1.vector(), back.vector()));
    }
  }
}
