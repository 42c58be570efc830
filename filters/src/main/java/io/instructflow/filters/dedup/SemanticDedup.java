package io.instructflow.filters.dedup;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.chain.KeptRefs;
import io.instructflow.filters.chain.OrderedRule;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.lucene.codecs.hnsw.DefaultFlatVectorScorer;
import org.apache.lucene.index.VectorSimilarityFunction;
import org.apache.lucene.search.KnnCollector;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.util.hnsw.HnswGraphBuilder;
import org.apache.lucene.util.hnsw.HnswGraphSearcher;
import org.apache.lucene.util.hnsw.RandomAccessVectorValues;
import org.apache.lucene.util.hnsw.RandomVectorScorer;
import org.apache.lucene.util.hnsw.RandomVectorScorerSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Semantic dedup: a record whose sentence embedding has cosine similarity at or above the threshold
 * with an earlier kept record's drops ({@value #REASON}), naming that record, the model and the
 * cosine. The embedding models run in process (see {@link Embedders}); with {@code model: "auto"} a
 * mostly-CJK text goes to the Chinese model and any other to the English one, and a text is only ever
 * compared with texts embedded by the same model.
 *
 * <p>The rule decides as a stream (in a {@code filter} chain, the ordered pass): each record's
 * embedding is computed on its own ({@link #prepare}, in parallel), then the records are decided in
 * input order against the records kept before. Candidates are the {@code neighbours} nearest kept
 * records an HNSW index of the kept records' embeddings finds (Lucene, on disk, dot product of unit
 * vectors), plus the records kept since the index was last refreshed; each candidate is verified with
 * the exact cosine, so the index only decides what is compared, never what is dropped; a
 * near-duplicate the approximate search does not return is kept. Only kept records are indexed, so a
 * record's candidates are never crowded out by dropped ones (until issue 23 the index held every
 * record, and the candidates were the nearest earlier records, kept or not). Texts are cut to
 * {@code maxChars} characters before they are embedded. {@code "mode": "components"} is the
 * distributed form ({@link SemanticComponents}).
 *
 * @param model {@code auto} or an {@link Embedders} code
 * @param threshold cosine at or above which a record is a duplicate; null for each model's default
 * @param field {@code prompt} (instruction and input), {@code instruction} or {@code all}
 * @param neighbours earlier records compared with each one
 * @param maxChars characters of each text embedded
 */
public record SemanticDedup(String model, Double threshold, String field, int neighbours, int maxChars)
    implements OrderedRule {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(SemanticDedup.class);

  public static final String TYPE = "semantic_dedup";
  public static final String REASON = "semantic_dedup.near_duplicate";
  static final int BATCH = 256;

  public SemanticDedup {
    if (!model.equals("auto")) {
      Embedders.fromCode(model);
    }
    if (threshold != null && !(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("semantic_dedup: threshold must be in (0, 1], got " + threshold);
    }
    if (!Set.of("prompt", "instruction", "all").contains(field)) {
      throw new IllegalArgumentException("semantic_dedup: field must be prompt, instruction or all, got '" + field + "'");
    }
    if (neighbours < 1 || maxChars < 1) {
      throw new IllegalArgumentException("semantic_dedup: neighbours and maxChars must be positive");
    }
  }

  /**
   * The rule of a chain config: {@code mode} {@code ordered} (the default, this greedy rule) or
   * {@code components} ({@link SemanticComponents}: one record kept per connected component, with
   * {@code blocks}, default {@value SemanticComponents#BLOCKS}, for the distributed stage).
   */
  public static OrderedRule ruleFromJson(JsonNode n, String at) {
    String mode = n.path("mode").asText("ordered");
    JsonNode blocks = n.get("blocks");
    return switch (mode) {
      case "ordered" -> {
        if (blocks != null) {
          throw new IllegalArgumentException(at + ": 'blocks' only applies to mode components");
        }
        yield fromJson(n, at);
      }
      case "components" -> {
        if (blocks != null && !blocks.canConvertToInt()) {
          throw new IllegalArgumentException(at + ": 'blocks' must be an integer, got " + blocks);
        }
        try {
          yield new SemanticComponents(fromJson(n, at), blocks == null ? SemanticComponents.BLOCKS : blocks.asInt());
        } catch (IllegalArgumentException e) {
          throw e.getMessage().startsWith(at) ? e : new IllegalArgumentException(at + ": " + e.getMessage());
        }
      }
      default -> throw new IllegalArgumentException(at + ": mode must be ordered or components, got '" + mode + "'");
    };
  }

  /**
   * The greedy rule of a chain config: {@code model} auto, {@code threshold} (per model), {@code field}
   * prompt, {@code neighbours} 32, {@code maxChars} 1000 ({@code mode} and {@code blocks} are read by
   * {@link #ruleFromJson}).
   */
  public static SemanticDedup fromJson(JsonNode n, String at) {
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!Set.of("type", "model", "threshold", "field", "neighbours", "maxChars", "mode", "blocks").contains(k)) {
        throw new IllegalArgumentException(at + ": unknown field '" + k
            + "', expected [model, threshold, field, neighbours, maxChars, mode, blocks]");
      }
    }
    JsonNode t = n.get("threshold");
    if (t != null && !t.isNumber()) {
      throw new IllegalArgumentException(at + ": 'threshold' must be a number, got " + t);
    }
    try {
      return new SemanticDedup(n.path("model").asText("auto"), t == null ? null : t.asDouble(),
          n.path("field").asText("prompt"), n.path("neighbours").asInt(32), n.path("maxChars").asInt(1000));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(at + ": " + e.getMessage());
    }
  }

  @Override
  public String id() {
    return TYPE;
  }

  /** The model a text goes to. */
  public Embedders modelFor(String text) {
    if (!model.equals("auto")) {
      return Embedders.fromCode(model);
    }
    return Embedders.mostlyCjk(text) ? Embedders.BGE_SMALL_ZH_V15_Q : Embedders.ALL_MINILM_L6_V2_Q;
  }

  /** The threshold for texts of model {@code e}. */
  public double thresholdOf(Embedders e) {
    return threshold != null ? threshold : e.defaultThreshold();
  }

  /** The compared text of a record, cut to {@code maxChars} characters. */
  public String textOf(GateInput g) {
    String t = switch (field) {
      case "instruction" -> g.instruction();
      case "all" -> g.text();
      default -> g.prompt();
    };
    t = t.strip();
    if (t.length() > maxChars) {
      int end = Character.isHighSurrogate(t.charAt(maxChars - 1)) ? maxChars - 1 : maxChars;
      t = t.substring(0, end);
    }
    return t;
  }

  /** What the rule compares of a record: the model its text went to and the unit-length embedding. */
  public record Prepared(Embedders model, float[] vector) {}

  @Override
  public boolean streams() {
    return true;
  }

  /** The record's text embedded by its model (one text at a time; {@link #apply} embeds in batches). */
  @Override
  public Prepared prepare(GateInput g) {
    String t = textOf(g);
    Embedders m = modelFor(t);
    return new Prepared(m, m.embed(List.of(t), 1, n -> {}).get(0));
  }

  /** The decider: the kept records' embeddings in one growing HNSW graph per model (see {@link KeptVectors}). */
  @Override
  public Decider open() {
    return new KeptVectors(KeptVectors.CHUNK);
  }

  /** The stream over a list, with the embeddings computed {@value #BATCH} texts at a time per model. */
  @Override
  public List<Verdict> apply(List<GateInput> items) {
    return apply(items, KeptVectors.CHUNK);
  }

  List<Verdict> apply(List<GateInput> items, int chunk) {
    List<Prepared> prepared = prepareAll(items);
    List<Verdict> out = new ArrayList<>(items.size());
    try (KeptVectors d = new KeptVectors(chunk)) {
      for (int i = 0; i < items.size(); i++) {
        out.add(d.decide(items.get(i), prepared.get(i)));
      }
    }
    return out;
  }

  /** Every item's {@link #prepare}, embedded {@value #BATCH} texts at a time per model, with progress in the log. */
  public List<Prepared> prepareAll(List<GateInput> items) {
    Map<Embedders, List<Integer>> groups = new EnumMap<>(Embedders.class);
    List<String> texts = new ArrayList<>(items.size());
    for (int i = 0; i < items.size(); i++) {
      String t = textOf(items.get(i));
      texts.add(t);
      groups.computeIfAbsent(modelFor(t), k -> new ArrayList<>()).add(i);
    }
    List<Prepared> out = new ArrayList<>(Collections.nCopies(items.size(), null));
    for (Map.Entry<Embedders, List<Integer>> g : groups.entrySet()) {
      List<Integer> idx = g.getValue();
      List<String> gt = new ArrayList<>(idx.size());
      idx.forEach(i -> gt.add(texts.get(i)));
      long t0 = System.nanoTime();
      long[] lastLog = {t0};
      List<float[]> vecs = g.getKey().embed(gt, BATCH, done -> {
        long now = System.nanoTime();
        if (now - lastLog[0] > 10_000_000_000L || done == gt.size()) {
          lastLog[0] = now;
          LOG.info(String.format(Locale.ROOT, "semantic_dedup: embedded %,d / %,d with %s (%.0f texts/s)", done, gt.size(),
              g.getKey().code(), done / ((now - t0) / 1e9)));
        }
      });
      for (int k = 0; k < idx.size(); k++) {
        out.set(idx.get(k), new Prepared(g.getKey(), vecs.get(k)));
      }
    }
    return out;
  }

  /** The cosine of two unit vectors: their dot product, summed left to right in double precision. */
  public static double dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += (double) a[i] * b[i];
    }
    return s;
  }

  /** The verdict of a record whose best kept match is {@code ordinal} of {@code kept} at cosine {@code cos}. */
  Verdict.Dropped dropped(KeptRefs kept, int ordinal, double cos, Embedders model) {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("cosine", Math.round(cos * 10_000) / 10_000.0);
    d.put("threshold", thresholdOf(model));
    d.put("model", model.code());
    d.put("matched_id", kept.id(ordinal));
    d.put("matched_location", kept.location(ordinal));
    return new Verdict.Dropped(TYPE, REASON, d);
  }

  /**
   * The decider's state: for each model, the embeddings of the records it kept, in one HNSW graph that
   * grows by one node per kept record (Lucene's {@link HnswGraphBuilder}, as Lucene's own index writer
   * builds a segment's graph while documents arrive), plus the ids and locations of the kept records
   * ({@link KeptRefs}). A record's candidates are the {@code neighbours} nearest kept records the graph
   * search finds; each is verified with the exact cosine ({@link #dot}) and the best one at or above the
   * threshold (ties: the earliest) is named. A kept record is searchable by the very next record.
   *
   * <p>Until this form the kept vectors went into a Lucene index flushed every 1,024 kept records: each
   * search then walked every segment's graph, and merges rebuilt graphs; one graph is searched once
   * (on synthetic 384-d vectors, 592 records a second against under 88 for the first 50,000, quiet:
   * docs/benchmarks.md).
   *
   * <p>Memory. The vectors live in a temporary file, memory-mapped {@code chunk} vectors at a time (in
   * the page cache, not on the heap: 1.5 KB per kept record with MiniLM, 2 KB with BGE-zh). The heap holds
   * per kept record its graph node (its neighbour lists: about 300 bytes at Lucene's defaults, 16
   * connections, 32 on the bottom level) and its id and location (about 90 bytes, see {@link KeptRefs}).
   * Determinism: the graph is built in the deciding thread, in input order, with a fixed seed, so the same
   * input gives the same graph and verdicts.
   */
  final class KeptVectors implements Decider {
    /** Vectors per mapped piece of the vector file (96 MB of MiniLM vectors). */
    static final int CHUNK = 65_536;
    static final int MAX_CONN = 16;
    static final int BEAM_WIDTH = 100;
    static final long SEED = 42;

    private final int chunk;
    private final KeptRefs kept = new KeptRefs();
    private final Map<Embedders, Shelf> shelves = new EnumMap<>(Embedders.class);
    private final List<Path> dirs = new ArrayList<>();

    KeptVectors(int chunk) {
      if (chunk < 1) {
        throw new IllegalArgumentException("chunk must be positive");
      }
      this.chunk = chunk;
    }

    /** One model's kept vectors: a growing file of floats, mapped piece by piece. */
    private final class VectorFile {
      final FileChannel channel;
      final List<FloatBuffer> pieces = new ArrayList<>();
      final int dim;
      int size;

      VectorFile(Path file, int dim) throws IOException {
        this.dim = dim;
        channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ, StandardOpenOption.WRITE);
      }

      int add(float[] v) throws IOException {
        if (v.length != dim) {
          throw new IllegalStateException("semantic_dedup: vector of " + v.length + " dimensions, expected " + dim);
        }
        if (size == pieces.size() * chunk) {
          long bytes = (long) chunk * dim * Float.BYTES;
          pieces.add(channel.map(FileChannel.MapMode.READ_WRITE, pieces.size() * bytes, bytes)
              .order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer());
        }
        pieces.get(size / chunk).put((size % chunk) * dim, v);
        return size++;
      }

      void read(int ord, float[] into) {
        pieces.get(ord / chunk).get((ord % chunk) * dim, into);
      }

      void close() throws IOException {
        pieces.clear();
        channel.close();
      }
    }

    /** The kept vectors as Lucene reads them; each copy has its own buffer (Lucene may hold one per copy). */
    private static final class Values implements RandomAccessVectorValues.Floats {
      private final VectorFile file;
      private final float[] scratch;

      Values(VectorFile file) {
        this.file = file;
        this.scratch = new float[file.dim];
      }

      @Override
      public int size() {
        return file.size;
      }

      @Override
      public int dimension() {
        return file.dim;
      }

      @Override
      public float[] vectorValue(int ord) {
        file.read(ord, scratch);
        return scratch;
      }

      @Override
      public Values copy() {
        return new Values(file);
      }
    }

    /** One model's kept vectors and their graph. */
    private final class Shelf {
      final VectorFile file;
      final Values values;
      final HnswGraphBuilder builder;
      final List<Integer> ordinals = new ArrayList<>();
      final float[] candidate;

      Shelf(Path dir, int dim) throws IOException {
        file = new VectorFile(dir.resolve("vectors.f32"), dim);
        candidate = new float[dim];
        // the values grow with the file; the builder reads them as nodes are added (as Lucene's writer does)
        values = new Values(file);
        RandomVectorScorerSupplier scorers = DefaultFlatVectorScorer.INSTANCE
            .getRandomVectorScorerSupplier(VectorSimilarityFunction.DOT_PRODUCT, values);
        builder = HnswGraphBuilder.create(scorers, MAX_CONN, BEAM_WIDTH, SEED);
      }

      void add(float[] v, int ord) throws IOException {
        builder.addGraphNode(file.add(v));
        ordinals.add(ord);
      }

      /** The best kept match at or above {@code t}: {ordinal, cosine}, or null. */
      double[] best(float[] v, double t) throws IOException {
        if (file.size == 0) {
          return null;
        }
        RandomVectorScorer scorer = DefaultFlatVectorScorer.INSTANCE
            .getRandomVectorScorer(VectorSimilarityFunction.DOT_PRODUCT, values.copy(), v);
        KnnCollector found = HnswGraphSearcher.search(scorer, neighbours, builder.getGraph(), null, Integer.MAX_VALUE);
        int best = -1;
        double bestCos = -2;
        for (ScoreDoc sd : found.topDocs().scoreDocs) {
          file.read(sd.doc, candidate);
          double cos = dot(candidate, v);
          int ord = ordinals.get(sd.doc);
          if (cos >= t && (cos > bestCos || cos == bestCos && ord < best)) {
            best = ord;
            bestCos = cos;
          }
        }
        return best < 0 ? null : new double[] {best, bestCos};
      }

      void close() throws IOException {
        file.close();
      }
    }

    @Override
    public Verdict decide(GateInput item, Object prepared) {
      Prepared p = (Prepared) prepared;
      try {
        Shelf s = shelves.get(p.model());
        if (s == null) {
          Path d = Files.createTempDirectory("instructflow-semantic-");
          dirs.add(d);
          s = new Shelf(d, p.vector().length);
          shelves.put(p.model(), s);
        }
        double[] b = s.best(p.vector(), thresholdOf(p.model()));
        if (b != null) {
          return dropped(kept, (int) b[0], b[1], p.model());
        }
        s.add(p.vector(), kept.add(item.id(), item.location()));
        return Verdict.KEPT;
      } catch (IOException e) {
        throw new UncheckedIOException("semantic_dedup: index of kept records: " + e.getMessage(), e);
      }
    }

    /** Kept records so far. */
    int kept() {
      return kept.size();
    }

    /** The temporary folders of the indexes (for tests). */
    List<Path> folders() {
      return List.copyOf(dirs);
    }

    @Override
    public void close() {
      IOException first = null;
      for (Shelf s : shelves.values()) {
        try {
          s.close();
        } catch (IOException e) {
          first = first == null ? e : first;
        }
      }
      shelves.clear();
      for (Path d : dirs) {
        try (var files = Files.walk(d)) {
          for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
            Files.deleteIfExists(f);
          }
        } catch (IOException e) {
          first = first == null ? e : first;
        }
      }
      if (first != null) {
        throw new UncheckedIOException("semantic_dedup: removing the index of kept records: " + first.getMessage(), first);
      }
    }
  }
}
