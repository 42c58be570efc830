package io.instructflow.pipelines.filter;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.dedup.MinHashComponents;
import io.instructflow.filters.dedup.MinHashDedup;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.runners.TransformHierarchy;
import org.apache.beam.sdk.testing.CoderProperties;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Combine;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PValue;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.junit.Rule;
import org.junit.Test;

/**
 * The MinHash components stage on Beam's runner: its drops equal a plain reference (every pair sharing a
 * band, verified with the exact Jaccard, joined by union-find, the earliest member kept) on seeded data
 * with edit chains, exact copies, empty texts and Chinese text; a chain shows where it differs from the
 * ordered greedy rule; and no step gathers records in one place.
 */
public class FindMinHashComponentsTest {
  @Rule public final transient TestPipeline p = TestPipeline.create();

  static final KvCoder<OrderKey, Example> CODER = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class));

  static Example record(String text, int line) {
    return Example.single(text, null, null, Map.of(),
        new Provenance(new Origin("in", "unknown", "in.jsonl:" + line, null, "instruction", null), List.of()));
  }

  /**
   * Seeded texts: 30 chains of 6 texts, each text two word edits from the one before (neighbours
   * link, texts three edits apart mostly do not), 5 Chinese chains of character edits, 80 unrelated
   * texts, exact copies of 20 of them, and 3 texts with no words; shuffled.
   */
  static List<String> texts(long seed) {
    Random r = new Random(seed);
    List<String> out = new ArrayList<>();
    for (int c = 0; c < 30; c++) {
      List<String> words = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        words.add("w" + r.nextInt(400));
      }
      for (int k = 0; k < 6; k++) {
        out.add(String.join(" ", words));
        for (int e = 0; e < 2; e++) {
          words.set(r.nextInt(words.size()), "w" + r.nextInt(400));
        }
      }
    }
    String han = "天地玄黄宇宙洪荒日月盈昃辰宿列张寒来暑往秋收冬藏闰余成岁律吕调阳云腾致雨露结为霜金生丽水玉出昆冈";
    for (int c = 0; c < 5; c++) {
      char[] s = new char[14];
      for (int i = 0; i < s.length; i++) {
        s[i] = han.charAt(r.nextInt(han.length()));
      }
      for (int k = 0; k < 4; k++) {
        out.add(new String(s));
        s[r.nextInt(s.length)] = han.charAt(r.nextInt(han.length()));
      }
    }
    List<String> single = new ArrayList<>();
    for (int c = 0; c < 80; c++) {
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < 10 + r.nextInt(10); i++) {
        b.append(" v").append(r.nextInt(3000));
      }
      single.add(b.toString().strip());
    }
    out.addAll(single);
    out.addAll(single.subList(0, 20));
    out.addAll(List.of("!!!", "...", "?"));
    Collections.shuffle(out, r);
    return out;
  }

  /** The reference: all pairs sharing a band bucket with Jaccard at or above the threshold, union-find. */
  static List<String> reference(MinHashComponents rule, List<Example> records) {
    int n = records.size();
    List<MinHashDedup.Prepared> prep = new ArrayList<>();
    List<Set<Long>> buckets = new ArrayList<>();
    for (Example e : records) {
      MinHashDedup.Prepared pr = rule.prepare(GateInput.of(e));
      prep.add(pr);
      Set<Long> b = new HashSet<>();
      Arrays.stream(rule.buckets(pr)).forEach(b::add);
      buckets.add(b);
    }
    int[] parent = new int[n];
    Arrays.setAll(parent, i -> i);
    for (int i = 0; i < n; i++) {
      for (int j = i + 1; j < n; j++) {
        if (!Collections.disjoint(buckets.get(i), buckets.get(j))
            && MinHashDedup.jaccard(prep.get(i).shingles(), prep.get(j).shingles()) >= rule.hashing().threshold()) {
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
        out.add(new OrderKey(0, i + 1, 0) + " " + Json.line(rule.dropped(k.id(), k.provenance().origin().location(), size[root])));
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

  static PCollection<KV<OrderKey, Example>> input(Pipeline p, List<Example> records) {
    List<KV<OrderKey, Example>> in = new ArrayList<>();
    for (int i = 0; i < records.size(); i++) {
      in.add(KV.of(new OrderKey(0, i + 1, 0), records.get(i)));
    }
    return p.apply(Create.of(in).withCoder(CODER));
  }

  static PCollection<String> described(PCollection<KV<OrderKey, Verdict>> drops, String name) {
    return drops.apply(name, MapElements.into(TypeDescriptors.strings())
        .via((KV<OrderKey, Verdict> kv) -> kv.getKey() + " " + Json.line(kv.getValue())));
  }

  @Test
  public void dropsEqualTheUnionFindReferenceOnChains() {
    MinHashComponents rule = new MinHashComponents(new MinHashDedup(1, 24, 2, 0.7, true));
    List<Example> records = new ArrayList<>();
    List<String> texts = texts(7);
    for (int i = 0; i < texts.size(); i++) {
      records.add(record(texts.get(i), i + 1));
    }
    List<String> want = reference(rule, records);
    // the data has what it is meant to: chains longer than a pair, and many records in none
    assertTrue(want.size() > 150 && want.size() < records.size() - 100);
    assertTrue(want.stream().anyMatch(s -> s.contains("\"component_size\":6")));
    PCollection<KV<OrderKey, Example>> in = input(p, records);
    PAssert.that(described(in.apply("Default", FindMinHashComponents.of(rule)), "DescribeDefault")).containsInAnyOrder(want);
    PAssert.that(described(in.apply("OneRound", FindMinHashComponents.of(rule).withRounds(1)), "DescribeOne"))
        .containsInAnyOrder(want);
    p.run().waitUntilFinish();
    // the in-memory form of the rule (chains run in one JVM) decides the same
    List<GateInput> gates = new ArrayList<>();
    records.forEach(e -> gates.add(GateInput.of(e)));
    List<Verdict> mem = rule.apply(gates);
    List<String> got = new ArrayList<>();
    for (int i = 0; i < mem.size(); i++) {
      if (mem.get(i) instanceof Verdict.Dropped) {
        got.add(new OrderKey(0, i + 1, 0) + " " + Json.line(mem.get(i)));
      }
    }
    assertEquals(new HashSet<>(want), new HashSet<>(got));
  }

  /**
   * A shingle set travels only to the distinct shared buckets of its record: none for a record whose
   * every band bucket holds it alone, once for a bucket met again in another band with the same members.
   */
  @Test
  public void shingleSetsGoOnlyToDistinctSharedBuckets() {
    MinHashComponents rule = new MinHashComponents(new MinHashDedup(1, 24, 2, 0.7, true));
    List<Example> records = new ArrayList<>();
    List<String> texts = texts(11);
    for (int i = 0; i < texts.size(); i++) {
      records.add(record(texts.get(i), i + 1));
    }
    Map<Long, List<Integer>> byBand = new java.util.HashMap<>();
    for (int i = 0; i < records.size(); i++) {
      for (long b : rule.buckets(rule.prepare(GateInput.of(records.get(i))))) {
        byBand.computeIfAbsent(b, k -> new ArrayList<>()).add(i);
      }
    }
    Set<List<Integer>> distinct = new HashSet<>();
    byBand.values().stream().filter(m -> m.size() > 1).forEach(distinct::add);
    long want = distinct.stream().mapToLong(List::size).sum();
    long everyBand = (long) records.size() * rule.hashing().bands();
    // the data has what it is meant to: shared buckets, and far fewer copies than one per band
    assertTrue(want > 100 && want * 4 < everyBand);
    input(p, records).apply(FindMinHashComponents.of(rule));
    org.apache.beam.sdk.PipelineResult result = p.run();
    result.waitUntilFinish();
    assertEquals(want, counter(result, "shingle_sets_sent"));
    assertEquals(distinct.size(), counter(result, "distinct_buckets"));
  }

  static long counter(org.apache.beam.sdk.PipelineResult result, String name) {
    var q = result.metrics().queryMetrics(org.apache.beam.sdk.metrics.MetricsFilter.builder()
        .addNameFilter(org.apache.beam.sdk.metrics.MetricNameFilter.named(FindMinHashComponents.NAMESPACE, name)).build());
    long sum = 0;
    for (var c : q.getCounters()) {
      sum += c.getAttempted();
    }
    return sum;
  }

  /** A~B and B~C but not A~C: the components rule keeps A only, the ordered greedy rule keeps A and C. */
  @Test
  public void aChainKeepsItsFirstRecordOnlyWhereTheGreedyRuleKeepsTwo() {
    MinHashDedup hashing = new MinHashDedup(1, 40, 2, 0.6, true);
    MinHashComponents rule = new MinHashComponents(hashing);
    List<Example> records = List.of(record("alpha beta gamma delta", 1), record("alpha beta gamma delta epsilon zeta", 2),
        record("gamma delta epsilon zeta", 3), record("something else entirely here", 4));
    List<GateInput> gates = new ArrayList<>();
    records.forEach(e -> gates.add(GateInput.of(e)));
    List<Verdict> greedy = hashing.apply(gates);
    assertEquals(List.of(true, false, true, true), greedy.stream().map(v -> v instanceof Verdict.Kept).toList());
    Verdict drop = rule.dropped(records.get(0).id(), "in.jsonl:1", 3);
    List<String> want = List.of(new OrderKey(0, 2, 0) + " " + Json.line(drop), new OrderKey(0, 3, 0) + " " + Json.line(drop));
    assertEquals(want, reference(rule, records));
    PAssert.that(described(input(p, records).apply(FindMinHashComponents.of(rule)), "Describe")).containsInAnyOrder(want);
    p.run().waitUntilFinish();
  }

  /** Only pairs of record keys ever meet in one element; no global combine at all. */
  @Test
  public void noStepGathersRecords() {
    MinHashComponents rule = new MinHashComponents(new MinHashDedup(5, 20, 5, 0.8, false));
    input(p, List.of(record("a b c", 1))).apply(FindMinHashComponents.of(rule));
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
            Coder<?> c = ((PCollection<?>) v).getCoder();
            assertEquals(node.getFullName(), KvCoder.of(OrderKey.Coder.of(), OrderKey.Coder.of()), c);
          }
          views.add(node.getFullName());
        }
      }
    });
    assertEquals(1, views.size());
    p.enableAbandonedNodeEnforcement(false);
  }

  @Test
  public void longArraysRoundTrip() throws Exception {
    CoderProperties.coderDecodeEncodeEqual(FindMinHashComponents.LongArrayCoder.INSTANCE, new long[] {});
    CoderProperties.coderDecodeEncodeEqual(FindMinHashComponents.LongArrayCoder.INSTANCE, new long[] {Long.MIN_VALUE, -1, 0, 7, Long.MAX_VALUE});
  }
}
