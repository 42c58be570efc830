package io.instructflow.pipelines.dedup;

import io.instructflow.filters.rouge.DedupText;
import io.instructflow.filters.rouge.Match;
import io.instructflow.filters.rouge.RougeIndex;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.IntStream;
import java.io.InputStream;
import java.io.OutputStream;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.DoubleCoder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.NullableCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.Reshuffle;
import org.apache.beam.sdk.transforms.View;
import org.apache.beam.sdk.transforms.join.CoGbkResult;
import org.apache.beam.sdk.transforms.join.CoGroupByKey;
import org.apache.beam.sdk.transforms.join.KeyedPCollectionTuple;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PCollectionView;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * The {@code dedup --strategy components} decision, spread over the workers: one decision per record,
 * identical to the sequential greedy rule's ({@link io.instructflow.filters.rouge.GreedyRougeFilter#viaComponents}
 * in one JVM).
 * <ol>
 *   <li>{@code Tokenize}: each record's tokens, in parallel; they reach every worker once, as one side
 *       input ({@code AllTokens}).
 *   <li>{@code FindPairs}: {@code shards} work elements, spread by a reshuffle; each worker JVM sorts the
 *       side input into the global order and builds one static {@link RougeIndex} of every text (shared
 *       by its shards, closed when the last one is torn down); a shard asks the index, for each of its
 *       ordinals j (those ≡ shard mod shards), every earlier text i with F(j against i) > t. Each record
 *       leaves with its earlier similar texts and scores, and each pair is an edge.
 *   <li>{@link ConnectedComponents} of the edges; a record with no edge is kept at once.
 *   <li>{@code ByComponent}: each component's members in one group, the greedy rule run over them in
 *       global order: a member is dropped by its best (highest F, then earliest) earlier similar member
 *       that was kept, as in the sequential loop, whose decision for j depends only on j's similar
 *       texts' decisions.
 * </ol>
 * Memory per worker: every record's tokens (the side input) and the Lucene index over them, about what
 * {@code bench dedup} measures for the one-JVM form; a component group holds its members' pair lists.
 *
 * <pre>{@code
 * PCollection<KV<OrderKey, DedupDecision>> d = records.apply(FindRougeComponents.of(0.7, DedupText.INSTRUCTION, "rouge", false, null));
 * }</pre>
 */
final class FindRougeComponents extends PTransform<PCollection<KV<OrderKey, Example>>, PCollection<KV<OrderKey, DedupDecision>>> {
  private static final long serialVersionUID = 1L;

  private final double threshold;
  private final DedupText field;
  private final String tokenizer;
  private final boolean stem;
  private final String orderBy;
  private final int shards;

  private FindRougeComponents(double threshold, DedupText field, String tokenizer, boolean stem, String orderBy, int shards) {
    this.threshold = threshold;
    this.field = field;
    this.tokenizer = tokenizer;
    this.stem = stem;
    this.orderBy = orderBy;
    if (shards < 1) {
      throw new IllegalArgumentException("shards must be positive, got " + shards);
    }
    this.shards = shards;
  }

  /** The decision with 4 pair-search shards per core of this machine. */
  static FindRougeComponents of(double threshold, DedupText field, String tokenizer, boolean stem, String orderBy) {
    return new FindRougeComponents(threshold, field, tokenizer, stem, orderBy, 4 * Runtime.getRuntime().availableProcessors());
  }

  /** The same with {@code shards} pair-search shards. */
  FindRougeComponents withShards(int shards) {
    return new FindRougeComponents(threshold, field, tokenizer, stem, orderBy, shards);
  }

  /** A record with its earlier similar texts: ordinals in the global order and their F. */
  record Member(int ordinal, OrderKey key, String id, String location, int[] earlier, double[] scores) implements Serializable {
    private static final long serialVersionUID = 1L;
  }

  /** A member as varints, UTF-8 strings (location nullable) and 8-byte doubles. */
  static final class MemberCoder extends AtomicCoder<Member> {
    private static final long serialVersionUID = 1L;
    static final MemberCoder INSTANCE = new MemberCoder();
    private static final NullableCoder<String> LOCATION = NullableCoder.of(StringUtf8Coder.of());

    @Override
    public void encode(Member m, OutputStream out) throws IOException {
      VarIntCoder.of().encode(m.ordinal(), out);
      OrderKey.Coder.of().encode(m.key(), out);
      StringUtf8Coder.of().encode(m.id(), out);
      LOCATION.encode(m.location(), out);
      VarIntCoder.of().encode(m.earlier().length, out);
      for (int i = 0; i < m.earlier().length; i++) {
        VarIntCoder.of().encode(m.earlier()[i], out);
        DoubleCoder.of().encode(m.scores()[i], out);
      }
    }

    @Override
    public Member decode(InputStream in) throws IOException {
      int ordinal = VarIntCoder.of().decode(in);
      OrderKey key = OrderKey.Coder.of().decode(in);
      String id = StringUtf8Coder.of().decode(in);
      String location = LOCATION.decode(in);
      int n = VarIntCoder.of().decode(in);
      int[] earlier = new int[n];
      double[] scores = new double[n];
      for (int i = 0; i < n; i++) {
        earlier[i] = VarIntCoder.of().decode(in);
        scores[i] = DoubleCoder.of().decode(in);
      }
      return new Member(ordinal, key, id, location, earlier, scores);
    }
  }

  @Override
  public PCollection<KV<OrderKey, DedupDecision>> expand(PCollection<KV<OrderKey, Example>> records) {
    PCollectionView<List<DedupItem>> items = records
        .apply("Tokenize", ParDo.of(new DedupPipeline.TokenizeFn(field, tokenizer, stem, orderBy)))
        .setCoder(SerializableCoder.of(DedupItem.class))
        .apply("AllTokens", View.asList());
    TupleTag<KV<Integer, Member>> memberTag = new TupleTag<>() {};
    TupleTag<KV<Integer, Integer>> edgeTag = new TupleTag<>() {};
    List<Integer> work = IntStream.range(0, shards).boxed().toList();
    PCollectionTuple found = records.getPipeline()
        .apply("Shards", Create.of(work).withCoder(VarIntCoder.of()))
        .apply("SpreadShards", Reshuffle.viaRandomKey())
        .apply("FindPairs", ParDo.of(new PairsFn(items, threshold, shards, memberTag, edgeTag))
            .withSideInputs(items).withOutputTags(memberTag, TupleTagList.of(edgeTag)));
    KvCoder<Integer, Integer> edge = KvCoder.of(VarIntCoder.of(), VarIntCoder.of());
    PCollection<KV<Integer, Member>> members = found.get(memberTag)
        .setCoder(KvCoder.of(VarIntCoder.of(), MemberCoder.INSTANCE));
    PCollection<KV<Integer, Integer>> labels = found.get(edgeTag).setCoder(edge)
        .apply("Components", ConnectedComponents.of(VarIntCoder.of()));
    TupleTag<Member> mTag = new TupleTag<>() {};
    TupleTag<Integer> lTag = new TupleTag<>() {};
    TupleTag<KV<OrderKey, DedupDecision>> alone = new TupleTag<>() {};
    TupleTag<KV<Integer, Member>> grouped = new TupleTag<>() {};
    PCollectionTuple labelled = KeyedPCollectionTuple.of(mTag, members).and(lTag, labels)
        .apply("ByRecord", CoGroupByKey.create())
        .apply("LabelOrKeep", ParDo.of(new LabelFn(mTag, lTag, alone, grouped)).withOutputTags(grouped, TupleTagList.of(alone)));
    KvCoder<OrderKey, DedupDecision> decision = KvCoder.of(OrderKey.Coder.of(), SerializableCoder.of(DedupDecision.class));
    PCollection<KV<OrderKey, DedupDecision>> decided = labelled.get(grouped)
        .setCoder(KvCoder.of(VarIntCoder.of(), MemberCoder.INSTANCE))
        .apply("ByComponent", GroupByKey.create())
        .apply("DecideComponent", ParDo.of(new DecideFn())).setCoder(decision);
    return PCollectionList.of(labelled.get(alone).setCoder(decision)).and(decided).apply("AllDecisions", Flatten.pCollections());
  }

  /** The side input in global order and an index of every text: one per worker JVM, shared by its shards. */
  static final class Shared {
    final List<DedupItem> sorted;
    final RougeIndex index;
    int users;

    Shared(List<DedupItem> items, double threshold) {
      List<DedupItem> all = new ArrayList<>(items);
      Comparator<DedupItem> byKey = Comparator.comparing(DedupItem::key);
      all.sort(all.stream().anyMatch(i -> i.sortValue() != null)
          ? Comparator.comparing(DedupItem::sortValue, SortValue.ORDER).thenComparing(byKey)
          : byKey);
      sorted = all;
      index = new RougeIndex(threshold, Integer.MAX_VALUE);
      for (DedupItem i : all) {
        index.add(i.tokens());
      }
      index.optimize();
    }
  }

  private static final Map<String, Shared> SHARED = new HashMap<>();

  /** A shard of the pair search. */
  static final class PairsFn extends DoFn<Integer, KV<Integer, Member>> {
    private static final long serialVersionUID = 1L;
    private final PCollectionView<List<DedupItem>> items;
    private final double threshold;
    private final int shards;
    private final TupleTag<KV<Integer, Member>> memberTag;
    private final TupleTag<KV<Integer, Integer>> edgeTag;
    private final String run = UUID.randomUUID().toString();
    private final Counter pairs = Metrics.counter(DedupPipeline.NAMESPACE, "pairs");
    private transient boolean registered;

    PairsFn(PCollectionView<List<DedupItem>> items, double threshold, int shards, TupleTag<KV<Integer, Member>> memberTag,
        TupleTag<KV<Integer, Integer>> edgeTag) {
      this.items = items;
      this.threshold = threshold;
      this.shards = shards;
      this.memberTag = memberTag;
      this.edgeTag = edgeTag;
    }

    @ProcessElement
    public void process(ProcessContext c) {
      Shared s;
      synchronized (SHARED) {
        s = SHARED.get(run);
        if (s == null) {
          s = new Shared(c.sideInput(items), threshold);
          SHARED.put(run, s);
        }
        if (!registered) {
          s.users++;
          registered = true;
        }
      }
      for (int j = c.element(); j < s.sorted.size(); j += shards) {
        DedupItem item = s.sorted.get(j);
        List<Match> found = s.index.matches(item.tokens(), j);
        int[] earlier = new int[found.size()];
        double[] scores = new double[found.size()];
        for (int k = 0; k < earlier.length; k++) {
          earlier[k] = found.get(k).ordinal();
          scores[k] = found.get(k).score();
          c.output(edgeTag, KV.of(earlier[k], j));
        }
        pairs.inc(earlier.length);
        c.output(memberTag, KV.of(j, new Member(j, item.key(), item.id(), item.location(), earlier, scores)));
      }
    }

    @Teardown
    public void teardown() throws IOException {
      if (!registered) {
        return;
      }
      Shared s;
      synchronized (SHARED) {
        s = SHARED.get(run);
        if (s == null || --s.users > 0) {
          return;
        }
        SHARED.remove(run);
      }
      s.index.close();
    }
  }

  /** A record with no similar text is kept; the others go to their component. */
  static final class LabelFn extends DoFn<KV<Integer, CoGbkResult>, KV<Integer, Member>> {
    private static final long serialVersionUID = 1L;
    private final TupleTag<Member> mTag;
    private final TupleTag<Integer> lTag;
    private final TupleTag<KV<OrderKey, DedupDecision>> alone;
    private final TupleTag<KV<Integer, Member>> grouped;

    LabelFn(TupleTag<Member> mTag, TupleTag<Integer> lTag, TupleTag<KV<OrderKey, DedupDecision>> alone,
        TupleTag<KV<Integer, Member>> grouped) {
      this.mTag = mTag;
      this.lTag = lTag;
      this.alone = alone;
      this.grouped = grouped;
    }

    @ProcessElement
    public void process(@Element KV<Integer, CoGbkResult> kv, MultiOutputReceiver out) {
      Member m = kv.getValue().getOnly(mTag);
      Integer label = kv.getValue().getOnly(lTag, null);
      if (label == null) {
        out.get(alone).output(KV.of(m.key(), new DedupDecision(true, null, null, 0)));
      } else {
        out.get(grouped).output(KV.of(label, m));
      }
    }
  }

  /** The greedy rule over one component's members, in global order. */
  static final class DecideFn extends DoFn<KV<Integer, Iterable<Member>>, KV<OrderKey, DedupDecision>> {
    private static final long serialVersionUID = 1L;
    private final Counter components = Metrics.counter(DedupPipeline.NAMESPACE, "components");

    @ProcessElement
    public void process(@Element KV<Integer, Iterable<Member>> g, OutputReceiver<KV<OrderKey, DedupDecision>> out) {
      List<Member> members = new ArrayList<>();
      g.getValue().forEach(members::add);
      members.sort(Comparator.comparingInt(Member::ordinal));
      components.inc();
      Map<Integer, Member> kept = new HashMap<>();
      for (Member m : members) {
        Match best = null;
        for (int k = 0; k < m.earlier().length; k++) {
          Match cand = new Match(m.earlier()[k], m.scores()[k]);
          if (kept.containsKey(cand.ordinal()) && (best == null || cand.betterThan(best))) {
            best = cand;
          }
        }
        if (best == null) {
          kept.put(m.ordinal(), m);
          out.output(KV.of(m.key(), new DedupDecision(true, null, null, 0)));
        } else {
          Member match = kept.get(best.ordinal());
          out.output(KV.of(m.key(), new DedupDecision(false, match.id(), match.location(), best.score())));
        }
      }
    }
  }
}
