package io.instructflow.filters.dedup;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import dev.langchain4j.model.embedding.onnx.bgesmallzhv15q.BgeSmallZhV15QuantizedEmbeddingModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntConsumer;

/**
 * The in-process sentence-embedding models semantic dedup can use. Both ship with their ONNX file and
 * tokenizer inside a Maven artifact (langchain4j 0.36.2, run by ONNX Runtime on the CPU), so nothing is
 * downloaded at run time. Each is loaded once per JVM, on first use, and shared.
 *
 * <ul>
 *   <li>{@code all-minilm-l6-v2-q}: sentence-transformers all-MiniLM-L6-v2, int8-quantized, 384
 *       dimensions, English. Its tokenizer maps most CJK characters to the unknown token, so unrelated
 *       Chinese texts come out similar (pairwise cosine 0.5–0.6 on Chinese Alpaca, against < 0.1 for
 *       English): never use it on CJK text.
 *   <li>{@code bge-small-zh-v15-q}: BAAI bge-small-zh-v1.5, int8-quantized, 512 dimensions, Chinese.
 * </ul>
 */
public enum Embedders {
  ALL_MINILM_L6_V2_Q("all-minilm-l6-v2-q", 0.90),
  BGE_SMALL_ZH_V15_Q("bge-small-zh-v15-q", 0.93);

  private static final Map<Embedders, EmbeddingModel> LOADED = new ConcurrentHashMap<>();

  private final String code;
  private final double defaultThreshold;

  Embedders(String code, double defaultThreshold) {
    this.code = code;
    this.defaultThreshold = defaultThreshold;
  }

  /** The name in configs and evidence. */
  public String code() {
    return code;
  }

  /** The cosine similarity at which two texts count as duplicates unless the config says otherwise. */
  public double defaultThreshold() {
    return defaultThreshold;
  }

  /** The model called {@code code}. */
  public static Embedders fromCode(String code) {
    for (Embedders e : values()) {
      if (e.code.equals(code.toLowerCase(Locale.ROOT))) {
        return e;
      }
    }
    List<String> known = new ArrayList<>();
    for (Embedders e : values()) {
      known.add(e.code);
    }
    throw new IllegalArgumentException("unknown embedding model '" + code + "', expected auto or one of " + known);
  }

  /** Whether a text is mostly CJK: at least 30% of its letters are Han, kana or Hangul. */
  public static boolean mostlyCjk(String text) {
    int letters = 0;
    int cjk = 0;
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      i += Character.charCount(cp);
      if (!Character.isLetter(cp)) {
        continue;
      }
      letters++;
      Character.UnicodeScript s = Character.UnicodeScript.of(cp);
      if (s == Character.UnicodeScript.HAN || s == Character.UnicodeScript.HIRAGANA
          || s == Character.UnicodeScript.KATAKANA || s == Character.UnicodeScript.HANGUL) {
        cjk++;
      }
    }
    return letters > 0 && cjk * 10 >= letters * 3;
  }

  private EmbeddingModel model() {
    return LOADED.computeIfAbsent(this, e -> switch (e) {
      case ALL_MINILM_L6_V2_Q -> new AllMiniLmL6V2QuantizedEmbeddingModel();
      case BGE_SMALL_ZH_V15_Q -> new BgeSmallZhV15QuantizedEmbeddingModel();
    });
  }

  /**
   * Unit-length embeddings of {@code texts}, in order, computed {@code batch} at a time;
   * {@code progress} hears how many are done after each batch.
   */
  public List<float[]> embed(List<String> texts, int batch, IntConsumer progress) {
    EmbeddingModel m = model();
    List<float[]> out = new ArrayList<>(texts.size());
    for (int from = 0; from < texts.size(); from += batch) {
      List<TextSegment> segs = new ArrayList<>();
      for (String t : texts.subList(from, Math.min(texts.size(), from + batch))) {
        segs.add(TextSegment.from(t.isBlank() ? "(empty)" : t));
      }
      for (Embedding e : m.embedAll(segs).content()) {
        out.add(unit(e.vector()));
      }
      progress.accept(out.size());
    }
    return out;
  }

  static float[] unit(float[] v) {
    double n = 0;
    for (float x : v) {
      n += (double) x * x;
    }
    float[] out = new float[v.length];
    double s = n == 0 ? 0 : 1 / Math.sqrt(n);
    for (int i = 0; i < v.length; i++) {
      out[i] = (float) (v[i] * s);
    }
    return out;
  }
}
