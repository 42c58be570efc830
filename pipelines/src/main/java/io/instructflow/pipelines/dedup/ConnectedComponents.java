package io.instructflow.pipelines.dedup;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PCollectionView;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * Connected components of an undirected graph given as edges: every node that has an edge, with the
 * smallest node of its component (its label). Exact for any input and any number of rounds.
 *
 * <p>Algorithm. Each of the {@code rounds} rounds is one GroupByKey of the edges by node: a node u with
 * neighbours N(u) links every node of N(u) ∪ {u} to m(u) = min(N(u) ∪ {u}) (a "star" at the smallest
 * node it sees) and drops its other edges. Connectivity is unchanged (u and each neighbour stay joined
 * through m(u)) and the distance to the component minimum about halves per round, so a path of d
 * edges becomes a star in about log₂ d rounds. Then one more GroupByKey gives each node v the labels
 * M(v) = {m(u) : u ∈ N(v) ∪ {v}}; where M(v) has more than one label, those labels belong to one
 * component and are merged: these residual pairs (none once every component is a star, usually a
 * handful) are merged by union-find in each worker from a side input, and v's label is the root of
 * min M(v). The result is exact whatever the residual: every label is a node of its component, equal
 * across every edge, so constant on the component, and the component's minimum keeps itself as
 * label. The rounds only decide how much is left for the residual.
 *
 * <p>Memory: one node's neighbourhood per group (a component's size, at most, for its smallest node),
 * and each worker holds the residual pairs. Nothing holds all nodes or all edges.
 *
 * <pre>{@code
 * PCollection<KV<Long, Long>> labels = edges.apply("Components", ConnectedComponents.of(VarLongCoder.of()));
 * }</pre>
 *
 * @param <K> node; its coder must be deterministic, and its order picks the label
 */
public final class ConnectedComponents<K extends Comparable<K>> extends PTransform<PCollection<KV<K, K>>, PCollection<KV<K, K>>> {
  private static final long serialVersionUID = 1L;

  /** Rounds of star linking before the residual merge. */
  public static final int ROUNDS = 6;

  static final String NAMESPACE = "components";

  private final Coder<K> coder;
  private final int rounds;

  private ConnectedComponents(Coder<K> coder, int rounds) {
    this.coder = Objects.requireNonNull(coder, "coder");
    if (rounds < 0) {
      throw new IllegalArgumentException("rounds must be >= 0, got " + rounds);
    }
    this.rounds = rounds;
  }

  /** Components of nodes coded by {@code coder}, with {@value #ROUNDS} rounds. */
  public static <K extends Comparable<K>> ConnectedComponents<K> of(Coder<K> coder) {
    return new ConnectedComponents<>(coder, ROUNDS);
  }

  /** The same with {@code rounds} rounds (any number gives the same labels; fewer leaves more residual). */
  public ConnectedComponents<K> withRounds(int rounds) {
    return new ConnectedComponents<>(coder, rounds);
  }

  @Override
  public PCollection<KV<K, K>> expand(PCollection<KV<K, K>> edges) {
    KvCoder<K, K> kv = KvCoder.of(coder, coder);
    PCollection<KV<K, K>> now = edges;
    for (int r = 0; r < rounds; r++) {
      now = now.apply("Both" + r, ParDo.of(new BothFn<K>())).setCoder(kv)
          .apply("ByNode" + r, GroupByKey.create())
          .apply("Star" + r, ParDo.of(new StarFn<K>())).setCoder(kv);
    }
    TupleTag<KV<K, K>> nodes = new TupleTag<>() {};
    TupleTag<KV<K, K>> pairs = new TupleTag<>() {};
    PCollectionTuple seen = now.apply("BothFinal", ParDo.of(new BothFn<K>())).setCoder(kv)
        .apply("ByNodeFinal", GroupByKey.create())
        .apply("Tell", ParDo.of(new TellFn<K>())).setCoder(kv)
        .apply("LabelsSeen", GroupByKey.create())
        .apply("Seen", ParDo.of(new SeenFn<K>(nodes, pairs)).withOutputTags(nodes, TupleTagList.of(pairs)));
    PCollectionView<Iterable<KV<K, K>>> residual = seen.get(pairs).setCoder(kv).apply("Residual", View.asIterable());
    return seen.get(nodes).setCoder(kv)
        .apply("Label", ParDo.of(new LabelFn<K>(residual)).withSideInputs(residual)).setCoder(kv);
  }

  /** An edge in both directions (a loop is dropped). */
  static final class BothFn<K extends Comparable<K>> extends DoFn<KV<K, K>, KV<K, K>> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<K, K> e, OutputReceiver<KV<K, K>> out) {
      if (e.getKey().compareTo(e.getValue()) != 0) {
        out.output(e);
        out.output(KV.of(e.getValue(), e.getKey()));
      }
    }
  }

  /** A node and its neighbours, in order. */
  static <K extends Comparable<K>> TreeSet<K> closedNeighbourhood(KV<K, Iterable<K>> g) {
    TreeSet<K> closed = new TreeSet<>();
    closed.add(g.getKey());
    g.getValue().forEach(closed::add);
    return closed;
  }

  /** A node links its closed neighbourhood to its smallest member. */
  static final class StarFn<K extends Comparable<K>> extends DoFn<KV<K, Iterable<K>>, KV<K, K>> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<K, Iterable<K>> g, OutputReceiver<KV<K, K>> out) {
      TreeSet<K> closed = closedNeighbourhood(g);
      K m = closed.first();
      for (K v : closed.tailSet(m, false)) {
        out.output(KV.of(v, m));
      }
    }
  }

  /** A node tells each member of its closed neighbourhood its smallest member m(u). */
  static final class TellFn<K extends Comparable<K>> extends DoFn<KV<K, Iterable<K>>, KV<K, K>> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<K, Iterable<K>> g, OutputReceiver<KV<K, K>> out) {
      TreeSet<K> closed = closedNeighbourhood(g);
      K m = closed.first();
      for (K v : closed) {
        out.output(KV.of(v, m));
      }
    }
  }

  /**
   * A node's labels seen, M(v): (v, min M(v)) to {@code nodes}, and (x, min M(v)) for every other label
   * x to {@code residual}.
   */
  static final class SeenFn<K extends Comparable<K>> extends DoFn<KV<K, Iterable<K>>, KV<K, K>> {
    private static final long serialVersionUID = 1L;
    private final Counter residualPairs = Metrics.counter(NAMESPACE, "residual_pairs");
    private final TupleTag<KV<K, K>> nodes;
    private final TupleTag<KV<K, K>> residual;

    SeenFn(TupleTag<KV<K, K>> nodes, TupleTag<KV<K, K>> residual) {
      this.nodes = nodes;
      this.residual = residual;
    }

    @ProcessElement
    public void process(@Element KV<K, Iterable<K>> g, MultiOutputReceiver out) {
      TreeSet<K> seen = new TreeSet<>();
      g.getValue().forEach(seen::add);
      K m = seen.first();
      out.get(nodes).output(KV.of(g.getKey(), m));
      for (K x : seen.tailSet(m, false)) {
        residualPairs.inc();
        out.get(residual).output(KV.of(x, m));
      }
    }
  }

  /** A node's final label: the union-find root (over the residual pairs) of its smallest label seen. */
  static final class LabelFn<K extends Comparable<K>> extends DoFn<KV<K, K>, KV<K, K>> {
    private static final long serialVersionUID = 1L;
    private final PCollectionView<Iterable<KV<K, K>>> residual;
    private transient Map<K, K> merged;

    LabelFn(PCollectionView<Iterable<KV<K, K>>> residual) {
      this.residual = residual;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      if (merged == null) {
        merged = merge(c.sideInput(residual));
      }
      c.output(KV.of(c.element().getKey(), root(merged, c.element().getValue())));
    }
  }

  /** Union-find over labels; the smaller label is the root. */
  static <K extends Comparable<K>> K root(Map<K, K> parent, K x) {
    K r = x;
    for (K p = parent.get(r); p != null; p = parent.get(r)) {
      r = p;
    }
    return r;
  }

  static <K extends Comparable<K>> Map<K, K> merge(Iterable<KV<K, K>> pairs) {
    Map<K, K> parent = new HashMap<>();
    for (KV<K, K> p : pairs) {
      K a = root(parent, p.getKey());
      K b = root(parent, p.getValue());
      int c = a.compareTo(b);
      if (c < 0) {
        parent.put(b, a);
      } else if (c > 0) {
        parent.put(a, b);
      }
    }
    return parent;
  }
}
