package io.instructflow.pipelines.blend;

import io.instructflow.pipelines.io.OrderKey;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link BlendPlan}'s rules applied by sorting everything in one place: the definition the distributed
 * {@link BlendPlanner} is checked against (it was the blend's own plan until the planner replaced it).
 */
final class BlendPlanReference {
  private BlendPlanReference() {}

  /**
   * The plan.
   *
   * @param decisions by input position
   * @param quotas the quota computation
   * @param splitRows rows per split
   */
  public record Plan(Map<OrderKey, BlendPlan.Decision> decisions, Quotas.Result quotas, Map<String, Long> splitRows) {}

  /** Makes the plan for {@code spec} over {@code items} (any order). */
  public static Plan make(BlendSpec spec, List<BlendPlan.Item> items) {
    List<BlendPlan.Item> all = new ArrayList<>(items);
    all.sort(Comparator.comparingInt(BlendPlan.Item::source).thenComparing(BlendPlan.Item::key));
    int ns = spec.sources().size();
    Map<OrderKey, BlendPlan.Decision> out = new LinkedHashMap<>();
    List<List<BlendPlan.Item>> live = new ArrayList<>();
    for (int s = 0; s < ns; s++) {
      live.add(new ArrayList<>());
    }
    Map<String, BlendPlan.Item> first = new HashMap<>();
    for (BlendPlan.Item it : all) {
      BlendPlan.Item seen = spec.dedup() ? first.putIfAbsent(it.dedupKey(), it) : null;
      if (seen == null) {
        live.get(it.source()).add(it);
        continue;
      }
      Map<String, Object> ev = new LinkedHashMap<>();
      ev.put("matched_id", seen.id());
      ev.put("matched_location", seen.location());
      ev.put("matched_source", spec.sources().get(seen.source()).name());
      out.put(it.key(), new BlendPlan.Decision("duplicate", spec.sources().get(it.source()).name(), null, List.of(), ev));
    }
    List<Quotas.Input> qin = new ArrayList<>();
    for (int s = 0; s < ns; s++) {
      BlendSpec.Source src = spec.sources().get(s);
      List<BlendPlan.Item> l = live.get(s);
      double mean = l.isEmpty() ? 0 : l.stream().mapToLong(BlendPlan.Item::tokens).sum() / (double) l.size();
      qin.add(new Quotas.Input(src.name(), l.size(), src.weight(), src.fraction(), src.count(), src.cap(), src.upsample(), mean));
    }
    Quotas.Result q = Quotas.compute(qin, spec.target(), spec.targetTokens(), spec.temperature());
    Map<OrderKey, Long> copies = new HashMap<>();
    List<List<BlendPlan.Item>> selected = new ArrayList<>();
    long distinct = 0;
    for (int s = 0; s < ns; s++) {
      List<BlendPlan.Item> ranked = new ArrayList<>(live.get(s));
      ranked.sort(Comparator.comparingLong((BlendPlan.Item it) -> BlendPlan.keyed(BlendPlan.SELECT, spec.seed(), it.id(), 0)).thenComparing(BlendPlan.Item::key));
      Quotas.Quota quota = q.quotas().get(s);
      List<BlendPlan.Item> sel = new ArrayList<>();
      for (int r = 0; r < ranked.size(); r++) {
        BlendPlan.Item it = ranked.get(r);
        long c = quota.fullCopies() + (r < quota.remainder() ? 1 : 0);
        if (c > 0) {
          copies.put(it.key(), c);
          sel.add(it);
        } else {
          Map<String, Object> ev = new LinkedHashMap<>();
          ev.put("quota", quota.rows());
          ev.put("available", quota.available());
          ev.put("rank", r);
          out.put(it.key(), new BlendPlan.Decision("not_selected", spec.sources().get(s).name(), null, List.of(), ev));
        }
      }
      selected.add(sel);
      distinct += sel.size();
    }
    long val = spec.validation() >= 1 ? Math.min((long) spec.validation(), distinct) : Math.round(spec.validation() * distinct);
    long[] perSource = BlendPlan.largestRemainder(val, selected.stream().mapToLong(List::size).toArray());
    List<List<Object[]>> rows = List.of(new ArrayList<>(), new ArrayList<>());
    Map<OrderKey, String> splitOf = new HashMap<>();
    for (int s = 0; s < ns; s++) {
      List<BlendPlan.Item> sel = new ArrayList<>(selected.get(s));
      sel.sort(Comparator.comparingLong((BlendPlan.Item it) -> BlendPlan.keyed(BlendPlan.SPLIT, spec.seed(), it.id(), 0)).thenComparing(BlendPlan.Item::key));
      for (int r = 0; r < sel.size(); r++) {
        BlendPlan.Item it = sel.get(r);
        int split = r < perSource[s] ? 1 : 0;
        splitOf.put(it.key(), BlendPlan.SPLITS.get(split));
        for (long c = 0; c < copies.get(it.key()); c++) {
          rows.get(split).add(new Object[] {BlendPlan.keyed(BlendPlan.ORDER, spec.seed(), it.id(), c), it, c});
        }
      }
    }
    Map<OrderKey, List<Long>> positions = new HashMap<>();
    Map<String, Long> splitRows = new LinkedHashMap<>();
    for (int split = 0; split < 2; split++) {
      List<Object[]> l = rows.get(split);
      l.sort(Comparator.comparingLong((Object[] o) -> (Long) o[0]).thenComparing(o -> ((BlendPlan.Item) o[1]).key())
          .thenComparingLong(o -> (Long) o[2]));
      for (int pos = 0; pos < l.size(); pos++) {
        BlendPlan.Item it = (BlendPlan.Item) l.get(pos)[1];
        int c = (int) (long) (Long) l.get(pos)[2];
        List<Long> p = positions.computeIfAbsent(it.key(), k -> new ArrayList<>());
        while (p.size() <= c) {
          p.add(-1L);
        }
        p.set(c, (long) pos);
      }
      splitRows.put(BlendPlan.SPLITS.get(split), (long) l.size());
    }
    for (int s = 0; s < ns; s++) {
      for (BlendPlan.Item it : selected.get(s)) {
        out.put(it.key(), new BlendPlan.Decision("selected", spec.sources().get(s).name(), splitOf.get(it.key()),
            positions.get(it.key()), Map.of()));
      }
    }
    return new Plan(out, q, splitRows);
  }

}
