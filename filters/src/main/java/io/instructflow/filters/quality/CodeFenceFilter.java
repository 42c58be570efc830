package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.RecordFilter;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.Map;
import java.util.Set;

/**
 * Unbalanced Markdown code fences in the output: an odd number of {@code ```} marks (a code block
 * opened and never closed, usually a cut-off generation) drops ({@value #UNBALANCED}).
 */
public record CodeFenceFilter() implements RecordFilter {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "code_fences";
  public static final String UNBALANCED = "code_fences.unbalanced";

  /** From a chain config (no settings). */
  public static CodeFenceFilter fromJson(JsonNode n, String at) {
    new Config(n, at, Set.of());
    return new CodeFenceFilter();
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    String t = TextField.OUTPUT.of(e);
    int n = 0;
    for (int i = t.indexOf("```"); i >= 0; i = t.indexOf("```", i + 3)) {
      n++;
      while (i + 3 < t.length() && t.charAt(i + 3) == '`') {
        i++;
      }
    }
    return n % 2 == 1 ? new Verdict.Dropped(TYPE, UNBALANCED, Map.of("fences", n)) : Verdict.KEPT;
  }

  /** Makes this filter from its chain config entry; listed in {@code META-INF/services} ({@link io.instructflow.filters.chain.FilterRegistry}). */
  public static final class Factory extends io.instructflow.filters.chain.FilterFactory.Of {
    public Factory() {
      super(TYPE, CodeFenceFilter::fromJson);
    }
  }
}
