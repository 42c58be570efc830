package io.instructflow.filters.chain;

import io.instructflow.schemas.Example;
import java.io.Serializable;
import java.util.Objects;

/**
 * What the order-dependent rules of a chain (dedup, ROUGE-L) need of a record.
 *
 * @param id the record id
 * @param location where it was read ({@code file:line})
 * @param instruction its instruction (a chat record's first user turn)
 * @param prompt instruction and input joined by a newline (a chat record's user turns)
 * @param text instruction, input and output joined by newlines (a chat record's turns)
 */
public record GateInput(String id, String location, String instruction, String prompt, String text) implements Serializable {
  private static final long serialVersionUID = 1L;

  public GateInput {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(instruction, "instruction");
    Objects.requireNonNull(prompt, "prompt");
    Objects.requireNonNull(text, "text");
  }

  /** The gate input of a record. */
  public static GateInput of(Example e) {
    StringBuilder b = new StringBuilder();
    StringBuilder p = new StringBuilder();
    if (e.isChat()) {
      e.messages().forEach(m -> b.append(m.content()).append('\n'));
      e.messages().stream().filter(m -> m.role().equals("user")).forEach(m -> p.append(m.content()).append('\n'));
    } else {
      String input = e.input() == null ? "" : e.input();
      b.append(e.instruction()).append('\n').append(input).append('\n').append(e.output() == null ? "" : e.output());
      p.append(e.instruction()).append(input.isEmpty() ? "" : "\n" + input);
    }
    return new GateInput(e.id(), e.provenance().origin().location(), e.instructionText(), p.toString().strip(),
        b.toString());
  }
}
