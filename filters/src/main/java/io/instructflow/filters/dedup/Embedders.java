package io.instructflow.filters.dedup;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.langchain4j.model.embedding.onnx.AbstractInProcessEmbeddingModel;
import dev.langchain4j.model.embedding.onnx.OnnxBertBiEncoder;
import dev.langchain4j.model.embedding.onnx.PoolingMode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * The in-process sentence-embedding models semantic dedup can use. Both ship with their ONNX file and
 * tokenizer inside a Maven artifact (langchain4j 0.36.2, run by ONNX Runtime on the CPU), so nothing is
 * downloaded at run time. Each is loaded once per JVM, on first use, and shared.
 *
 * <p>Threads. Each model runs in an ONNX Runtime session of one thread that does not spin while it
 * waits ({@code session.intra_op.allow_spinning} 0); texts are embedded in parallel by the callers'
 * threads (a parallel stream here, the ordered pass's, or Spark's task threads), one text per thread.
 * The library's default session instead starts a pool of one spinning thread per core for every
 * text, so two texts embedded at once oversubscribe the cores and the spinning threads take turns
 * with the working ones: on the 2-core machine, 600 composed T0 prompts took 11.4 s that way and 5.9
 * s this way, with bit-identical vectors (an intra-op pool splits each product by rows and columns,
 * never the sum inside one dot product, so the thread count does not change a value).
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

  private static final Map<Embedders, Loaded> LOADED = new ConcurrentHashMap<>();

  private final String code;
  private final double defaultThreshold;
  private final String onnx;
  private final String tokenizer;
  private final PoolingMode pooling;

  Embedders(String code, double defaultThreshold) {
    this.code = code;
    this.defaultThreshold = defaultThreshold;
    // The files the langchain4j model artifacts carry at the root of their jars, and the pooling
    // their model classes use.
    boolean zh = code.startsWith("bge");
    this.onnx = zh ? "bge-small-zh-v1.5-q.onnx" : "all-minilm-l6-v2-q.onnx";
    this.tokenizer = zh ? "bge-small-zh-v1.5-q-tokenizer.json" : "all-minilm-l6-v2-q-tokenizer.json";
    this.pooling = zh ? PoolingMode.CLS : PoolingMode.MEAN;
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

  /** A model in its one-thread session; {@code embed} of one text runs in the calling thread. */
  private static final class Loaded extends AbstractInProcessEmbeddingModel {
    private final OnnxBertBiEncoder encoder;

    Loaded(Embedders e) {
      super(Runnable::run);
      ClassLoader cl = Embedders.class.getClassLoader();
      try (InputStream model = cl.getResourceAsStream(e.onnx); InputStream tok = cl.getResourceAsStream(e.tokenizer)) {
        if (model == null || tok == null) {
          throw new IllegalStateException("embedding model " + e.code + ": " + e.onnx + " or " + e.tokenizer
              + " is not on the class path (its langchain4j-embeddings artifact is missing)");
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(1);
        options.setInterOpNumThreads(1);
        options.addConfigEntry("session.intra_op.allow_spinning", "0");
        encoder = new OnnxBertBiEncoder(env, env.createSession(model.readAllBytes(), options), tok, e.pooling);
      } catch (IOException ex) {
        throw new UncheckedIOException("embedding model " + e.code + ": " + ex.getMessage(), ex);
      } catch (OrtException ex) {
        throw new IllegalStateException("embedding model " + e.code + ": " + ex.getMessage(), ex);
      }
    }

    @Override
    protected OnnxBertBiEncoder model() {
      return encoder;
    }
  }

  private Loaded model() {
    return LOADED.computeIfAbsent(this, Loaded::new);
  }

  /**
   * Unit-length embeddings of {@code texts}, in order, computed {@code batch} at a time (the texts of
   * a batch in parallel, one per thread); {@code progress} hears how many are done after each batch.
   */
  public List<float[]> embed(List<String> texts, int batch, IntConsumer progress) {
    Loaded m = model();
    List<float[]> out = new ArrayList<>(texts.size());
    for (int from = 0; from < texts.size(); from += batch) {
      List<String> part = texts.subList(from, Math.min(texts.size(), from + batch));
      float[][] vecs = new float[part.size()][];
      IntStream.range(0, part.size()).parallel().forEach(i -> {
        String t = part.get(i);
        vecs[i] = unit(m.embed(t.isBlank() ? "(empty)" : t).content().vector());
      });
      out.addAll(List.of(vecs));
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
