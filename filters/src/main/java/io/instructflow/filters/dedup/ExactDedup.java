package io.instructflow.filters.dedup;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.chain.KeptRefs;
import io.instructflow.filters.chain.OrderedRule;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Verdict;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Exact dedup on normalized text: NFKC, lower case, punctuation and whitespace differences ignored
 * (the text's Unicode tokens joined by single spaces), hashed with SHA-256. The first record of each
 * hash is kept; later ones drop ({@value #REASON}) naming it. {@code field}: {@code all} (instruction,
 * input and output; the default) or {@code instruction}.
 *
 * @param instructionOnly compare instructions only
 */
public record ExactDedup(boolean instructionOnly) implements OrderedRule {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "exact_dedup";
  public static final String REASON = "exact_dedup.duplicate";

  /** From a chain config: {@code field}: {@code all} or {@code instruction}. */
  public static ExactDedup fromJson(JsonNode n, String at) {
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!k.equals("type") && !k.equals("field")) {
        throw new IllegalArgumentException(at + ": unknown field '" + k + "', expected [field]");
      }
    }
    String f = n.path("field").asText("all");
    if (!f.equals("all") && !f.equals("instruction")) {
      throw new IllegalArgumentException(at + ": field must be all or instruction, got '" + f + "'");
    }
    return new ExactDedup(f.equals("instruction"));
  }

  /** The normalized text's hash. */
  public static String key(String text) {
    return Ids.sha256Hex(String.join(" ", Tokenizer.named("unicode", false).tokens(text)).getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public List<Verdict> apply(List<GateInput> items) {
    return OrderedRule.applyAsStream(this, items);
  }

  /** The first 128 bits of {@link #key}'s hash of the compared text. */
  @Override
  public Object prepare(GateInput g) {
    String text = String.join(" ", Tokenizer.named("unicode", false).tokens(instructionOnly ? g.instruction() : g.text()));
    try {
      byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
      java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(d);
      return new long[] {b.getLong(), b.getLong()};
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public boolean streams() {
    return true;
  }

  /**
   * Keeps, per kept record, its 128-bit hash (in a multimap on the low half, checked on the high half)
   * and its reference: about 90 bytes per kept record.
   */
  @Override
  public Decider open() {
    LongMultiMap byLow = new LongMultiMap();
    long[][] high = {new long[1024]};
    KeptRefs refs = new KeptRefs();
    return (g, prepared) -> {
      long[] h = (long[]) prepared;
      for (int e = byLow.first(h[1]); e >= 0; e = byLow.next(e)) {
        int k = byLow.value(e);
        if (high[0][k] == h[0]) {
          Map<String, Object> d = new LinkedHashMap<>();
          d.put("matched_id", refs.id(k));
          d.put("matched_location", refs.location(k));
          return new Verdict.Dropped(TYPE, REASON, d);
        }
      }
      int k = refs.add(g.id(), g.location());
      if (k == high[0].length) {
        high[0] = java.util.Arrays.copyOf(high[0], k * 2);
      }
      high[0][k] = h[0];
      byLow.put(h[1], k);
      return Verdict.KEPT;
    };
  }
}
