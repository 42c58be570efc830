package io.instructflow.filters.dedup;

import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.chain.OrderedRule;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Fuzzy dedup by connected components ({@code minhash_dedup} with {@code "mode": "components"}): two
 * records are linked when they share an LSH band and the exact Jaccard of their shingle sets is at or
 * above the threshold (the same shingles, MinHash family, seeds, bands and verification as
 * {@link MinHashDedup}); in each connected component of those links the earliest record in input order
 * is kept and every other member drops ({@value #REASON}) naming it.
 *
 * <p>Unlike the ordered greedy rule this does not depend on the order of decisions, so it runs as a
 * distributed stage (the {@code filter} command's MinHash components stage); the price is transitivity:
 * with A~B and B~C but not A~C the greedy rule keeps A and C, this rule keeps A only. {@link #apply} is
 * the same rule in one JVM, for chains run in memory.
 *
 * @param hashing the shingles, MinHash family, bands and threshold
 */
public record MinHashComponents(MinHashDedup hashing) implements OrderedRule {
  private static final long serialVersionUID = 1L;

  /** A member of a component that is not its earliest record: dropped, naming the kept one. */
  public static final String REASON = "minhash_dedup.component_duplicate";

  public MinHashComponents {
    Objects.requireNonNull(hashing, "hashing");
  }

  @Override
  public String id() {
    return MinHashDedup.TYPE;
  }

  /** What a record is compared by: its sorted shingle hashes and its band keys. */
  @Override
  public MinHashDedup.Prepared prepare(GateInput g) {
    return (MinHashDedup.Prepared) hashing.prepare(g);
  }

  /** The shuffle keys of a record's bands: distinct per band, so a record meets only same-band records. */
  public long[] buckets(MinHashDedup.Prepared p) {
    long[] out = new long[p.bandKeys().length];
    for (int b = 0; b < out.length; b++) {
      out[b] = MinHashDedup.bucket(b, p.bandKeys()[b]);
    }
    return out;
  }

  /**
   * Links the members of one bucket (their shingle sets, in input order): {@code result[i]} is the
   * earliest member linked to member i through verified pairs of this bucket (i itself when none).
   * Pairs already joined are not verified again, and identical sets join without a comparison, so a
   * bucket of k copies costs k hash look-ups rather than k² comparisons; the links keep exactly the
   * connectivity of all verified pairs of the bucket.
   */
  public int[] link(List<long[]> sets) {
    int n = sets.size();
    int[] parent = new int[n];
    Arrays.setAll(parent, i -> i);
    Map<Integer, List<Integer>> byHash = new HashMap<>();
    List<Integer> distinct = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      List<Integer> same = byHash.computeIfAbsent(Arrays.hashCode(sets.get(i)), h -> new ArrayList<>());
      int twin = -1;
      for (int j : same) {
        if (Arrays.equals(sets.get(j), sets.get(i))) {
          twin = j;
          break;
        }
      }
      if (twin >= 0) {
        UnionFind.union(parent, twin, i);
        continue;
      }
      same.add(i);
      for (int j : distinct) {
        if (UnionFind.find(parent, i) != UnionFind.find(parent, j)
            && MinHashDedup.jaccard(sets.get(j), sets.get(i)) >= hashing.threshold()) {
          UnionFind.union(parent, j, i);
        }
      }
      distinct.add(i);
    }
    int[] out = new int[n];
    for (int i = 0; i < n; i++) {
      out[i] = UnionFind.find(parent, i);
    }
    return out;
  }

  /** The verdict of a member of a component of {@code size} records whose earliest record is the given one. */
  public Verdict.Dropped dropped(String matchedId, String matchedLocation, long size) {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("threshold", hashing.threshold());
    d.put("matched_id", matchedId);
    d.put("matched_location", matchedLocation);
    d.put("component_size", size);
    return new Verdict.Dropped(MinHashDedup.TYPE, REASON, d);
  }

  /** The rule in one JVM: every bucket linked, components by union-find, the earliest member kept. */
  @Override
  public List<Verdict> apply(List<GateInput> items) {
    int n = items.size();
    List<MinHashDedup.Prepared> prepared = new ArrayList<>(n);
    Map<Long, List<Integer>> buckets = new HashMap<>();
    for (int i = 0; i < n; i++) {
      MinHashDedup.Prepared p = prepare(items.get(i));
      prepared.add(p);
      for (long k : buckets(p)) {
        List<Integer> b = buckets.computeIfAbsent(k, x -> new ArrayList<>());
        if (b.isEmpty() || b.get(b.size() - 1) != i) {
          b.add(i);
        }
      }
    }
    int[] parent = new int[n];
    Arrays.setAll(parent, i -> i);
    for (List<Integer> b : buckets.values()) {
      List<long[]> sets = new ArrayList<>(b.size());
      b.forEach(i -> sets.add(prepared.get(i).shingles()));
      int[] root = link(sets);
      for (int k = 0; k < root.length; k++) {
        UnionFind.union(parent, b.get(root[k]), b.get(k));
      }
    }
    long[] size = new long[n];
    for (int i = 0; i < n; i++) {
      size[UnionFind.find(parent, i)]++;
    }
    List<Verdict> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      int r = UnionFind.find(parent, i);
      out.add(r == i ? Verdict.KEPT : dropped(items.get(r).id(), items.get(r).location(), size[r]));
    }
    return out;
  }
}
