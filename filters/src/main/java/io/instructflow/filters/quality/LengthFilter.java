package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.RecordFilter;
import io.instructflow.filters.instruction.PyText;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.Map;
import java.util.Set;

/**
 * Word and character bounds on one field. Words are whitespace-separated; characters are Unicode code
 * points, so a Chinese text is measured per character. A bound of 0 is off.
 *
 * @param field the field
 * @param minWords fewer words drop ({@value #TOO_FEW_WORDS})
 * @param maxWords more words drop ({@value #TOO_MANY_WORDS})
 * @param minChars fewer characters drop ({@value #TOO_FEW_CHARS})
 * @param maxChars more characters drop ({@value #TOO_MANY_CHARS})
 */
public record LengthFilter(TextField field, int minWords, int maxWords, int minChars, int maxChars) implements RecordFilter {
  private static final long serialVersionUID = 1L;

  /** The filter's type and id. */
  public static final String TYPE = "length";
  public static final String TOO_FEW_WORDS = "length.too_few_words";
  public static final String TOO_MANY_WORDS = "length.too_many_words";
  public static final String TOO_FEW_CHARS = "length.too_few_chars";
  public static final String TOO_MANY_CHARS = "length.too_many_chars";

  public LengthFilter {
    if (maxWords > 0 && maxWords < minWords || maxChars > 0 && maxChars < minChars) {
      throw new IllegalArgumentException("length bounds: max below min (" + minWords + ".." + maxWords + " words, "
          + minChars + ".." + maxChars + " chars)");
    }
  }

  /** From a chain config: {@code field} (default output), {@code minWords}, {@code maxWords}, {@code minChars}, {@code maxChars}. */
  public static LengthFilter fromJson(JsonNode n, String at) {
    Config c = new Config(n, at, Set.of("field", "minWords", "maxWords", "minChars", "maxChars"));
    try {
      return new LengthFilter(c.field("field", TextField.OUTPUT), c.integer("minWords", 0), c.integer("maxWords", 0),
          c.integer("minChars", 0), c.integer("maxChars", 0));
    } catch (IllegalArgumentException e) {
      throw c.error(e.getMessage());
    }
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    String t = field.of(e);
    int words = PyText.split(t).size();
    int chars = t.codePointCount(0, t.length());
    if (words < minWords) {
      return drop(TOO_FEW_WORDS, words, minWords);
    }
    if (maxWords > 0 && words > maxWords) {
      return drop(TOO_MANY_WORDS, words, maxWords);
    }
    if (chars < minChars) {
      return drop(TOO_FEW_CHARS, chars, minChars);
    }
    if (maxChars > 0 && chars > maxChars) {
      return drop(TOO_MANY_CHARS, chars, maxChars);
    }
    return Verdict.KEPT;
  }

  private Verdict drop(String reason, int value, int limit) {
    return new Verdict.Dropped(TYPE, reason, Map.of("field", field.code(), "value", value, "limit", limit));
  }

  /** Makes this filter from its chain config entry; listed in {@code META-INF/services} ({@link io.instructflow.filters.chain.FilterRegistry}). */
  public static final class Factory extends io.instructflow.filters.chain.FilterFactory.Of {
    public Factory() {
      super(TYPE, LengthFilter::fromJson);
    }
  }
}
