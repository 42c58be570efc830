package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.RecordFilter;
import io.instructflow.filters.rouge.Match;
import io.instructflow.filters.rouge.RougeIndex;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Verdict;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Benchmark decontamination: a record is contaminated when it shares a run of {@code ngram} tokens
 * (default 13) with a benchmark item ({@value #NGRAM}), or when its prompt (instruction and input) has
 * ROUGE-L F at or above {@code rougeThreshold} (default 0.8) against one ({@value #ROUGE}); the verdict
 * names the benchmark file, the item (its {@code id}, {@code question_id} or {@code idx}, else its line)
 * and the evidence.
 *
 * <p>A benchmark file is JSON lines (or a JSON array) of any shape: every string value of 20 characters
 * or more in an item, nested ones included, is one of its texts (so MT-Bench's turns, Koala's prompt,
 * WizardLM's Instruction and LIMA's conversations all count), except the values of id, name and
 * category keys. Tokens are
 * lower-cased words, each CJK character a token. Texts shorter than {@code ngram} tokens but at least
 * {@code minTokens} long (default 5) match when they appear whole. The n-grams sit in a hash map; the
 * ROUGE-L candidates come from the Lucene {@link RougeIndex}, verified exactly.
 *
 * <p>On a cluster: the benchmark files are read once, where the filter is made (the driver), and their
 * texts travel inside the filter to every executor with the pipeline, so executors need no access to
 * the files. Each executor JVM builds the index from those texts once (keyed by their SHA-256 and the
 * parameters) and shares it between its threads and tasks.
 *
 * @param benchmarks the benchmark files
 * @param ngram n-gram length
 * @param rougeThreshold ROUGE-L F at or above which a prompt is contaminated
 * @param minTokens shortest benchmark text that counts whole when it is shorter than {@code ngram}
 * @param corpus the files' texts; null reads them (the constructor then needs the files), non-null is
 *     what a deserialized filter gets, with no file access
 */
public record DecontaminationFilter(List<String> benchmarks, int ngram, double rougeThreshold, int minTokens,
    Corpus corpus) implements RecordFilter {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "decontamination";
  public static final String NGRAM = "decontamination.ngram_overlap";
  public static final String ROUGE = "decontamination.rouge_l";
  static final int MIN_TEXT_CHARS = 20;

  private static final Map<String, Index> INDEXES = new HashMap<>();

  /**
   * The benchmark texts, in file and item order: {@code texts.get(i)} belongs to {@code items.get(i)}.
   * {@code sha256} identifies the whole (files' names, items and texts) for the per-JVM index cache.
   */
  public record Corpus(List<Item> items, List<String> texts, String sha256) implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    static Corpus read(List<String> files) {
      List<Item> items = new ArrayList<>();
      List<String> texts = new ArrayList<>();
      // each file name, item id and text, NUL-terminated: what the hash covers
      java.io.ByteArrayOutputStream hashed = new java.io.ByteArrayOutputStream();
      for (String b : files) {
        Path p = Paths.get(b);
        try {
          for (Map.Entry<String, List<String>> item : DecontaminationFilter.items(p).entrySet()) {
            for (String text : item.getValue()) {
              Item it = new Item(p.getFileName().toString(), item.getKey());
              items.add(it);
              texts.add(text);
              for (String part : List.of(it.file(), it.id(), text)) {
                hashed.writeBytes(part.getBytes(StandardCharsets.UTF_8));
                hashed.write(0);
              }
            }
          }
        } catch (IOException e) {
          throw new UncheckedIOException("reading benchmark " + b + ": " + e.getMessage(), e);
        }
      }
      return new Corpus(List.copyOf(items), List.copyOf(texts), Ids.sha256Hex(hashed.toByteArray()));
    }
  }

  public DecontaminationFilter {
    benchmarks = List.copyOf(benchmarks);
    if (benchmarks.isEmpty()) {
      throw new IllegalArgumentException("decontamination: no benchmark files");
    }
    if (ngram < 2 || minTokens < 1) {
      throw new IllegalArgumentException("decontamination: ngram must be >= 2 and minTokens >= 1");
    }
    if (!(rougeThreshold > 0 && rougeThreshold <= 1)) {
      throw new IllegalArgumentException("decontamination: rougeThreshold must be in (0, 1], got " + rougeThreshold);
    }
    if (corpus == null) {
      for (String b : benchmarks) {
        if (!Files.isRegularFile(Paths.get(b))) {
          throw new IllegalArgumentException("decontamination: no such benchmark file: " + b);
        }
      }
      corpus = Corpus.read(benchmarks);
    }
  }

  /** Reads the benchmark files now. */
  public DecontaminationFilter(List<String> benchmarks, int ngram, double rougeThreshold, int minTokens) {
    this(benchmarks, ngram, rougeThreshold, minTokens, null);
  }

  /** Without the corpus's texts, which can be megabytes. */
  @Override
  public String toString() {
    return "DecontaminationFilter[benchmarks=" + benchmarks + ", ngram=" + ngram + ", rougeThreshold=" + rougeThreshold
        + ", minTokens=" + minTokens + ", corpus=" + corpus.texts().size() + " texts, sha256 " + corpus.sha256() + "]";
  }

  /** The defaults (13-grams, ROUGE-L 0.8, whole texts from 5 tokens) over {@code files}. */
  public static DecontaminationFilter of(List<String> files) {
    return new DecontaminationFilter(files, 13, 0.8, 5);
  }

  /** From a chain config: {@code benchmarks}, {@code ngram}, {@code rougeThreshold}, {@code minTokens}. */
  public static DecontaminationFilter fromJson(JsonNode n, String at) {
    Config c = new Config(n, at, Set.of("benchmarks", "ngram", "rougeThreshold", "minTokens"));
    try {
      return new DecontaminationFilter(c.texts("benchmarks", List.of()), c.integer("ngram", 13),
          c.number("rougeThreshold", 0.8), c.integer("minTokens", 5));
    } catch (IllegalArgumentException e) {
      throw e.getMessage().startsWith(at) ? e : c.error(e.getMessage());
    }
  }

  /** One benchmark text: where it came from. */
  public record Item(String file, String id) implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
  }

  /** The n-gram table and the ROUGE-L index of the benchmark texts. */
  static final class Index {
    final Tokenizer tok = Tokenizer.named("unicode", false);
    final Map<Long, Integer> grams = new HashMap<>();
    final Map<Integer, Map<Long, Integer>> whole = new HashMap<>();
    final List<Item> items = new ArrayList<>();
    final RougeIndex rouge;
    final int ngram;

    Index(DecontaminationFilter f) {
      this.ngram = f.ngram();
      this.rouge = new RougeIndex(Math.max(1e-9, f.rougeThreshold() - 1e-9), 1024);
      Corpus c = f.corpus();
      for (int i = 0; i < c.items().size(); i++) {
        add(c.items().get(i), tok.tokens(c.texts().get(i)), f.minTokens());
      }
      rouge.optimize();
    }

    private void add(Item item, List<String> tokens, int minTokens) {
      int id = items.size();
      items.add(item);
      rouge.add(tokens);
      if (tokens.size() >= ngram) {
        for (int i = 0; i + ngram <= tokens.size(); i++) {
          grams.putIfAbsent(hash(tokens, i, ngram), id);
        }
      } else if (tokens.size() >= minTokens) {
        whole.computeIfAbsent(tokens.size(), k -> new HashMap<>()).putIfAbsent(hash(tokens, 0, tokens.size()), id);
      }
    }
  }

  /** The texts of each item of a benchmark file, by item id, in file order. */
  static Map<String, List<String>> items(Path file) throws IOException {
    Map<String, List<String>> out = new LinkedHashMap<>();
    String content = Files.readString(file, StandardCharsets.UTF_8);
    if (content.stripLeading().startsWith("[")) {
      int i = 0;
      for (JsonNode n : Json.mapper().readTree(content)) {
        out.put(itemId(n, "#" + i++), texts(n));
      }
      return out;
    }
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int no = 0;
      while ((line = in.readLine()) != null) {
        no++;
        if (line.isBlank()) {
          continue;
        }
        JsonNode n;
        try {
          n = Json.mapper().readTree(line);
        } catch (IOException e) {
          throw new IOException(file.getFileName() + ":" + no + " is not JSON: " + e.getMessage(), e);
        }
        out.put(itemId(n, "line " + no), texts(n));
      }
    }
    return out;
  }

  private static String itemId(JsonNode n, String fallback) {
    for (String k : List.of("id", "question_id", "idx")) {
      if (n.hasNonNull(k) && n.get(k).isValueNode()) {
        return k + " " + n.get(k).asText();
      }
    }
    return fallback;
  }

  private static List<String> texts(JsonNode n) {
    List<String> out = new ArrayList<>();
    collect(n, out);
    return out;
  }

  private static void collect(JsonNode n, List<String> out) {
    if (n.isTextual()) {
      if (n.asText().length() >= MIN_TEXT_CHARS) {
        out.add(n.asText());
      }
    } else if (n.isArray()) {
      n.forEach(x -> collect(x, out));
    } else if (n.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> f = it.next();
        if (!isLabel(f.getKey())) {
          collect(f.getValue(), out);
        }
      }
    }
  }

  /** Keys whose values name or classify an item rather than hold its text. */
  static boolean isLabel(String key) {
    String k = key.toLowerCase(java.util.Locale.ROOT);
    return k.equals("id") || k.endsWith("_id") || k.equals("idx") || k.equals("name") || k.equals("category")
        || k.equals("skill") || k.equals("motivation_app") || k.equals("source");
  }

  /** 64-bit FNV-1a over the tokens {@code [from, from + n)}, separated. */
  static long hash(List<String> tokens, int from, int n) {
    long h = 0xcbf29ce484222325L;
    for (int i = from; i < from + n; i++) {
      String t = tokens.get(i);
      for (int k = 0; k < t.length(); k++) {
        h ^= t.charAt(k);
        h *= 0x100000001b3L;
      }
      h ^= 0x1f;
      h *= 0x100000001b3L;
    }
    return h;
  }

  private Index index() {
    String key = corpus.sha256() + "/" + ngram + "/" + rougeThreshold + "/" + minTokens;
    synchronized (INDEXES) {
      Index ix = INDEXES.get(key);
      if (ix == null) {
        ix = new Index(this);
        INDEXES.put(key, ix);
      }
      return ix;
    }
  }

  /** Index builds in this JVM so far (for tests: one per corpus and parameters, however many tasks). */
  static int indexesBuilt() {
    synchronized (INDEXES) {
      return INDEXES.size();
    }
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    Index ix = index();
    String prompt = TextField.INSTRUCTION.of(e) + "\n" + TextField.INPUT.of(e);
    String all = prompt + "\n" + TextField.OUTPUT.of(e);
    List<String> tokens = ix.tok.tokens(all);
    for (int i = 0; i + ngram <= tokens.size(); i++) {
      Integer hit = ix.grams.get(hash(tokens, i, ngram));
      if (hit != null) {
        return ngramDrop(ix.items.get(hit), String.join(" ", tokens.subList(i, i + ngram)));
      }
    }
    for (int len : new TreeSet<>(ix.whole.keySet())) {
      Map<Long, Integer> table = ix.whole.get(len);
      for (int i = 0; i + len <= tokens.size(); i++) {
        Integer hit = table.get(hash(tokens, i, len));
        if (hit != null) {
          return ngramDrop(ix.items.get(hit), String.join(" ", tokens.subList(i, i + len)));
        }
      }
    }
    Match m = ix.rouge.best(ix.tok.tokens(prompt), ix.rouge.size());
    if (m != null && m.score() >= rougeThreshold) {
      Item it = ix.items.get(m.ordinal());
      Map<String, Object> d = new LinkedHashMap<>();
      d.put("benchmark", it.file());
      d.put("item", it.id());
      d.put("score", Math.round(m.score() * 10_000) / 10_000.0);
      d.put("threshold", rougeThreshold);
      return new Verdict.Dropped(TYPE, ROUGE, d);
    }
    return Verdict.KEPT;
  }

  private static Verdict ngramDrop(Item it, String ngram) {
    Map<String, Object> d = new LinkedHashMap<>();
    d.put("benchmark", it.file());
    d.put("item", it.id());
    d.put("ngram", ngram);
    return new Verdict.Dropped(TYPE, NGRAM, d);
  }

  /** Makes this filter from its chain config entry; listed in {@code META-INF/services} ({@link io.instructflow.filters.chain.FilterRegistry}). */
  public static final class Factory extends io.instructflow.filters.chain.FilterFactory.Of {
    public Factory() {
      super(TYPE, DecontaminationFilter::fromJson);
    }
  }
}
