package io.instructflow.filters.rouge;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The tokenizer of Google's {@code rouge_score} (its default {@code tokenize}): lowercase; every run of
 * characters outside {@code [a-z0-9]} is a separator; optionally Porter-stem tokens longer than three
 * characters. Everything that is not ASCII letters or digits vanishes, so Chinese text has no tokens
 * at all: use {@link UnicodeTokenizer} for it.
 *
 * <p>Lowercasing is Unicode-aware as Python's {@code str.lower}, so the few non-ASCII capitals whose
 * lowercase is ASCII (the Kelvin sign, dotted capital I) yield ASCII letters as they do there.
 */
public final class RougeTokenizer implements Tokenizer {
  private static final long serialVersionUID = 1L;
  private final boolean stem;

  /** @param stem whether to Porter-stem tokens longer than three characters */
  public RougeTokenizer(boolean stem) {
    this.stem = stem;
  }

  @Override
  public List<String> tokens(String text) {
    String lower = text.toLowerCase(Locale.ROOT);
    List<String> out = new ArrayList<>();
    int start = -1;
    for (int i = 0; i <= lower.length(); i++) {
      char c = i < lower.length() ? lower.charAt(i) : ' ';
      boolean word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      if (word) {
        if (start < 0) {
          start = i;
        }
      } else if (start >= 0) {
        String t = lower.substring(start, i);
        out.add(stem ? Stemming.stem(t) : t);
        start = -1;
      }
    }
    return out;
  }

  @Override
  public String id() {
    return stem ? "rouge+stem" : "rouge";
  }
}
