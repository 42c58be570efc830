package io.instructflow.pipelines.filter;

import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.dedup.Embedders;
import io.instructflow.filters.dedup.SemanticComponents;
import io.instructflow.filters.dedup.SemanticDedup;
import io.instructflow.pipelines.dedup.ConnectedComponents;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;

/**
 * The {@code semantic_dedup} components rule ({@link SemanticComponents}) as a distributed stage: the
 * verdict of every record that is not the earliest of its connected component; the other records get
 * none. Nothing gathers the records in one place:
 * <ol>
 *   <li>{@code Embed}: each record's model and unit embedding, one record at a time on the workers
 *       (the same text, cut and models as the ordered rule; each JVM loads a model once).
 *   <li>{@code ToBlockPairs}: a record of block a (a hash of its input position, {@code blocks}
 *       blocks) goes to the block pairs (min(a, b), max(a, b)) for every block b of its model: each
 *       pair of records meets in exactly one group.
 *   <li>{@code ByBlockPair}: a GroupByKey on (model, block pair); each group compares every pair of
 *       records that has one member in each block (both in the block, for a block with itself) with
 *       {@link SemanticComponents#linked}, the exact cosine at or above the model's threshold, and
 *       emits an edge from the later record to the earlier.
 *   <li>{@link ConnectedComponents} over those edges, then {@code ByComponent} ({@link ComponentDrops}, as
 *       in {@link FindMinHashComponents}): the members of each component named after its earliest record.
 * </ol>
 * The search is exact (every pair is compared), so the result does not depend on the blocks, the
 * workers or the runner. Memory: a group holds two blocks' embeddings (2 × records / blocks × 4 ×
 * dims bytes); every embedding travels once per block of its model (records × blocks × about
 * 4 × dims bytes of shuffle). Time: records² / 2 cosines, spread over blocks × (blocks + 1) / 2 tasks.
 *
 * <pre>{@code
 * PCollection<KV<OrderKey, Verdict>> drops = records.apply("SemanticComponents", FindSemanticComponents.of(rule));
 * }</pre>
 */
public final class FindSemanticComponents extends PTransform<PCollection<KV<OrderKey, Example>>, PCollection<KV<OrderKey, Verdict>>> {
  private static final long serialVersionUID = 1L;

  static final String NAMESPACE = "semantic_components";

  private final SemanticComponents rule;

  private FindSemanticComponents(SemanticComponents rule) {
    this.rule = Objects.requireNonNull(rule, "rule");
  }

  /** The stage of {@code rule}. */
  public static FindSemanticComponents of(SemanticComponents rule) {
    return new FindSemanticComponents(rule);
  }

  /** The block of a record: a mix of its input position, so that blocks are even whatever the input's shape. */
  static int block(OrderKey k, int blocks) {
    long h = k.source() * 0x9E3779B97F4A7C15L + k.position() * 0xC2B2AE3D27D4EB4FL + k.sub() * 0x165667B19E3779F9L;
    h ^= h >>> 29;
    h *= 0xBF58476D1CE4E5B9L;
    h ^= h >>> 32;
    return (int) Math.floorMod(h, (long) blocks);
  }

  @Override
  public PCollection<KV<OrderKey, Verdict>> expand(PCollection<KV<OrderKey, Example>> records) {
    KvCoder<OrderKey, SemanticDedup.Prepared> embedded = KvCoder.of(OrderKey.Coder.of(), PreparedCoder.INSTANCE);
    KvCoder<OrderKey, OrderKey> edge = KvCoder.of(OrderKey.Coder.of(), OrderKey.Coder.of());
    PCollection<KV<OrderKey, OrderKey>> labels = records
        .apply("Embed", ParDo.of(new EmbedFn(rule))).setCoder(embedded)
        .apply("ToBlockPairs", ParDo.of(new BlockPairsFn(rule.blocks()))).setCoder(KvCoder.of(VarIntCoder.of(), embedded))
        .apply("ByBlockPair", GroupByKey.create())
        .apply("CompareBlocks", ParDo.of(new CompareFn(rule))).setCoder(edge)
        .apply("Components", ConnectedComponents.of(OrderKey.Coder.of()));
    return ComponentDrops.of(records, labels, NAMESPACE, new Naming(rule));
  }

  /** A record's model and embedding. */
  static final class EmbedFn extends DoFn<KV<OrderKey, Example>, KV<OrderKey, SemanticDedup.Prepared>> {
    private static final long serialVersionUID = 1L;
    private final SemanticComponents rule;
    private final Counter embedded = Metrics.counter(NAMESPACE, "embedded");

    EmbedFn(SemanticComponents rule) {
      this.rule = rule;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, OutputReceiver<KV<OrderKey, SemanticDedup.Prepared>> out) {
      SemanticDedup.Prepared p = rule.prepare(GateInput.of(kv.getValue()));
      embedded.inc();
      out.output(KV.of(kv.getKey(), p));
    }
  }

  /** The group key of a model's block pair. */
  static int pairKey(Embedders model, int lo, int hi, int blocks) {
    return (model.ordinal() * blocks + lo) * blocks + hi;
  }

  /** A record to every block pair its block is in, keyed by (model, pair). */
  static final class BlockPairsFn extends DoFn<KV<OrderKey, SemanticDedup.Prepared>, KV<Integer, KV<OrderKey, SemanticDedup.Prepared>>> {
    private static final long serialVersionUID = 1L;
    private final int blocks;

    BlockPairsFn(int blocks) {
      this.blocks = blocks;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, SemanticDedup.Prepared> kv,
        OutputReceiver<KV<Integer, KV<OrderKey, SemanticDedup.Prepared>>> out) {
      int a = block(kv.getKey(), blocks);
      for (int b = 0; b < blocks; b++) {
        out.output(KV.of(pairKey(kv.getValue().model(), Math.min(a, b), Math.max(a, b), blocks), kv));
      }
    }
  }

  /** Compares the pairs of one block pair: an edge from the later record to the earlier for each linked pair. */
  static final class CompareFn extends DoFn<KV<Integer, Iterable<KV<OrderKey, SemanticDedup.Prepared>>>, KV<OrderKey, OrderKey>> {
    private static final long serialVersionUID = 1L;
    private final SemanticComponents rule;
    private final Counter compared = Metrics.counter(NAMESPACE, "compared");
    private final Counter pairs = Metrics.counter(NAMESPACE, "pairs");

    CompareFn(SemanticComponents rule) {
      this.rule = rule;
    }

    @ProcessElement
    public void process(@Element KV<Integer, Iterable<KV<OrderKey, SemanticDedup.Prepared>>> g, OutputReceiver<KV<OrderKey, OrderKey>> out) {
      int blocks = rule.blocks();
      int lo = g.getKey() / blocks % blocks;
      int hi = g.getKey() % blocks;
      List<KV<OrderKey, SemanticDedup.Prepared>> left = new ArrayList<>();
      List<KV<OrderKey, SemanticDedup.Prepared>> right = new ArrayList<>();
      for (KV<OrderKey, SemanticDedup.Prepared> m : g.getValue()) {
        (lo != hi && block(m.getKey(), blocks) == hi ? right : left).add(m);
      }
      long n = 0;
      if (lo == hi) {
        for (int i = 0; i < left.size(); i++) {
          for (int j = i + 1; j < left.size(); j++) {
            n++;
            link(left.get(i), left.get(j), out);
          }
        }
      } else {
        for (KV<OrderKey, SemanticDedup.Prepared> a : left) {
          for (KV<OrderKey, SemanticDedup.Prepared> b : right) {
            n++;
            link(a, b, out);
          }
        }
      }
      compared.inc(n);
    }

    private void link(KV<OrderKey, SemanticDedup.Prepared> a, KV<OrderKey, SemanticDedup.Prepared> b, OutputReceiver<KV<OrderKey, OrderKey>> out) {
      if (rule.linked(a.getValue(), b.getValue())) {
        pairs.inc();
        boolean aFirst = a.getKey().compareTo(b.getKey()) < 0;
        out.output(aFirst ? KV.of(b.getKey(), a.getKey()) : KV.of(a.getKey(), b.getKey()));
      }
    }
  }

  /**
   * A component's earliest record names itself by id and location, with its model's code in front of the
   * location (what a drop names besides); the rule words the verdict.
   */
  static final class Naming implements ComponentDrops.Naming {
    private static final long serialVersionUID = 1L;
    private final SemanticComponents rule;

    Naming(SemanticComponents rule) {
      this.rule = rule;
    }

    @Override
    public KV<String, String> ref(Example e) {
      Embedders m = rule.embedding().modelFor(rule.embedding().textOf(GateInput.of(e)));
      String location = e.provenance().origin().location();
      return KV.of(e.id(), location == null ? m.code() : m.code() + " " + location);
    }

    @Override
    public Verdict dropped(KV<String, String> ref, long size) {
      String modelAndLocation = ref.getValue();
      int cut = modelAndLocation.indexOf(' ');
      return cut < 0 ? rule.dropped(ref.getKey(), null, Embedders.fromCode(modelAndLocation), size)
          : rule.dropped(ref.getKey(), modelAndLocation.substring(cut + 1), Embedders.fromCode(modelAndLocation.substring(0, cut)), size);
    }
  }

  /** A model and embedding: the model's ordinal, the length, then each value as 4 bytes. */
  static final class PreparedCoder extends AtomicCoder<SemanticDedup.Prepared> {
    private static final long serialVersionUID = 1L;
    static final PreparedCoder INSTANCE = new PreparedCoder();

    @Override
    public void encode(SemanticDedup.Prepared p, OutputStream out) throws IOException {
      VarIntCoder.of().encode(p.model().ordinal(), out);
      VarIntCoder.of().encode(p.vector().length, out);
      DataOutputStream d = new DataOutputStream(out);
      for (float x : p.vector()) {
        d.writeFloat(x);
      }
      d.flush();
    }

    @Override
    public SemanticDedup.Prepared decode(InputStream in) throws IOException {
      Embedders m = Embedders.values()[VarIntCoder.of().decode(in)];
      int n = VarIntCoder.of().decode(in);
      DataInputStream d = new DataInputStream(in);
      float[] v = new float[n];
      for (int i = 0; i < n; i++) {
        v[i] = d.readFloat();
      }
      return new SemanticDedup.Prepared(m, v);
    }

    @Override
    public void verifyDeterministic() {}
  }
}
