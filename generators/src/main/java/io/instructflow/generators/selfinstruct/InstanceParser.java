package io.instructflow.generators.selfinstruct;

import io.instructflow.filters.instruction.PyText;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses the instances a model wrote for one task, following the Self-Instruct reference:
 *
 * <ul>
 *   <li>input-first (non-classification tasks): the text is cut at each {@code Example <n>}; each
 *       piece is split at its first {@code Output:} into input and output (no {@code Output:} means no
 *       input and the whole piece as output), a second {@code Input:} inside the output ends it, and an
 *       {@code Input:} label before the input is removed. Without any {@code Example} marker, a text with
 *       an {@code Output:} is one instance; a text with neither gives none.
 *   <li>output-first (classification tasks): the text is cut at each {@code Class label:}; the first
 *       line of a piece is the label (the output), the rest the input, with a leading {@code Input:}
 *       label removed (our template names the field so; the reference kept whatever field name its
 *       examples used).
 * </ul>
 *
 * Labels may carry numbers and spaces ({@code Output 2 :}). The caller drops the last instance when the
 * response was cut by the token limit, as the reference does.
 */
public final class InstanceParser {
  private InstanceParser() {}

  private static final int FLAGS = Pattern.UNICODE_CHARACTER_CLASS;
  private static final Pattern EXAMPLE = Pattern.compile("Example\\s?\\d*\\.?", FLAGS);
  private static final Pattern OUTPUT = Pattern.compile("Output\\s*\\d*\\s*:", FLAGS);
  private static final Pattern INPUT = Pattern.compile("Input\\s*\\d*\\s*:", FLAGS);
  private static final Pattern LEADING_INPUT = Pattern.compile("^Input\\s*\\d*\\s*:", FLAGS);
  private static final String CLASS_LABEL = "Class label:";

  /** Instances of an input-first response. */
  public static List<SeedTask.Instance> inputFirst(String raw) {
    String text = PyText.strip(raw);
    List<SeedTask.Instance> out = new ArrayList<>();
    if (EXAMPLE.matcher(text).find()) {
      for (String piece : EXAMPLE.split(text, -1)) {
        if (!PyText.strip(piece).isEmpty()) {
          out.add(inputOutput(PyText.strip(piece)));
        }
      }
    } else if (OUTPUT.matcher(text).find()) {
      out.add(inputOutput(text));
    }
    return out;
  }

  private static SeedTask.Instance inputOutput(String text) {
    String input;
    String output;
    Matcher m = OUTPUT.matcher(text);
    if (m.find()) {
      input = PyText.strip(text.substring(0, m.start()));
      String rest = text.substring(m.end());
      Matcher again = OUTPUT.matcher(rest);
      output = PyText.strip(again.find() ? rest.substring(0, again.start()) : rest);
    } else {
      input = "";
      output = PyText.strip(text);
    }
    Matcher in = INPUT.matcher(output);
    if (in.find()) {
      output = PyText.strip(output.substring(0, in.start()));
    }
    input = PyText.strip(LEADING_INPUT.matcher(input).replaceFirst(""));
    return new SeedTask.Instance(input, output);
  }

  /** Instances of an output-first response. */
  public static List<SeedTask.Instance> outputFirst(String raw) {
    List<SeedTask.Instance> out = new ArrayList<>();
    if (!raw.contains(CLASS_LABEL)) {
      return out;
    }
    String[] pieces = raw.split(Pattern.quote(CLASS_LABEL), -1);
    for (int i = 1; i < pieces.length; i++) {
      String piece = PyText.strip(pieces[i]);
      int nl = piece.indexOf('\n');
      String label = PyText.strip(nl < 0 ? piece : piece.substring(0, nl));
      String input = nl < 0 ? "" : PyText.strip(piece.substring(nl + 1));
      input = PyText.strip(LEADING_INPUT.matcher(input).replaceFirst(""));
      out.add(new SeedTask.Instance(input, label));
    }
    return out;
  }
}
