package io.instructflow.filters.instruction;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Text predicates with the semantics of the Python code the Self-Instruct and Alpaca rules were
 * defined in, so that our decisions match theirs on any Unicode input: what {@code str.split()} and
 * {@code re}'s {@code \s} count as whitespace, what {@code \b} counts as a word character, and the
 * first character {@code str.capitalize()} produces.
 */
public final class PyText {
  private PyText() {}

  /** Python's ASCII punctuation set ({@code string.punctuation}). */
  public static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

  /** Whether {@code str.isspace()} holds for the code point (also what {@code \s} matches). */
  public static boolean isSpace(int cp) {
    // Java's isWhitespace leaves out the no-break spaces and NEL, which Python counts
    return Character.isWhitespace(cp) || Character.isSpaceChar(cp) || cp == 0x85;
  }

  /** Whether {@code re}'s Unicode {@code \w} matches the code point: alphanumeric or underscore. */
  public static boolean isWordChar(int cp) {
    if (cp == '_' || Character.isLetter(cp)) {
      return true;
    }
    int t = Character.getType(cp);
    return t == Character.DECIMAL_DIGIT_NUMBER || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER;
  }

  /** {@code re.sub(r"\s+", " ", s).strip()}. */
  public static String collapse(String s) {
    StringBuilder out = new StringBuilder(s.length());
    boolean pendingSpace = false;
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      i += Character.charCount(cp);
      if (isSpace(cp)) {
        pendingSpace = out.length() > 0;
      } else {
        if (pendingSpace) {
          out.append(' ');
          pendingSpace = false;
        }
        out.appendCodePoint(cp);
      }
    }
    return out.toString();
  }

  /** {@code s.strip()}: Python whitespace removed from both ends. */
  public static String strip(String s) {
    int start = 0;
    int end = s.length();
    while (start < end && isSpace(s.codePointAt(start))) {
      start += Character.charCount(s.codePointAt(start));
    }
    while (end > start && isSpace(s.codePointBefore(end))) {
      end -= Character.charCount(s.codePointBefore(end));
    }
    return s.substring(start, end);
  }

  /** {@code s.split()}: the whitespace-separated words. */
  public static List<String> split(String s) {
    List<String> words = new ArrayList<>();
    int start = -1;
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      if (isSpace(cp)) {
        if (start >= 0) {
          words.add(s.substring(start, i));
          start = -1;
        }
      } else if (start < 0) {
        start = i;
      }
      i += Character.charCount(cp);
    }
    if (start >= 0) {
      words.add(s.substring(start));
    }
    return words;
  }

  /**
   * The first character of {@code s.capitalize()}: the title case of the first code point (its full
   * upper-case mapping when that has several characters, as for {@code ß} or {@code ﬁ}).
   */
  public static int capitalizedFirst(String s) {
    int cp = s.codePointAt(0);
    String upper = new String(Character.toChars(cp)).toUpperCase(Locale.ROOT);
    if (upper.codePointCount(0, upper.length()) == 1) {
      return Character.toTitleCase(cp);
    }
    return upper.codePointAt(0);
  }

  /**
   * Whether {@code re.search(r"\b(word)\b", s, re.IGNORECASE)} finds {@code word} (ASCII letters and
   * spaces) in {@code s}.
   */
  public static boolean containsWord(String s, String word) {
    int n = word.length();
    for (int i = 0; i + n <= s.length(); i++) {
      if (!s.regionMatches(true, i, word, 0, n)) {
        continue;
      }
      boolean startOk = i == 0 || !isWordChar(s.codePointBefore(i)) || !isWordChar(word.charAt(0));
      boolean endOk = i + n == s.length() || !isWordChar(s.codePointAt(i + n)) || !isWordChar(word.charAt(n - 1));
      if (startOk && endOk) {
        return true;
      }
    }
    return false;
  }
}
