package io.instructflow.generators.score;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The exchange of a record that the scores look at (issue 22): for a single-turn record its instruction
 * (with a blank line and the input when it has one) and its output; for a chat record the last assistant
 * turn, the turns before it as context and the last user turn among them as the instruction.
 *
 * @param context the turns before the response: one user turn for a single-turn record
 * @param instruction the instruction text (the last user turn of the context; empty when it has none)
 * @param response the response text, or null when the record has none (no output, or no assistant turn
 *     after some other turn)
 */
public record ScoredTurn(List<Message> context, String instruction, String response) {
  public ScoredTurn {
    context = List.copyOf(context);
  }

  /** The exchange of {@code e}. */
  public static ScoredTurn of(Example e) {
    if (!e.isChat()) {
      String q = e.input() == null || e.input().isBlank() ? e.instruction() : e.instruction() + "\n\n" + e.input();
      String r = e.output() == null || e.output().isBlank() ? null : e.output();
      return new ScoredTurn(List.of(new Message("user", q)), q, r);
    }
    List<Message> m = e.messages();
    int a = m.size() - 1;
    while (a >= 0 && !m.get(a).role().equals("assistant")) {
      a--;
    }
    if (a <= 0) {
      // no assistant turn, or one with nothing before it: nothing to score the response against
      List<Message> context = a == 0 ? List.of() : m;
      return new ScoredTurn(context, lastUser(context).orElse(""), null);
    }
    List<Message> context = new ArrayList<>(m.subList(0, a));
    String r = m.get(a).content().isBlank() ? null : m.get(a).content();
    return new ScoredTurn(context, lastUser(context).orElse(""), r);
  }

  private static Optional<String> lastUser(List<Message> turns) {
    for (int i = turns.size() - 1; i >= 0; i--) {
      if (turns.get(i).role().equals("user")) {
        return Optional.of(turns.get(i).content());
      }
    }
    return Optional.empty();
  }

  /** The context as plain text: the turns' contents joined by blank lines (roles are not written). */
  public String contextText() {
    StringBuilder b = new StringBuilder();
    for (Message t : context) {
      if (b.length() > 0) {
        b.append("\n\n");
      }
      b.append(t.content());
    }
    return b.toString();
  }

  /** Whether there is a response to score. */
  public boolean hasResponse() {
    return response != null;
  }
}
