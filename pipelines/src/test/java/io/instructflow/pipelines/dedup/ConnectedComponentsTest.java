package io.instructflow.pipelines.dedup;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarLongCoder;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.junit.Rule;
import org.junit.Test;

/**
 * The distributed components equal union-find's on graphs with long paths (which need more rounds
 * than given, so the residual merge must finish them), stars, cliques, loops and repeated edges, for
 * 0, 1 and the default number of rounds.
 */
public class ConnectedComponentsTest {
  @Rule public final transient TestPipeline p = TestPipeline.create();

  /** A seeded graph: a path of 120 nodes in shuffled order, random small clusters, a clique, loops, repeats. */
  static List<KV<Long, Long>> graph(long seed) {
    Random r = new Random(seed);
    List<KV<Long, Long>> e = new ArrayList<>();
    List<Long> path = new ArrayList<>();
    for (long i = 0; i < 120; i++) {
      path.add(1000 + i * 7 % 120);
    }
    java.util.Collections.shuffle(path, r);
    for (int i = 1; i < path.size(); i++) {
      e.add(KV.of(path.get(i - 1), path.get(i)));
    }
    for (int c = 0; c < 25; c++) {
      long base = 5000 + c * 20L;
      int size = 2 + r.nextInt(8);
      for (int k = 0; k < size; k++) {
        long a = base + r.nextInt(12);
        long b = base + r.nextInt(12);
        e.add(r.nextBoolean() ? KV.of(a, b) : KV.of(b, a));
      }
    }
    for (long a = 9000; a < 9012; a++) {
      for (long b = a + 1; b < 9012; b++) {
        e.add(KV.of(b, a));
      }
    }
    e.add(KV.of(7L, 7L));
    e.add(KV.of(8L, 9L));
    e.add(KV.of(9L, 8L));
    e.add(KV.of(8L, 9L));
    return e;
  }

  /** Union-find: every node with a non-loop edge, with its component's smallest node. */
  static List<KV<Long, Long>> reference(List<KV<Long, Long>> edges) {
    java.util.Map<Long, Long> parent = new java.util.HashMap<>();
    for (KV<Long, Long> e : edges) {
      if (e.getKey().equals(e.getValue())) {
        continue;
      }
      long a = find(parent, e.getKey());
      long b = find(parent, e.getValue());
      parent.put(Math.max(a, b), Math.min(a, b));
      parent.putIfAbsent(Math.min(a, b), Math.min(a, b));
    }
    List<KV<Long, Long>> out = new ArrayList<>();
    for (long n : parent.keySet()) {
      out.add(KV.of(n, find(parent, n)));
    }
    return out;
  }

  private static long find(java.util.Map<Long, Long> parent, long x) {
    parent.putIfAbsent(x, x);
    while (parent.get(x) != x) {
      x = parent.get(x);
    }
    return x;
  }

  @Test
  public void labelsEqualUnionFindForAnyNumberOfRounds() {
    List<KV<Long, Long>> edges = graph(23);
    List<KV<Long, Long>> want = reference(edges);
    PCollection<KV<Long, Long>> in = p.apply(Create.of(edges).withCoder(KvCoder.of(VarLongCoder.of(), VarLongCoder.of())));
    for (int rounds : new int[] {0, 1, ConnectedComponents.ROUNDS}) {
      PAssert.that("rounds " + rounds, in.apply("Components" + rounds,
          ConnectedComponents.of(VarLongCoder.of()).withRounds(rounds))).containsInAnyOrder(want);
    }
    p.run().waitUntilFinish();
  }
}
