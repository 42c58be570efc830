package io.instructflow.generators.selfinstruct;

import io.instructflow.filters.instruction.PyText;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits a model's continuation of a numbered task list into items.
 *
 * <p>The prompt ends with the next number ({@code "9."}), so the text before the first numbered line
 * is the first item. A line starting with a number followed by {@code .} or {@code )} starts a new
 * item, whatever the number (models skip, repeat and restart numbers); other lines continue the item
 * before them. Blank items are left out and counted. The reference splits only on
 * {@code "\n<number>. "}; this parser also takes {@code "10)"}, {@code "10 ."} and indented numbers,
 * which would otherwise glue two tasks into one.
 */
public final class ListParser {
  private ListParser() {}

  private static final Pattern ITEM = Pattern.compile("^[ \\t]*\\d{1,4}[ \\t]?[.)](?:[ \\t]+|$)");

  /**
   * The items of a continuation.
   *
   * @param items the items' raw texts (lines joined with {@code \n}), in order, none blank
   * @param blank items that were empty or whitespace only
   */
  public record Items(List<String> items, int blank) {
    public Items {
      items = List.copyOf(items);
    }
  }

  /** Splits {@code text}. */
  public static Items parse(String text) {
    List<String> items = new ArrayList<>();
    int blank = 0;
    StringBuilder current = new StringBuilder();
    boolean first = true;
    for (String line : text.split("\n", -1)) {
      Matcher m = ITEM.matcher(line);
      if (m.find()) {
        if (!first || !PyText.strip(current.toString()).isEmpty()) {
          if (PyText.strip(current.toString()).isEmpty()) {
            blank++;
          } else {
            items.add(current.toString());
          }
        }
        first = false;
        current.setLength(0);
        current.append(line.substring(m.end()));
      } else {
        if (current.length() > 0 || !line.isBlank()) {
          if (current.length() > 0) {
            current.append('\n');
          }
          current.append(line);
        }
      }
    }
    if (PyText.strip(current.toString()).isEmpty()) {
      if (!first) {
        blank++;
      }
    } else {
      items.add(current.toString());
    }
    return new Items(items, blank);
  }
}
