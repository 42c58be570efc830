package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.RecordFilter;
import io.instructflow.filters.instruction.PyText;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Repetition in the style of Gopher's MassiveText quality filters (Rae et al., 2021), with their
 * published thresholds as defaults, on one field (the output by default):
 *
 * <ul>
 *   <li>{@value #DUPLICATE_LINES}: the fraction of non-empty lines that repeat an earlier line is above
 *       0.30, or ({@value #DUPLICATE_LINE_CHARS}) the characters in them above 0.20 of the text's;
 *   <li>{@value #TOP_NGRAM}: the occurrences of the most frequent word 2-, 3- or 4-gram cover more than
 *       0.20, 0.18 or 0.16 of the word characters (only when that n-gram occurs more than once, so a
 *       short answer without any repeat is never dropped for having few n-grams; each word counts
 *       once, so overlapping occurrences cannot push the share past 1);
 *   <li>{@value #DUPLICATE_NGRAMS}: the words covered by repeated occurrences of word 5- to 10-grams
 *       hold more than 0.15, 0.14, 0.13, 0.12, 0.11, 0.10 of the word characters.
 * </ul>
 *
 * Words are whitespace-separated, lower-cased, with surrounding punctuation removed. Texts of fewer than
 * {@code minWords} words are not measured (Gopher removed documents under 50 words before these
 * rules ran; on short answers the fractions swing on a single repeat).
 *
 * @param field the field
 * @param maxDuplicateLines line fraction
 * @param maxDuplicateLineChars line character fraction
 * @param topNgram thresholds for n = 2, 3, 4
 * @param duplicateNgram thresholds for n = 5 .. 10
 * @param minWords shortest text measured, in words (0: every text)
 */
public record RepetitionFilter(TextField field, double maxDuplicateLines, double maxDuplicateLineChars,
    List<Double> topNgram, List<Double> duplicateNgram, int minWords) implements RecordFilter {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "repetition";
  public static final String DUPLICATE_LINES = "repetition.duplicate_lines";
  public static final String DUPLICATE_LINE_CHARS = "repetition.duplicate_line_chars";
  public static final String TOP_NGRAM = "repetition.top_ngram";
  public static final String DUPLICATE_NGRAMS = "repetition.duplicate_ngrams";

  /** Gopher's thresholds. */
  public static final List<Double> GOPHER_TOP = List.of(0.20, 0.18, 0.16);
  public static final List<Double> GOPHER_DUPLICATE = List.of(0.15, 0.14, 0.13, 0.12, 0.11, 0.10);

  public RepetitionFilter {
    topNgram = List.copyOf(topNgram);
    duplicateNgram = List.copyOf(duplicateNgram);
    if (topNgram.size() != 3 || duplicateNgram.size() != 6) {
      throw new IllegalArgumentException("repetition: topNgram needs 3 thresholds (n = 2..4), duplicateNgram 6 (n = 5..10)");
    }
  }

  /** Gopher's filter on {@code field}. */
  public static RepetitionFilter gopher(TextField field) {
    return new RepetitionFilter(field, 0.30, 0.20, GOPHER_TOP, GOPHER_DUPLICATE, 0);
  }

  /**
   * From a chain config: {@code field}, {@code maxDuplicateLines}, {@code maxDuplicateLineChars},
   * {@code topNgram}, {@code duplicateNgram}, {@code minWords}; Gopher's values by default.
   */
  public static RepetitionFilter fromJson(JsonNode n, String at) {
    Config c = new Config(n, at,
        Set.of("field", "maxDuplicateLines", "maxDuplicateLineChars", "topNgram", "duplicateNgram", "minWords"));
    try {
      return new RepetitionFilter(c.field("field", TextField.OUTPUT), c.number("maxDuplicateLines", 0.30),
          c.number("maxDuplicateLineChars", 0.20), numbers(n, "topNgram", GOPHER_TOP, c),
          numbers(n, "duplicateNgram", GOPHER_DUPLICATE, c), c.integer("minWords", 0));
    } catch (IllegalArgumentException e) {
      throw e.getMessage().startsWith(at) ? e : c.error(e.getMessage());
    }
  }

  private static List<Double> numbers(JsonNode n, String key, List<Double> fallback, Config c) {
    JsonNode v = n.get(key);
    if (v == null) {
      return fallback;
    }
    List<Double> out = new ArrayList<>();
    for (JsonNode x : v) {
      if (!x.isNumber()) {
        throw c.error("'" + key + "' must be an array of numbers");
      }
      out.add(x.asDouble());
    }
    return out;
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    String text = field.of(e);
    List<String> words = words(text);
    if (words.size() < minWords) {
      return Verdict.KEPT;
    }
    List<String> lines = new ArrayList<>();
    for (String l : text.split("\n")) {
      if (!l.isBlank()) {
        lines.add(l.strip());
      }
    }
    if (!lines.isEmpty()) {
      Set<String> seen = new HashSet<>();
      int dup = 0;
      long dupChars = 0;
      long allChars = 0;
      for (String l : lines) {
        allChars += l.length();
        if (!seen.add(l)) {
          dup++;
          dupChars += l.length();
        }
      }
      double f = (double) dup / lines.size();
      if (f > maxDuplicateLines) {
        return drop(DUPLICATE_LINES, f, maxDuplicateLines, 0);
      }
      double fc = (double) dupChars / allChars;
      if (fc > maxDuplicateLineChars) {
        return drop(DUPLICATE_LINE_CHARS, fc, maxDuplicateLineChars, 0);
      }
    }
    long chars = 0;
    for (String w : words) {
      chars += w.length();
    }
    if (chars == 0) {
      return Verdict.KEPT;
    }
    for (int n = 2; n <= 4; n++) {
      double f = topNgramFraction(words, n, chars);
      if (f > topNgram.get(n - 2)) {
        return drop(TOP_NGRAM, f, topNgram.get(n - 2), n);
      }
    }
    for (int n = 5; n <= 10; n++) {
      double f = duplicateNgramFraction(words, n, chars);
      if (f > duplicateNgram.get(n - 5)) {
        return drop(DUPLICATE_NGRAMS, f, duplicateNgram.get(n - 5), n);
      }
    }
    return Verdict.KEPT;
  }

  private Verdict drop(String reason, double value, double limit, int n) {
    Map<String, Object> d = new HashMap<>();
    d.put("field", field.code());
    d.put("value", Math.round(value * 10_000) / 10_000.0);
    d.put("limit", limit);
    if (n > 0) {
      d.put("n", n);
    }
    return new Verdict.Dropped(TYPE, reason, d);
  }

  static List<String> words(String text) {
    List<String> out = new ArrayList<>();
    for (String w : PyText.split(text)) {
      String s = w.toLowerCase(Locale.ROOT).replaceAll("^[\\p{P}\\p{S}]+|[\\p{P}\\p{S}]+$", "");
      if (!s.isEmpty()) {
        out.add(s);
      }
    }
    return out;
  }

  /**
   * The share of word characters covered by the occurrences of the most frequent n-gram (its
   * occurrences may overlap; each word counts once, so the share is at most 1); 0 when no n-gram repeats.
   */
  static double topNgramFraction(List<String> words, int n, long chars) {
    Map<List<String>, Integer> counts = new HashMap<>();
    int best = 0;
    List<String> top = null;
    for (int i = 0; i + n <= words.size(); i++) {
      List<String> g = words.subList(i, i + n);
      int c = counts.merge(g, 1, Integer::sum);
      if (c > best) {
        best = c;
        top = g;
      }
    }
    if (best < 2) {
      return 0;
    }
    boolean[] covered = new boolean[words.size()];
    for (int i = 0; i + n <= words.size(); i++) {
      if (words.subList(i, i + n).equals(top)) {
        for (int k = i; k < i + n; k++) {
          covered[k] = true;
        }
      }
    }
    long c = 0;
    for (int i = 0; i < covered.length; i++) {
      c += covered[i] ? words.get(i).length() : 0;
    }
    return (double) c / chars;
  }

  /** Characters of the words covered by second and later occurrences of an n-gram, over all word characters. */
  static double duplicateNgramFraction(List<String> words, int n, long chars) {
    Set<List<String>> seen = new HashSet<>();
    boolean[] covered = new boolean[words.size()];
    for (int i = 0; i + n <= words.size(); i++) {
      if (!seen.add(words.subList(i, i + n))) {
        for (int k = i; k < i + n; k++) {
          covered[k] = true;
        }
      }
    }
    long c = 0;
    for (int i = 0; i < covered.length; i++) {
      c += covered[i] ? words.get(i).length() : 0;
    }
    return (double) c / chars;
  }

  /** Makes this filter from its chain config entry; listed in {@code META-INF/services} ({@link io.instructflow.filters.chain.FilterRegistry}). */
  public static final class Factory extends io.instructflow.filters.chain.FilterFactory.Of {
    public Factory() {
      super(TYPE, RepetitionFilter::fromJson);
    }
  }
}
