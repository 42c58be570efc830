package io.instructflow.pipelines.stage;

import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.transforms.join.RawUnionValue;
import org.apache.beam.sdk.transforms.join.UnionCoder;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PCollectionView;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * A decision over all of a stage's records at once, joined back to them: the one skeleton of
 * {@code filter}'s order-dependent rules, {@code dedup --strategy components} and {@code blend}.
 * <ol>
 *   <li>{@code Decide}: a decider turns the records into decisions keyed by input position, at most
 *       one per record. {@link #once} gathers a small item of every record in one place and runs a
 *       {@link Rule} over them in input order; {@link #by} takes a decider that spreads its work over
 *       the workers (connected components, a blend plan made from counts).
 *   <li>{@code Join}: each record meets its decision by key (a {@link GroupByKey}, or a grouping the
 *       caller gives, {@link #groupedBy}).
 *   <li>{@code Route}: the {@link Route} writes the decision into the record and sends it to kept or
 *       filtered. {@link Verdicts} is the usual one: a kept verdict to kept, a dropped one to filtered,
 *       each with the stage's step.
 * </ol>
 * Every record ends in exactly one of kept and filtered (a route that fans a record out into rows, as
 * the blend's does, writes each row); a record without a decision, or a decision without its record,
 * fails the pipeline, except that a decider declared {@link #withPartialDecisions partial} names only
 * some records and the route gets {@code null} for the others. The result has no rejects: a decision
 * that cannot be made is a bug, not bad input. The output is a function of the input and the rule,
 * never of the runner, the workers or the order in which elements arrive.
 *
 * <pre>{@code
 * StageResult r = records.apply("OrderedRules", DecideGlobally.once(rule, SerializableCoder.of(GateInput.class),
 *     JsonCoder.of(Verdict.class), DecideGlobally.Verdicts.of("filter", "1", chain.asMap())));
 * }</pre>
 *
 * @param <V> a decision
 */
public final class DecideGlobally<V> extends Stage {
  private static final long serialVersionUID = 1L;

  /**
   * A decision that needs every record at once: what each record contributes (a small item), and one
   * decision per item from all of them in input order. Pure and deterministic: equal items in equal
   * order give equal decisions.
   *
   * @param <I> what a record contributes
   * @param <V> a decision
   */
  public interface Rule<I, V> extends Serializable {
    /** The item of the record at input position {@code key}; thread-safe. */
    I item(OrderKey key, Example e);

    /** One decision per item, in the items' order; the items are in input order. */
    List<V> decide(List<I> items);
  }

  /** Where a routed record goes. */
  public interface Outputs {
    /** On to the next stage, or to {@code data/}. */
    void kept(OrderKey key, Example e);

    /** To {@code filtered/}, with the rule's step. */
    void filtered(OrderKey key, Example e);
  }

  /**
   * How a decision is written into its record and where the record goes. It names the stage: its
   * {@link #id()}, {@link #version()} and {@link #params()} are the stage's.
   *
   * @param <V> a decision
   */
  public abstract static class Route<V> implements Serializable {
    private static final long serialVersionUID = 1L;
    private final String id;
    private final String version;
    private final LinkedHashMap<String, Object> params;

    /** A route that stamps steps named {@code id}, version {@code version}, with {@code params}. */
    protected Route(String id, String version, Map<String, Object> params) {
      this.id = Objects.requireNonNull(id, "id");
      this.version = Objects.requireNonNull(version, "version");
      this.params = new LinkedHashMap<>(params);
    }

    /** The step name. */
    public final String id() {
      return id;
    }

    /** The step version. */
    public final String version() {
      return version;
    }

    /** The step params, in their order (a copy). */
    public final Map<String, Object> params() {
      return new LinkedHashMap<>(params);
    }

    /** {@code e} with this route's step and verdict {@code v} added. */
    public final Example stamp(Example e, Verdict v) {
      return e.withStep(Step.of(id, version, params, v, null));
    }

    /**
     * Routes the record at {@code key} with its decision ({@code null} only under
     * {@link #withPartialDecisions}, for a record the decider did not name).
     */
    public abstract void route(OrderKey key, Example e, V decision, Outputs out);
  }

  /**
   * The usual route of {@link Verdict}s: a dropped record to filtered and a kept one to kept, each
   * with the step; a record without a verdict counts as kept. With {@link #passingUnstamped()} a kept
   * record goes on unchanged, for a later rule of the same step to decide.
   */
  public static final class Verdicts extends Route<Verdict> {
    private static final long serialVersionUID = 1L;
    private final boolean stampKept;

    private Verdicts(String id, String version, Map<String, Object> params, boolean stampKept) {
      super(id, version, params);
      this.stampKept = stampKept;
    }

    /** Stamps every record with step {@code id}, version {@code version}, {@code params} and its verdict. */
    public static Verdicts of(String id, String version, Map<String, Object> params) {
      return new Verdicts(id, version, params, true);
    }

    /** The same, but kept records pass on without the step (a later rule adds it). */
    public Verdicts passingUnstamped() {
      return new Verdicts(id(), version(), params(), false);
    }

    @Override
    public void route(OrderKey key, Example e, Verdict v, Outputs out) {
      if (v instanceof Verdict.Dropped) {
        Progress.add(Progress.DECIDED, 1);
        out.filtered(key, stamp(e, v));
      } else if (stampKept) {
        Progress.add(Progress.DECIDED, 1);
        out.kept(key, stamp(e, Verdict.KEPT));
      } else {
        out.kept(key, e);
      }
    }
  }

  private final PTransform<PCollection<KV<OrderKey, Example>>, PCollection<KV<OrderKey, V>>> decider;
  private final Route<V> route;
  private final PTransform<PCollection<KV<OrderKey, RawUnionValue>>, PCollection<KV<OrderKey, Iterable<RawUnionValue>>>> grouping;
  private final boolean partial;

  private DecideGlobally(PTransform<PCollection<KV<OrderKey, Example>>, PCollection<KV<OrderKey, V>>> decider, Route<V> route,
      PTransform<PCollection<KV<OrderKey, RawUnionValue>>, PCollection<KV<OrderKey, Iterable<RawUnionValue>>>> grouping,
      boolean partial) {
    super(route.id(), route.version());
    this.decider = Objects.requireNonNull(decider, "decider");
    this.route = Objects.requireNonNull(route, "route");
    this.grouping = Objects.requireNonNull(grouping, "grouping");
    this.partial = partial;
  }

  /**
   * {@code rule} over every record in one place: each record's item (coded by {@code items}) goes to
   * one task as a side input, the items are sorted into input order, the rule decides once (decisions
   * coded by {@code decisions}), and each record meets its decision. Memory in that task: every item.
   */
  public static <I, V> DecideGlobally<V> once(Rule<I, V> rule, Coder<I> items, Coder<V> decisions, Route<V> route) {
    return new DecideGlobally<>(new Once<>(rule, items, decisions), route, GroupByKey.create(), false);
  }

  /**
   * The decisions of {@code decider}, which must set its output's coder and give each record at most
   * one decision, joined back to the records and routed.
   */
  public static <V> DecideGlobally<V> by(PTransform<PCollection<KV<OrderKey, Example>>, PCollection<KV<OrderKey, V>>> decider,
      Route<V> route) {
    return new DecideGlobally<>(decider, route, GroupByKey.create(), false);
  }

  /** The same with a decider that names only some records; the route gets {@code null} for the rest. */
  public DecideGlobally<V> withPartialDecisions() {
    return new DecideGlobally<>(decider, route, grouping, true);
  }

  /**
   * The same with records meeting their decisions through {@code grouping}, which must give each key
   * once with all its values (a GroupByKey's contract), for example a grouping by hash buckets that
   * makes few shuffle groups of many small keys.
   */
  public DecideGlobally<V> groupedBy(
      PTransform<PCollection<KV<OrderKey, RawUnionValue>>, PCollection<KV<OrderKey, Iterable<RawUnionValue>>>> grouping) {
    return new DecideGlobally<>(decider, route, grouping, partial);
  }



  @Override
  public Map<String, Object> params() {
    return route.params();
  }

  private static final TupleTag<KV<OrderKey, Example>> KEPT = new TupleTag<>() {};
  private static final TupleTag<KV<OrderKey, Example>> FILTERED = new TupleTag<>() {};
  private static final int RECORD = 0;
  private static final int DECISION = 1;

  @Override
  @SuppressWarnings("unchecked")
  public StageResult expand(PCollection<KV<OrderKey, Example>> records) {
    PCollection<KV<OrderKey, V>> decisions = records.apply("Decide", decider);
    if (!(decisions.getCoder() instanceof KvCoder<?, ?> kv)) {
      throw new IllegalStateException("the decider of stage " + id() + " must set a KvCoder on its decisions, got "
          + decisions.getCoder());
    }
    KvCoder<OrderKey, RawUnionValue> union = KvCoder.of(OrderKey.Coder.of(),
        UnionCoder.of(List.of(StageResult.RECORDS.getValueCoder(), (Coder<V>) kv.getValueCoder())));
    PCollectionTuple routed = PCollectionList
        .of(records.apply("TagRecords", ParDo.of(new TagFn<Example>(RECORD))).setCoder(union))
        .and(decisions.apply("TagDecisions", ParDo.of(new TagFn<V>(DECISION))).setCoder(union))
        .apply("Tagged", Flatten.pCollections())
        .setCoder(union)
        .apply("Join", grouping)
        .apply("Route", ParDo.of(new RouteFn<>(route, partial, id())).withOutputTags(KEPT, TupleTagList.of(FILTERED)));
    return StageResult.of(routed.get(KEPT), routed.get(FILTERED),
        records.getPipeline().apply("NoRejects", Create.empty(StageResult.REJECTS)));
  }

  /** The gather-once decider of {@link #once}. */
  static final class Once<I, V> extends PTransform<PCollection<KV<OrderKey, Example>>, PCollection<KV<OrderKey, V>>> {
    private static final long serialVersionUID = 1L;
    private final Rule<I, V> rule;
    private final Coder<I> items;
    private final Coder<V> decisions;

    Once(Rule<I, V> rule, Coder<I> items, Coder<V> decisions) {
      this.rule = Objects.requireNonNull(rule, "rule");
      this.items = Objects.requireNonNull(items, "items");
      this.decisions = Objects.requireNonNull(decisions, "decisions");
    }

    @Override
    public PCollection<KV<OrderKey, V>> expand(PCollection<KV<OrderKey, Example>> records) {
      PCollectionView<List<KV<OrderKey, I>>> all = records
          .apply("Items", ParDo.of(new ItemFn<>(rule)))
          .setCoder(KvCoder.of(OrderKey.Coder.of(), items))
          .apply("AllItems", View.asList());
      return records.getPipeline()
          .apply("Once", Create.of(0).withCoder(VarIntCoder.of()))
          .apply("DecideOnce", ParDo.of(new DecideFn<>(rule, all)).withSideInputs(all))
          .setCoder(KvCoder.of(OrderKey.Coder.of(), decisions));
    }
  }

  /** A record's item, keyed by its input position. */
  static final class ItemFn<I, V> extends DoFn<KV<OrderKey, Example>, KV<OrderKey, I>> {
    private static final long serialVersionUID = 1L;
    private final Rule<I, V> rule;

    ItemFn(Rule<I, V> rule) {
      this.rule = rule;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, OutputReceiver<KV<OrderKey, I>> out) {
      out.output(KV.of(kv.getKey(), rule.item(kv.getKey(), kv.getValue())));
    }
  }

  /** The rule over every item in input order, once: one decision per item. */
  static final class DecideFn<I, V> extends DoFn<Integer, KV<OrderKey, V>> {
    private static final long serialVersionUID = 1L;
    private final Rule<I, V> rule;
    private final PCollectionView<List<KV<OrderKey, I>>> all;

    DecideFn(Rule<I, V> rule, PCollectionView<List<KV<OrderKey, I>>> all) {
      this.rule = rule;
      this.all = all;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      List<KV<OrderKey, I>> sorted = new ArrayList<>(c.sideInput(all));
      sorted.sort(Comparator.comparing((KV<OrderKey, I> kv) -> kv.getKey()));
      List<I> items = new ArrayList<>(sorted.size());
      sorted.forEach(kv -> items.add(kv.getValue()));
      List<V> decided = rule.decide(items);
      if (decided.size() != items.size()) {
        throw new IllegalStateException("rule " + rule.getClass().getName() + " gave " + decided.size() + " decisions for "
            + items.size() + " items");
      }
      for (int i = 0; i < items.size(); i++) {
        c.output(KV.of(sorted.get(i).getKey(), decided.get(i)));
      }
    }
  }

  /** Wraps a value in a union value with tag {@code tag}. */
  static final class TagFn<T> extends DoFn<KV<OrderKey, T>, KV<OrderKey, RawUnionValue>> {
    private static final long serialVersionUID = 1L;
    private final int tag;

    TagFn(int tag) {
      this.tag = tag;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, T> kv, OutputReceiver<KV<OrderKey, RawUnionValue>> out) {
      out.output(KV.of(kv.getKey(), new RawUnionValue(tag, kv.getValue())));
    }
  }

  /** Finds a key's record and decision and routes them; anything but one record and one decision fails. */
  static final class RouteFn<V> extends DoFn<KV<OrderKey, Iterable<RawUnionValue>>, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final Route<V> route;
    private final boolean partial;
    private final String stage;

    RouteFn(Route<V> route, boolean partial, String stage) {
      this.route = route;
      this.partial = partial;
      this.stage = stage;
    }

    @ProcessElement
    @SuppressWarnings("unchecked")
    public void process(@Element KV<OrderKey, Iterable<RawUnionValue>> kv, MultiOutputReceiver out) {
      Example e = null;
      V decision = null;
      int records = 0;
      int decisions = 0;
      for (RawUnionValue v : kv.getValue()) {
        if (v.getUnionTag() == RECORD) {
          e = (Example) v.getValue();
          records++;
        } else {
          decision = (V) v.getValue();
          decisions++;
        }
      }
      if (records != 1 || decisions > 1 || (decisions == 0 && !partial)) {
        throw new IllegalStateException("stage " + stage + ": input position " + kv.getKey() + " has " + records
            + " record(s) and " + decisions + " decision(s), expected one of each");
      }
      route.route(kv.getKey(), e, decision, new Routed(out));
    }
  }

  /** The kept and filtered outputs of {@link RouteFn}. */
  static final class Routed implements Outputs {
    private final DoFn.MultiOutputReceiver out;

    Routed(DoFn.MultiOutputReceiver out) {
      this.out = out;
    }

    @Override
    public void kept(OrderKey key, Example e) {
      out.get(KEPT).output(KV.of(key, e));
    }

    @Override
    public void filtered(OrderKey key, Example e) {
      out.get(FILTERED).output(KV.of(key, e));
    }
  }
}
