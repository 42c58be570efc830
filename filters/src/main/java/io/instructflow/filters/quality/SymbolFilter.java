package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.RecordFilter;
import io.instructflow.filters.instruction.PyText;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.Map;
import java.util.Set;

/**
 * Symbol ratios on one field: the share of characters that are neither letters, digits nor
 * whitespace ({@value #NON_ALPHANUMERIC}, default limit 0.5), and Gopher's ratio of hash signs and
 * ellipses to words ({@value #SYMBOL_WORD}, default limit 0.1). Words are whitespace-separated, except
 * that each CJK character counts as a word (Chinese and Japanese are written without spaces, which
 * would otherwise make every symbol weigh like a sentence). Ratios are not computed on texts shorter
 * than {@code minChars} (default 20), where one symbol would swing them.
 *
 * @param field the field
 * @param maxNonAlphanumeric limit of the non-alphanumeric share
 * @param maxSymbolWordRatio limit of (hash signs + ellipses) / words
 * @param minChars shortest text measured
 */
public record SymbolFilter(TextField field, double maxNonAlphanumeric, double maxSymbolWordRatio, int minChars)
    implements RecordFilter {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "symbols";
  public static final String NON_ALPHANUMERIC = "symbols.non_alphanumeric_ratio";
  public static final String SYMBOL_WORD = "symbols.symbol_word_ratio";

  /** From a chain config: {@code field}, {@code maxNonAlphanumeric}, {@code maxSymbolWordRatio}, {@code minChars}. */
  public static SymbolFilter fromJson(JsonNode n, String at) {
    Config c = new Config(n, at, Set.of("field", "maxNonAlphanumeric", "maxSymbolWordRatio", "minChars"));
    return new SymbolFilter(c.field("field", TextField.OUTPUT), c.number("maxNonAlphanumeric", 0.5),
        c.number("maxSymbolWordRatio", 0.1), c.integer("minChars", 20));
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    String t = field.of(e);
    int total = 0;
    int other = 0;
    for (int i = 0; i < t.length(); ) {
      int cp = t.codePointAt(i);
      i += Character.charCount(cp);
      if (PyText.isSpace(cp)) {
        continue;
      }
      total++;
      if (!Character.isLetterOrDigit(cp)) {
        other++;
      }
    }
    if (total < minChars) {
      return Verdict.KEPT;
    }
    double r = (double) other / total;
    if (r > maxNonAlphanumeric) {
      return new Verdict.Dropped(TYPE, NON_ALPHANUMERIC, Map.of("field", field.code(), "value", round(r),
          "limit", maxNonAlphanumeric));
    }
    int words = words(t);
    int symbols = count(t, "#") + count(t, "...") + count(t, "\u2026");
    double s = words == 0 ? 0 : (double) symbols / words;
    if (s > maxSymbolWordRatio) {
      return new Verdict.Dropped(TYPE, SYMBOL_WORD, Map.of("field", field.code(), "value", round(s),
          "limit", maxSymbolWordRatio));
    }
    return Verdict.KEPT;
  }

  /** Whitespace-separated words, each CJK character counting as one. */
  static int words(String t) {
    int n = 0;
    for (String w : PyText.split(t)) {
      int cjk = 0;
      for (int i = 0; i < w.length(); ) {
        int cp = w.codePointAt(i);
        i += Character.charCount(cp);
        Character.UnicodeScript s = Character.UnicodeScript.of(cp);
        if (s == Character.UnicodeScript.HAN || s == Character.UnicodeScript.HIRAGANA
            || s == Character.UnicodeScript.KATAKANA || s == Character.UnicodeScript.HANGUL) {
          cjk++;
        }
      }
      n += Math.max(1, cjk);
    }
    return n;
  }

  private static double round(double x) {
    return Math.round(x * 10_000) / 10_000.0;
  }

  private static int count(String t, String s) {
    int n = 0;
    for (int i = t.indexOf(s); i >= 0; i = t.indexOf(s, i + s.length())) {
      n++;
    }
    return n;
  }

  /** Makes this filter from its chain config entry; listed in {@code META-INF/services} ({@link io.instructflow.filters.chain.FilterRegistry}). */
  public static final class Factory extends io.instructflow.filters.chain.FilterFactory.Of {
    public Factory() {
      super(TYPE, SymbolFilter::fromJson);
    }
  }
}
