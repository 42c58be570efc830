package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.RecordFilter;
import io.instructflow.filters.instruction.PyText;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Keyword block and allow lists over some fields, matched as whole words (or phrases) in any case.
 * A blocked word anywhere drops the record ({@value #BLOCKED}); with an allow list, a record none of
 * whose fields holds an allowed word drops ({@value #NONE_ALLOWED}).
 *
 * @param fields the fields searched
 * @param block blocked words
 * @param allow allowed words (empty: no allow rule)
 */
public record KeywordFilter(List<TextField> fields, List<String> block, List<String> allow) implements RecordFilter {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "keywords";
  public static final String BLOCKED = "keywords.blocked";
  public static final String NONE_ALLOWED = "keywords.none_allowed";

  public KeywordFilter {
    fields = List.copyOf(fields);
    block = List.copyOf(block);
    allow = List.copyOf(allow);
    if (fields.isEmpty() || block.isEmpty() && allow.isEmpty()) {
      throw new IllegalArgumentException("keywords: need fields and a block or an allow list");
    }
  }

  /** From a chain config: {@code fields} (default instruction and output), {@code block}, {@code allow}. */
  public static KeywordFilter fromJson(JsonNode n, String at) {
    Config c = new Config(n, at, Set.of("fields", "block", "allow"));
    try {
      return new KeywordFilter(c.fields("fields", List.of(TextField.INSTRUCTION, TextField.OUTPUT)),
          c.texts("block", List.of()), c.texts("allow", List.of()));
    } catch (IllegalArgumentException e) {
      throw e.getMessage().startsWith(at) ? e : c.error(e.getMessage());
    }
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    boolean allowed = allow.isEmpty();
    for (TextField f : fields) {
      String t = f.of(e);
      for (String w : block) {
        if (PyText.containsWord(t, w)) {
          return new Verdict.Dropped(TYPE, BLOCKED, Map.of("word", w, "field", f.code()));
        }
      }
      for (int i = 0; !allowed && i < allow.size(); i++) {
        allowed = PyText.containsWord(t, allow.get(i));
      }
    }
    return allowed ? Verdict.KEPT : new Verdict.Dropped(TYPE, NONE_ALLOWED, Map.of("allow", allow));
  }

  /** Makes this filter from its chain config entry; listed in {@code META-INF/services} ({@link io.instructflow.filters.chain.FilterRegistry}). */
  public static final class Factory extends io.instructflow.filters.chain.FilterFactory.Of {
    public Factory() {
      super(TYPE, KeywordFilter::fromJson);
    }
  }
}
