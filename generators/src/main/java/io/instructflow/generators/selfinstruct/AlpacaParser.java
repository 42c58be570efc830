package io.instructflow.generators.selfinstruct;

import io.instructflow.filters.instruction.PyText;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses an Alpaca-style response: tasks separated by {@code ###}, each written as
 * {@code <n>. Instruction: ...}, {@code <n>. Input: ...}, {@code <n>. Output: ...}.
 *
 * <p>As in Alpaca, the prompt ends with the first new task's {@code "<n>. Instruction:"}, which is put
 * back in front of the response; an input of {@code <noinput>} (any case) means none. Unlike Alpaca, the numbers need not be exactly
 * the expected ones (models renumber): a task needs its three labelled fields in order, under one
 * number.
 */
public final class AlpacaParser {
  private AlpacaParser() {}

  private static final Pattern FIELD =
      Pattern.compile("(\\d+)\\.\\s+(Instruction|Input|Output):", Pattern.UNICODE_CHARACTER_CLASS);

  /**
   * One task of the response.
   *
   * @param index 0-based position among the response's {@code ###} pieces
   * @param instruction the instruction (trimmed), or null when the piece is malformed
   * @param input the input, empty when none
   * @param output the output
   * @param raw the piece as written, for malformed pieces
   */
  public record Task(int index, String instruction, String input, String output, String raw) {
    /** Whether the piece had the three fields. */
    public boolean wellFormed() {
      return instruction != null;
    }
  }

  /**
   * Parses a response to a prompt that ended with {@code "<next>. Instruction:"}.
   *
   * @return the tasks, malformed ones included, in order (blank pieces are left out); the caller drops
   *     the last one when the response was cut by the token limit
   */
  public static List<Task> parse(String response, int next) {
    String text = next + ". Instruction:" + response;
    String[] pieces = text.split("###", -1);
    List<Task> out = new ArrayList<>();
    for (int i = 0; i < pieces.length; i++) {
      String piece = pieces[i];
      if (PyText.strip(piece).isEmpty()) {
        continue;
      }
      out.add(task(i, piece));
    }
    return out;
  }

  private static Task task(int index, String piece) {
    Matcher m = FIELD.matcher(piece);
    List<int[]> marks = new ArrayList<>();
    List<String> names = new ArrayList<>();
    String number = null;
    while (m.find()) {
      if (number == null) {
        number = m.group(1);
      }
      if (!m.group(1).equals(number)) {
        return new Task(index, null, null, null, piece);
      }
      marks.add(new int[] {m.start(), m.end()});
      names.add(m.group(2));
    }
    if (!names.equals(List.of("Instruction", "Input", "Output")) || !PyText.strip(piece.substring(0, marks.get(0)[0])).isEmpty()) {
      return new Task(index, null, null, null, piece);
    }
    String instruction = PyText.strip(piece.substring(marks.get(0)[1], marks.get(1)[0]));
    String input = PyText.strip(piece.substring(marks.get(1)[1], marks.get(2)[0]));
    if (input.equalsIgnoreCase("<noinput>")) {
      input = "";
    }
    String output = PyText.strip(piece.substring(marks.get(2)[1]));
    return new Task(index, instruction, input, output, piece);
  }
}
