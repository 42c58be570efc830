package io.instructflow.filters.rouge;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A tokenizer for any language: NFKC-normalize and lowercase; every Han ideograph, kana and Hangul
 * syllable is a token of its own (those scripts do not separate words with spaces); every other run of
 * letters, digits and combining marks is a token; everything else separates. Optional Porter stemming
 * applies to ASCII tokens longer than three characters.
 *
 * <p>For ASCII text it gives the same tokens as {@link RougeTokenizer}, so scores on English data are
 * unchanged.
 */
public final class UnicodeTokenizer implements Tokenizer {
  private static final long serialVersionUID = 1L;
  private final boolean stem;

  /** @param stem whether to Porter-stem ASCII tokens longer than three characters */
  public UnicodeTokenizer(boolean stem) {
    this.stem = stem;
  }

  @Override
  public List<String> tokens(String text) {
    String s = Normalizer.normalize(text, Normalizer.Form.NFKC).toLowerCase(Locale.ROOT);
    List<String> out = new ArrayList<>();
    StringBuilder run = new StringBuilder();
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      i += Character.charCount(cp);
      if (isSingleCharToken(cp)) {
        flush(run, out);
        out.add(new String(Character.toChars(cp)));
      } else if (Character.isLetterOrDigit(cp) || isMark(cp)) {
        run.appendCodePoint(cp);
      } else {
        flush(run, out);
      }
    }
    flush(run, out);
    return out;
  }

  private void flush(StringBuilder run, List<String> out) {
    if (run.length() == 0) {
      return;
    }
    String t = run.toString();
    run.setLength(0);
    out.add(stem && isAscii(t) ? Stemming.stem(t) : t);
  }

  static boolean isSingleCharToken(int cp) {
    Character.UnicodeScript sc = Character.UnicodeScript.of(cp);
    if (sc == Character.UnicodeScript.HAN || sc == Character.UnicodeScript.HIRAGANA || sc == Character.UnicodeScript.KATAKANA) {
      return Character.isLetter(cp);
    }
    return sc == Character.UnicodeScript.HANGUL && cp >= 0xAC00 && cp <= 0xD7A3;
  }

  private static boolean isMark(int cp) {
    int t = Character.getType(cp);
    return t == Character.NON_SPACING_MARK || t == Character.COMBINING_SPACING_MARK || t == Character.ENCLOSING_MARK;
  }

  private static boolean isAscii(String t) {
    for (int i = 0; i < t.length(); i++) {
      if (t.charAt(i) >= 0x80) {
        return false;
      }
    }
    return true;
  }

  @Override
  public String id() {
    return stem ? "unicode+stem" : "unicode";
  }
}
