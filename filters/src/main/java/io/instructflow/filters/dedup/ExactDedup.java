package io.instructflow.filters.dedup;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.GateInput;
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
    Map<String, GateInput> first = new HashMap<>();
    List<Verdict> out = new ArrayList<>(items.size());
    for (GateInput g : items) {
      GateInput seen = first.putIfAbsent(key(instructionOnly ? g.instruction() : g.text()), g);
      if (seen == null) {
        out.add(Verdict.KEPT);
      } else {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("matched_id", seen.id());
        d.put("matched_location", seen.location());
        out.add(new Verdict.Dropped(TYPE, REASON, d));
      }
    }
    return out;
  }
}
