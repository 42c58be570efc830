package io.instructflow.pipelines.select;

import io.instructflow.schemas.Example;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.regex.Pattern;

/**
 * What {@code select --by} ranks by: a product of score names, such as {@code quality*complexity}
 * (Deita's evol score) or {@code ifd}. A name is read from {@code metadata.scores.NAME}: its
 * {@code value} when it is an object (as {@code score} writes it), or the number itself; then from
 * {@code metadata.NAME} when {@code metadata.scores} has no such name (scores made elsewhere). A record
 * lacking a finite number for any name has no value.
 *
 * @param text the expression as given
 * @param names the factors, in order
 */
public record ScoreExpression(String text, List<String> names) implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_.-]*");

  public ScoreExpression {
    names = List.copyOf(names);
  }

  /**
   * Parses {@code name*name*...}; spaces around names are allowed.
   *
   * @throws IllegalArgumentException naming what is wrong
   */
  public static ScoreExpression parse(String text) {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("--by needs a score name or a product of names, e.g. quality*complexity");
    }
    List<String> names = new ArrayList<>();
    for (String part : text.split("\\*", -1)) {
      String n = part.strip();
      if (!NAME.matcher(n).matches()) {
        throw new IllegalArgumentException("--by '" + text + "': '" + n + "' is not a score name (letters, digits, _ . -; "
            + "names are multiplied with *)");
      }
      names.add(n);
    }
    return new ScoreExpression(text.strip(), names);
  }

  /** The value for {@code e}, or empty when a name has no finite number. */
  public OptionalDouble valueOf(Example e) {
    double v = 1;
    for (String n : names) {
      OptionalDouble x = number(e, n);
      if (x.isEmpty()) {
        return OptionalDouble.empty();
      }
      v *= x.getAsDouble();
    }
    return Double.isFinite(v) ? OptionalDouble.of(v) : OptionalDouble.empty();
  }

  /** The names {@code e} has no finite number for. */
  public List<String> missing(Example e) {
    List<String> out = new ArrayList<>();
    for (String n : names) {
      if (number(e, n).isEmpty()) {
        out.add(n);
      }
    }
    return out;
  }

  private static OptionalDouble number(Example e, String name) {
    Object scores = e.metadata().get("scores");
    Object v = scores instanceof Map<?, ?> m && m.containsKey(name) ? m.get(name) : e.metadata().get(name);
    if (v instanceof Map<?, ?> o) {
      v = o.get("value");
    }
    if (v instanceof Number x && Double.isFinite(x.doubleValue())) {
      return OptionalDouble.of(x.doubleValue());
    }
    return OptionalDouble.empty();
  }
}
