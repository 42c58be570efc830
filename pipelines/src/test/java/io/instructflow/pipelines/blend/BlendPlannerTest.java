package io.instructflow.pipelines.blend;

import static org.junit.Assert.assertEquals;

import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.testing.CoderProperties;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionView;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * The distributed blend plan gives exactly the decisions and the report of sorting everything in one
 * place ({@link BlendPlanReference}), on Beam's runner, for dedup on and off, upsampling, fixed and
 * fractional validation, row and token targets.
 */
public class BlendPlannerTest {
  @Rule public final transient TestPipeline p = TestPipeline.create();
  @Rule public final transient TemporaryFolder tmp = new TemporaryFolder();

  /** Sources of 400, 60 and 900 records; some texts repeat within and across sources, some ids repeat. */
  static List<BlendPlan.Item> items(long seed) {
    Random r = new Random(seed);
    List<BlendPlan.Item> out = new ArrayList<>();
    int[] sizes = {400, 60, 900};
    for (int s = 0; s < sizes.length; s++) {
      for (int i = 0; i < sizes[s]; i++) {
        String text = r.nextInt(10) == 0 ? "common-" + r.nextInt(40) : "text-" + s + "-" + i;
        String id = r.nextInt(25) == 0 ? "shared-id-" + r.nextInt(5) : "id-" + s + "-" + i;
        out.add(new BlendPlan.Item(new OrderKey(s, i + 1, r.nextInt(8) == 0 ? 1 : 0), s, id, "f" + s + ".jsonl:" + (i + 1),
            text, 5 + r.nextInt(200)));
      }
    }
    Collections.shuffle(out, r);
    return out;
  }

  static BlendSpec spec(Map<String, Object> top) {
    return BlendSpec.parse(Json.tree(top), Path.of("/tmp"), "{}", "t");
  }

  static List<String> described(Map<OrderKey, BlendPlan.Decision> decisions) {
    List<String> out = new ArrayList<>();
    decisions.forEach((k, d) -> out.add(k + " " + Json.line(d)));
    return out;
  }

  private void check(BlendSpec spec, List<BlendPlan.Item> in) throws IOException {
    BlendPlanReference.Plan ref = BlendPlanReference.make(spec, in);
    Path plan = tmp.getRoot().toPath().resolve("plan.json");
    PCollectionView<Long> count = p.apply("Count", Create.of((long) in.size())).apply("CountView", View.asSingleton());
    PCollection<KV<OrderKey, BlendPlan.Decision>> got = p.apply(Create.of(in).withCoder(BlendPlan.ItemCoder.INSTANCE))
        .apply(new BlendPlanner(spec, plan.toString(), count));
    PAssert.that(got.apply(MapElements.into(TypeDescriptors.strings())
        .via((KV<OrderKey, BlendPlan.Decision> kv) -> kv.getKey() + " " + Json.line(kv.getValue()))))
        .containsInAnyOrder(described(ref.decisions()));
    p.run().waitUntilFinish();
    BlendReport report = BlendReport.read(plan.toString());
    assertEquals(ref.splitRows(), report.splitRows());
    long distinct = 0;
    for (int s = 0; s < spec.sources().size(); s++) {
      String name = spec.sources().get(s).name();
      long dup = 0;
      long sel = 0;
      long val = 0;
      for (BlendPlan.Decision d : ref.decisions().values()) {
        if (d.source().equals(name)) {
          dup += d.outcome().equals("duplicate") ? 1 : 0;
          sel += d.outcome().equals("selected") ? 1 : 0;
          val += "validation".equals(d.split()) ? 1 : 0;
        }
      }
      BlendReport.SourceReport sr = report.sources().get(s);
      assertEquals(name, dup, sr.duplicates());
      assertEquals(name, sel, sr.selected());
      assertEquals(name, val, sr.validation());
      assertEquals(name, ref.quotas().quotas().get(s).rows(), sr.rows());
      distinct += sel;
    }
    assertEquals(distinct, report.distinct());
    assertEquals(ref.quotas().notes(), report.notes());
    Files.delete(plan);
  }

  @Test
  public void dedupUpsamplingAndFractionalValidationMatchTheReference() throws IOException {
    check(spec(Map.of("target", 1500, "seed", 7, "validation", 0.05, "sources", List.of(
        Map.of("path", "a", "weight", 2), Map.of("path", "b", "weight", 1, "upsample", true), Map.of("path", "c", "weight", 3)))),
        items(1));
  }

  @Test
  public void noDedupRepeatedIdsAndFixedValidationMatchTheReference() throws IOException {
    check(spec(Map.of("target", 700, "seed", 11, "dedup", false, "validation", 25, "temperature", 2.0, "sources", List.of(
        Map.of("path", "a"), Map.of("path", "b", "upsample", true), Map.of("path", "c", "cap", 150)))),
        items(2));
  }

  @Test
  public void tokenTargetMatchesTheReference() throws IOException {
    check(spec(Map.of("targetTokens", 60_000, "seed", 3, "validation", 0.1, "sources", List.of(
        Map.of("path", "a", "weight", 1), Map.of("path", "b", "weight", 1, "upsample", true), Map.of("path", "c", "weight", 1)))),
        items(3));
  }

  /** Ranks equal a full sort, over many buckets, with hashes that spread and hashes that repeat. */
  @Test
  public void hashRankEqualsAFullSort() {
    Random r = new Random(5);
    List<Long> in = new ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      in.add(i % 3 == 0 ? r.nextLong() : (long) r.nextInt(50));
    }
    List<String> want = new ArrayList<>();
    for (int g = 0; g < 2; g++) {
      List<Long> group = new ArrayList<>();
      for (long v : in) {
        if (Math.floorMod(v, 2) == g) {
          group.add(v);
        }
      }
      Collections.sort(group);
      for (int i = 0; i < group.size(); i++) {
        // equal values are ranked by their tie order, here the value itself: any order of equals is the same list
        want.add(group.get(i) + "@" + i);
      }
    }
    PCollection<KV<Long, Long>> ranked = p.apply(Create.of(in).withCoder(VarLongCoder.of()))
        .apply(HashRank.by(new ParityKeys()).withBucketSize(64));
    PAssert.that(ranked.apply(MapElements.into(TypeDescriptors.strings())
        .via((KV<Long, Long> kv) -> kv.getKey() + "@" + kv.getValue()))).containsInAnyOrder(want);
    p.run().waitUntilFinish();
  }

  /** Bucketed grouping gives what a GroupByKey gives, over many buckets. */
  @Test
  public void bucketGroupEqualsGroupByKey() {
    List<KV<String, Long>> in = new ArrayList<>();
    java.util.TreeMap<String, List<Long>> want = new java.util.TreeMap<>();
    for (long i = 0; i < 2000; i++) {
      String k = "k" + (i * 7919 % 613);
      in.add(KV.of(k, i));
      want.computeIfAbsent(k, x -> new ArrayList<>()).add(i);
    }
    PCollectionView<Long> n = p.apply("N", Create.of(2000L)).apply(View.asSingleton());
    PCollection<KV<String, Iterable<Long>>> got = p.apply(Create.of(in).withCoder(KvCoder.of(StringUtf8Coder.of(), VarLongCoder.of())))
        .apply(BucketGroup.<String, Long, Long>of(BlendPlan::hash, n, x -> x).withBucketSize(40));
    List<String> described = new ArrayList<>();
    want.forEach((k, v) -> described.add(k + "=" + v));
    PAssert.that(got.apply(MapElements.into(TypeDescriptors.strings()).via((KV<String, Iterable<Long>> kv) -> {
      List<Long> v = new ArrayList<>();
      kv.getValue().forEach(v::add);
      Collections.sort(v);
      return kv.getKey() + "=" + v;
    }))).containsInAnyOrder(described);
    p.run().waitUntilFinish();
  }

  /** Groups longs by parity; the value is its own hash. */
  static final class ParityKeys implements HashRank.Keys<Long> {
    private static final long serialVersionUID = 1L;

    @Override
    public int group(Long t) {
      return (int) Math.floorMod(t, 2L);
    }

    @Override
    public long hash(Long t) {
      return t;
    }

    @Override
    public int tie(Long a, Long b) {
      return 0;
    }
  }

  @Test
  public void codersRoundTrip() throws Exception {
    BlendPlan.Item it = new BlendPlan.Item(new OrderKey(2, 99, 1), 1, "id-è", "f.jsonl:99", "k", 42);
    CoderProperties.coderDecodeEncodeEqual(BlendPlan.ItemCoder.INSTANCE, it);
    CoderProperties.coderDecodeEncodeEqual(BlendPlan.EntryCoder.INSTANCE, new BlendPlan.Entry(it, 3, -1, 0));
    CoderProperties.coderDecodeEncodeEqual(KvCoder.of(BlendPlan.EntryCoder.INSTANCE, VarLongCoder.of()),
        KV.of(new BlendPlan.Entry(it, 3, 1, 2), 17L));
  }
}
