package io.instructflow.filters.dedup;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.chain.OrderedRule;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.IntField;
import org.apache.lucene.document.KnnFloatVectorField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.LeafReader;
import org.apache.lucene.index.SortedNumericDocValues;
import org.apache.lucene.index.VectorSimilarityFunction;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.KnnFloatVectorQuery;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.store.ByteBuffersDirectory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Semantic dedup: a record whose sentence embedding has cosine similarity at or above the threshold
 * with an earlier kept record's drops ({@value #REASON}), naming that record, the model and the
 * cosine. The embedding models run in process (see {@link Embedders}); with {@code model: "auto"} a
 * mostly-CJK text goes to the Chinese model and any other to the English one, and a text is only ever
 * compared with texts embedded by the same model.
 *
 * <p>Candidates come from a Lucene HNSW index of every text's embedding (dot product of unit vectors):
 * for each record, its {@code neighbours} nearest earlier records. Each candidate is verified with the
 * exact cosine, so the index only decides what is compared, never what is dropped; a near-duplicate the
 * approximate search does not return is kept. Texts are cut to {@code maxChars} characters before they
 * are embedded.
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

  /** From a chain config: {@code model} auto, {@code threshold} (per model), {@code field} prompt, {@code neighbours} 32, {@code maxChars} 1000. */
  public static SemanticDedup fromJson(JsonNode n, String at) {
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!Set.of("type", "model", "threshold", "field", "neighbours", "maxChars").contains(k)) {
        throw new IllegalArgumentException(at + ": unknown field '" + k + "', expected [model, threshold, field, neighbours, maxChars]");
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
  Embedders modelFor(String text) {
    if (!model.equals("auto")) {
      return Embedders.fromCode(model);
    }
    return Embedders.mostlyCjk(text) ? Embedders.BGE_SMALL_ZH_V15_Q : Embedders.ALL_MINILM_L6_V2_Q;
  }

  double thresholdOf(Embedders e) {
    return threshold != null ? threshold : e.defaultThreshold();
  }

  String textOf(GateInput g) {
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

  @Override
  public List<Verdict> apply(List<GateInput> items) {
    Map<Embedders, List<Integer>> groups = new EnumMap<>(Embedders.class);
    List<String> texts = new ArrayList<>(items.size());
    for (int i = 0; i < items.size(); i++) {
      String t = textOf(items.get(i));
      texts.add(t);
      groups.computeIfAbsent(modelFor(t), k -> new ArrayList<>()).add(i);
    }
    List<Verdict> out = new ArrayList<>(Collections.nCopies(items.size(), Verdict.KEPT));
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
      List<List<Integer>> candidates = candidates(vecs);
      double t = thresholdOf(g.getKey());
      boolean[] kept = new boolean[idx.size()];
      for (int j = 0; j < idx.size(); j++) {
        int best = -1;
        double bestCos = -2;
        for (int c : candidates.get(j)) {
          if (!kept[c]) {
            continue;
          }
          double cos = dot(vecs.get(c), vecs.get(j));
          if (cos >= t && (cos > bestCos || cos == bestCos && c < best)) {
            best = c;
            bestCos = cos;
          }
        }
        if (best < 0) {
          kept[j] = true;
          continue;
        }
        GateInput m = items.get(idx.get(best));
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("cosine", Math.round(bestCos * 10_000) / 10_000.0);
        d.put("threshold", t);
        d.put("model", g.getKey().code());
        d.put("matched_id", m.id());
        d.put("matched_location", m.location());
        out.set(idx.get(j), new Verdict.Dropped(TYPE, REASON, d));
      }
    }
    return out;
  }

  static double dot(float[] a, float[] b) {
    double s = 0;
    for (int i = 0; i < a.length; i++) {
      s += (double) a[i] * b[i];
    }
    return s;
  }

  /**
   * For each vector, the positions of up to {@code neighbours} earlier vectors nearest to it, from an
   * in-memory Lucene HNSW index built in one thread (so the same input gives the same graph).
   */
  List<List<Integer>> candidates(List<float[]> vecs) {
    List<List<Integer>> out = new ArrayList<>(vecs.size());
    try (ByteBuffersDirectory dir = new ByteBuffersDirectory()) {
      IndexWriterConfig cfg = new IndexWriterConfig().setRAMBufferSizeMB(1024).setCommitOnClose(true);
      try (IndexWriter w = new IndexWriter(dir, cfg)) {
        for (int i = 0; i < vecs.size(); i++) {
          Document doc = new Document();
          doc.add(new KnnFloatVectorField("v", vecs.get(i), VectorSimilarityFunction.DOT_PRODUCT));
          doc.add(new IntField("ord", i, Field.Store.NO));
          w.addDocument(doc);
        }
        w.forceMerge(1);
      }
      try (DirectoryReader r = DirectoryReader.open(dir)) {
        IndexSearcher s = new IndexSearcher(r);
        LeafReader leaf = r.leaves().isEmpty() ? null : r.leaves().get(0).reader();
        for (int j = 0; j < vecs.size(); j++) {
          List<Integer> near = new ArrayList<>();
          if (j > 0) {
            TopDocs top = s.search(new KnnFloatVectorQuery("v", vecs.get(j), neighbours, IntField.newRangeQuery("ord", 0, j - 1)),
                neighbours);
            SortedNumericDocValues ords = leaf.getSortedNumericDocValues("ord");
            List<Integer> docs = new ArrayList<>();
            for (ScoreDoc sd : top.scoreDocs) {
              docs.add(sd.doc);
            }
            Collections.sort(docs);
            for (int doc : docs) {
              if (ords.advanceExact(doc)) {
                near.add((int) ords.nextValue());
              }
            }
          }
          out.add(near);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("semantic_dedup: in-memory index: " + e.getMessage(), e);
    }
    return out;
  }
}
