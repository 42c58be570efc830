package io.instructflow.filters.dedup;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.chain.KeptRefs;
import io.instructflow.filters.chain.OrderedRule;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Fuzzy dedup with MinHash and locality-sensitive hashing: a record whose word-shingle Jaccard
 * similarity to an earlier kept record is at or above {@code threshold} drops ({@value #REASON}),
 * naming that record and the measured Jaccard. Shingles are {@code shingle}-token runs of the text's
 * Unicode tokens (the whole text when it is shorter). {@code bands × rows} MinHash values (seeded 64-bit
 * mixes of the shingle hashes) are cut into bands; records sharing a band are candidates, and every
 * candidate is verified with the exact Jaccard of the shingle sets, so LSH only decides what is
 * compared, never what is dropped. With b bands of r rows a pair of Jaccard s becomes a candidate with
 * probability 1 − (1 − s^r)^b: the defaults (5-token shingles, 20 × 5, threshold 0.8) find a pair at
 * 0.8 with probability 0.9997 and at 0.5 with 0.47.
 *
 * @param shingle tokens per shingle
 * @param bands LSH bands
 * @param rows MinHash values per band
 * @param threshold Jaccard at or above which a record is a duplicate
 * @param instructionOnly compare instructions only (else instruction, input and output)
 */
public record MinHashDedup(int shingle, int bands, int rows, double threshold, boolean instructionOnly)
    implements OrderedRule {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "minhash_dedup";
  public static final String REASON = "minhash_dedup.near_duplicate";

  public MinHashDedup {
    if (shingle < 1 || bands < 1 || rows < 1) {
      throw new IllegalArgumentException("minhash_dedup: shingle, bands and rows must be positive");
    }
    if (!(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("minhash_dedup: threshold must be in (0, 1], got " + threshold);
    }
  }

  /**
   * The rule of a chain config: {@code mode} {@code ordered} (the default, this greedy rule) or
   * {@code components} ({@link MinHashComponents}: one record kept per connected component).
   */
  public static OrderedRule ruleFromJson(JsonNode n, String at) {
    String mode = n.path("mode").asText("ordered");
    return switch (mode) {
      case "ordered" -> fromJson(n, at);
      case "components" -> new MinHashComponents(fromJson(n, at));
      default -> throw new IllegalArgumentException(at + ": mode must be ordered or components, got '" + mode + "'");
    };
  }

  /**
   * From a chain config: {@code shingle} 5, {@code bands} 20, {@code rows} 5, {@code threshold} 0.8, {@code field} all
   * ({@code mode} is read by {@link #ruleFromJson}).
   */
  public static MinHashDedup fromJson(JsonNode n, String at) {
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!Set.of("type", "shingle", "bands", "rows", "threshold", "field", "mode").contains(k)) {
        throw new IllegalArgumentException(at + ": unknown field '" + k + "', expected [shingle, bands, rows, threshold, field, mode]");
      }
    }
    String f = n.path("field").asText("all");
    if (!f.equals("all") && !f.equals("instruction")) {
      throw new IllegalArgumentException(at + ": field must be all or instruction, got '" + f + "'");
    }
    try {
      return new MinHashDedup(n.path("shingle").asInt(5), n.path("bands").asInt(20), n.path("rows").asInt(5),
          n.path("threshold").asDouble(0.8), f.equals("instruction"));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(at + ": " + e.getMessage());
    }
  }

  /** The shingle hashes of a text. */
  Set<Long> shingles(String text) {
    List<String> t = Tokenizer.named("unicode", false).tokens(text);
    Set<Long> out = new HashSet<>();
    int n = Math.min(shingle, t.size());
    for (int i = 0; i + n <= t.size() && n > 0; i++) {
      long h = 0xcbf29ce484222325L;
      for (int k = i; k < i + n; k++) {
        String w = t.get(k);
        for (int c = 0; c < w.length(); c++) {
          h = (h ^ w.charAt(c)) * 0x100000001b3L;
        }
        h = (h ^ 0x1f) * 0x100000001b3L;
      }
      out.add(h);
    }
    return out;
  }

  /** SplitMix64's finalizer: a seeded 64-bit mix. */
  static long mix(long x) {
    x = (x ^ (x >>> 30)) * 0xbf58476d1ce4e5b9L;
    x = (x ^ (x >>> 27)) * 0x94d049bb133111ebL;
    return x ^ (x >>> 31);
  }

  long[] signature(Set<Long> sh) {
    long[] sig = new long[bands * rows];
    java.util.Arrays.fill(sig, Long.MAX_VALUE);
    for (long s : sh) {
      for (int i = 0; i < sig.length; i++) {
        long v = mix(s + 0x9e3779b97f4a7c15L * (i + 1));
        if (v < sig[i]) {
          sig[i] = v;
        }
      }
    }
    return sig;
  }

  static double jaccard(Set<Long> a, Set<Long> b) {
    if (a.isEmpty() && b.isEmpty()) {
      return 1;
    }
    Set<Long> small = a.size() <= b.size() ? a : b;
    Set<Long> large = small == a ? b : a;
    int inter = 0;
    for (long x : small) {
      inter += large.contains(x) ? 1 : 0;
    }
    return (double) inter / (a.size() + b.size() - inter);
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public List<Verdict> apply(List<GateInput> items) {
    return OrderedRule.applyAsStream(this, items);
  }

  /**
   * What a record is compared by: its shingle hashes, sorted and distinct, and its band keys (band b's
   * key is {@code bandKeys[b]}; {@link #bucket} makes it unique across bands).
   */
  public record Prepared(long[] shingles, long[] bandKeys) {}

  @Override
  public Object prepare(GateInput g) {
    Set<Long> sh = shingles(instructionOnly ? g.instruction() : g.text());
    long[] sig = signature(sh);
    long[] keys = new long[bands];
    for (int b = 0; b < bands; b++) {
      long k = 0x84222325L;
      for (int r = 0; r < rows; r++) {
        k = mix(k ^ sig[b * rows + r]);
      }
      keys[b] = k;
    }
    long[] sorted = new long[sh.size()];
    int i = 0;
    for (long x : sh) {
      sorted[i++] = x;
    }
    java.util.Arrays.sort(sorted);
    return new Prepared(sorted, keys);
  }

  /** Jaccard similarity of two sorted sets of distinct values; 1 for two empty sets. */
  public static double jaccard(long[] a, long[] b) {
    if (a.length == 0 && b.length == 0) {
      return 1;
    }
    int inter = 0;
    for (int i = 0, j = 0; i < a.length && j < b.length; ) {
      if (a[i] == b[j]) {
        inter++;
        i++;
        j++;
      } else if (a[i] < b[j]) {
        i++;
      } else {
        j++;
      }
    }
    return (double) inter / (a.length + b.length - inter);
  }

  @Override
  public boolean streams() {
    return true;
  }

  /**
   * Keeps, per kept record: its band keys in one multimap (the key of band b is mixed with b, which
   * keeps keys of different bands apart, and each entry records its band, which is checked), about
   * {@code bands} × 33 bytes; its reference; and its shingle set in a temporary file, read back only to
   * verify a candidate. A candidate is every kept record sharing a band; the best verified Jaccard at or
   * above the threshold (then the earliest) is the match.
   */
  @Override
  public Decider open() {
    LongMultiMap buckets = new LongMultiMap();
    LongArrayStore shingles = new LongArrayStore();
    KeptRefs refs = new KeptRefs();
    byte[][] bandOf = {new byte[1 << 12]};
    return new Decider() {
      private int entries;

      @Override
      public Verdict decide(GateInput g, Object prepared) {
        Prepared p = (Prepared) prepared;
        java.util.TreeSet<Integer> candidates = new java.util.TreeSet<>();
        for (int b = 0; b < bands; b++) {
          for (int e = buckets.first(bandKey(b, p.bandKeys()[b])); e >= 0; e = buckets.next(e)) {
            if (bandOf[0][e] == (byte) b) {
              candidates.add(buckets.value(e));
            }
          }
        }
        int best = -1;
        double bestJ = -1;
        for (int c : candidates) {
          double j = jaccard(p.shingles(), shingles.get(c));
          if (j >= threshold && j > bestJ) {
            best = c;
            bestJ = j;
          }
        }
        if (best >= 0) {
          Map<String, Object> d = new LinkedHashMap<>();
          d.put("jaccard", Math.round(bestJ * 10_000) / 10_000.0);
          d.put("threshold", threshold);
          d.put("matched_id", refs.id(best));
          d.put("matched_location", refs.location(best));
          return new Verdict.Dropped(TYPE, REASON, d);
        }
        int k = refs.add(g.id(), g.location());
        shingles.add(p.shingles());
        for (int b = 0; b < bands; b++) {
          if (entries == bandOf[0].length) {
            bandOf[0] = java.util.Arrays.copyOf(bandOf[0], entries * 2);
          }
          bandOf[0][entries++] = (byte) b;
          buckets.put(bandKey(b, p.bandKeys()[b]), k);
        }
        return Verdict.KEPT;
      }

      @Override
      public void close() {
        shingles.close();
      }
    };
  }

  /** Band {@code b}'s key {@code k} in one key space of all bands (one-to-one for each band). */
  public static long bucket(int b, long k) {
    return bandKey(b, k);
  }

  /** Band {@code b}'s key {@code k} in the one multimap of all bands (one-to-one for each band). */
  private static long bandKey(int b, long k) {
    return mix(k ^ (0x9e3779b97f4a7c15L * (b + 1)));
  }
}
