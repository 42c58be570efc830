package io.instructflow.pipelines.filter;

import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.io.Serializable;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.join.CoGbkResult;
import org.apache.beam.sdk.transforms.join.CoGroupByKey;
import org.apache.beam.sdk.transforms.join.KeyedPCollectionTuple;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The last steps of a distributed components rule ({@link FindMinHashComponents},
 * {@link FindSemanticComponents}; issue 20): from each linked record's component, named by the component's
 * earliest record, to the verdicts of the members other than that earliest record, each naming it.
 *
 * <p>Steps, applied in the caller's {@code expand} so that their names stay the caller's: {@code Refs}
 * (every record's reference, {@link Naming#ref}), {@code ByLabel} (member to component), {@code ByComponent}
 * (a CoGroupByKey of each component's members with its earliest record's reference) and {@code Drops}
 * (one verdict per member but the earliest, {@link Naming#dropped}). Counters, in the rule's namespace:
 * {@code components} (components of two or more records) and {@code dropped} (verdicts).
 *
 * <pre>{@code
 * return ComponentDrops.of(records, labels, NAMESPACE, new MinHashNaming(rule));
 * }</pre>
 */
final class ComponentDrops {
  private ComponentDrops() {}

  /** What the earliest record of a component says in its members' verdicts: the rule's part. */
  interface Naming extends Serializable {
    /** The reference a record gives when it is the earliest of a component: two strings, either may be null. */
    KV<String, String> ref(Example e);

    /** The verdict of a member of a component of {@code size} records whose earliest record gave {@code ref}. */
    Verdict dropped(KV<String, String> ref, long size);
  }

  /**
   * The verdicts of the later members of every component.
   *
   * @param records every record, keyed by input place
   * @param labels each linked record with the earliest record of its component ({@code ConnectedComponents})
   * @param namespace the rule's metrics namespace
   */
  static PCollection<KV<OrderKey, Verdict>> of(PCollection<KV<OrderKey, Example>> records,
      PCollection<KV<OrderKey, OrderKey>> labels, String namespace, Naming naming) {
    NullableCoder<String> str = NullableCoder.of(StringUtf8Coder.of());
    PCollection<KV<OrderKey, KV<String, String>>> refs = records
        .apply("Refs", ParDo.of(new RefFn(naming))).setCoder(KvCoder.of(OrderKey.Coder.of(), KvCoder.of(str, str)));
    PCollection<KV<OrderKey, OrderKey>> byLabel = labels.apply("ByLabel", ParDo.of(new SwapFn()))
        .setCoder(KvCoder.of(OrderKey.Coder.of(), OrderKey.Coder.of()));
    TupleTag<OrderKey> memberTag = new TupleTag<>() {};
    TupleTag<KV<String, String>> refTag = new TupleTag<>() {};
    return KeyedPCollectionTuple.of(memberTag, byLabel).and(refTag, refs)
        .apply("ByComponent", CoGroupByKey.create())
        .apply("Drops", ParDo.of(new DropFn(namespace, naming, memberTag, refTag)))
        .setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Verdict.class)));
  }

  /** A record's reference. */
  static final class RefFn extends DoFn<KV<OrderKey, Example>, KV<OrderKey, KV<String, String>>> {
    private static final long serialVersionUID = 1L;
    private final Naming naming;

    RefFn(Naming naming) {
      this.naming = naming;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, OutputReceiver<KV<OrderKey, KV<String, String>>> out) {
      out.output(KV.of(kv.getKey(), naming.ref(kv.getValue())));
    }
  }

  /** (node, label) to (label, node). */
  static final class SwapFn extends DoFn<KV<OrderKey, OrderKey>, KV<OrderKey, OrderKey>> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<OrderKey, OrderKey> kv, OutputReceiver<KV<OrderKey, OrderKey>> out) {
      out.output(KV.of(kv.getValue(), kv.getKey()));
    }
  }

  /** The verdicts of a component's members other than its earliest record, which they name. */
  static final class DropFn extends DoFn<KV<OrderKey, CoGbkResult>, KV<OrderKey, Verdict>> {
    private static final long serialVersionUID = 1L;
    private final Naming naming;
    private final TupleTag<OrderKey> memberTag;
    private final TupleTag<KV<String, String>> refTag;
    private final Counter components;
    private final Counter dropped;

    DropFn(String namespace, Naming naming, TupleTag<OrderKey> memberTag, TupleTag<KV<String, String>> refTag) {
      this.naming = naming;
      this.memberTag = memberTag;
      this.refTag = refTag;
      this.components = Metrics.counter(namespace, "components");
      this.dropped = Metrics.counter(namespace, "dropped");
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, CoGbkResult> g, OutputReceiver<KV<OrderKey, Verdict>> out) {
      Iterable<OrderKey> members = g.getValue().getAll(memberTag);
      long size = 0;
      for (OrderKey ignored : members) {
        size++;
      }
      if (size == 0) {
        return;
      }
      components.inc();
      Verdict v = naming.dropped(g.getValue().getOnly(refTag), size);
      for (OrderKey m : members) {
        if (!m.equals(g.getKey())) {
          dropped.inc();
          out.output(KV.of(m, v));
        }
      }
    }
  }
}
