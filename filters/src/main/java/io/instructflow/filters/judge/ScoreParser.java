package io.instructflow.filters.judge;

import java.util.OptionalDouble;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a 0–{@code max} score out of a judge's reply, however the model chose to write it. In order:
 * a labelled score ({@code Score: 4.5}, {@code **Rating**: 4/5}, {@code 评分：4分}); a fraction of the
 * scale ({@code 4 out of 5}, {@code 3.5/5}); a number that opens the reply (the prompt may end with
 * {@code Score:}). The first of these that holds a number within the scale wins; a number outside it
 * is not a score. Full-width digits and punctuation count as their ASCII forms.
 */
public final class ScoreParser {
  private ScoreParser() {}

  private static final String NUM = "(\\d+(?:\\.\\d+)?)";
  private static final Pattern LABELLED = Pattern.compile(
      "(?i)(?:score|rating|rated|grade|评分|得分|分数|打分)\\**\\s*(?:is|of)?\\s*[:=]?\\s*\\**\\s*" + NUM);
  private static final Pattern FRACTION = Pattern.compile("(?i)" + NUM + "\\s*(?:/|out of|分?满分|of)\\s*(\\d+)");
  private static final Pattern LEADING = Pattern.compile("^\\W*?" + NUM + "(?!\\d)");

  /** The score in {@code reply}, or empty when it holds none within 0–{@code max}. */
  public static OptionalDouble parse(String reply, double max) {
    if (reply == null) {
      return OptionalDouble.empty();
    }
    String s = ascii(reply);
    Matcher m = LABELLED.matcher(s);
    while (m.find()) {
      OptionalDouble v = within(m.group(1), max);
      if (v.isPresent()) {
        return v;
      }
    }
    m = FRACTION.matcher(s);
    while (m.find()) {
      if (Double.parseDouble(m.group(2)) == max) {
        OptionalDouble v = within(m.group(1), max);
        if (v.isPresent()) {
          return v;
        }
      }
    }
    m = LEADING.matcher(s.strip());
    if (m.find()) {
      return within(m.group(1), max);
    }
    return OptionalDouble.empty();
  }

  private static OptionalDouble within(String number, double max) {
    double v = Double.parseDouble(number);
    return v >= 0 && v <= max ? OptionalDouble.of(v) : OptionalDouble.empty();
  }

  /** Full-width digits, colon, slash and period as ASCII. */
  static String ascii(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c >= '０' && c <= '９') {
        b.append((char) ('0' + (c - '０')));
      } else if (c == '：') {
        b.append(':');
      } else if (c == '／') {
        b.append('/');
      } else if (c == '．') {
        b.append('.');
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }
}
