package io.instructflow.generators.pairs;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The four UltraFeedback aspects a candidate is rated on, 1 to 5 each, and the reading of a judge's
 * reply that rates them. A rating is an aspect's name (any case, spaces, hyphens or underscores between
 * words, optional Markdown bold, an optional "rating" or "score" after it), a colon or dash, and a number
 * from 1 to 5, optionally "/5". An aspect without a readable rating in the reply is left out; the
 * candidate's score is the mean of the aspects that were read.
 */
public final class Aspects {
  private Aspects() {}

  /** The aspects, by the keys our records and UltraFeedback's annotations use. */
  public static final List<String> ALL = List.of("instruction_following", "honesty", "truthfulness", "helpfulness");

  private static final Map<String, Pattern> PATTERNS = new LinkedHashMap<>();

  static {
    for (String a : ALL) {
      String words = String.join("[\\s_-]*", a.split("_"));
      PATTERNS.put(a, Pattern.compile("(?i)\\**\\s*" + words + "\\s*(?:rating|score)?\\s*\\**\\s*[:：=-]\\s*\\**\\s*([1-5](?:\\.\\d+)?)"
          + "(?:\\s*/\\s*5)?(?![\\d.]*\\d)"));
    }
  }

  /** The ratings a reply holds, by aspect key, in {@link #ALL} order. */
  public static Map<String, Double> parse(String reply) {
    Map<String, Double> out = new LinkedHashMap<>();
    if (reply == null) {
      return out;
    }
    for (Map.Entry<String, Pattern> e : PATTERNS.entrySet()) {
      Matcher m = e.getValue().matcher(reply);
      if (m.find()) {
        double v = Double.parseDouble(m.group(1));
        if (v >= 1 && v <= 5) {
          out.put(e.getKey(), v);
        }
      }
    }
    return out;
  }

  /** The aspect key for an annotation name as UltraFeedback writes it ("instruction_following", "Honesty"...), or null. */
  public static String key(String name) {
    String k = name.trim().toLowerCase(Locale.ROOT).replaceAll("[\\s-]+", "_");
    return ALL.contains(k) ? k : null;
  }
}
