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
 * @param text instruction, input and output joined by newlines (a chat record's turns)
 */
public record GateInput(String id, String location, String instruction, String text) implements Serializable {
  private static final long serialVersionUID = 1L;

  public GateInput {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(instruction, "instruction");
    Objects.requireNonNull(text, "text");
  }

  /** The gate input of a record. */
  public static GateInput of(Example e) {
    StringBuilder b = new StringBuilder();
    if (e.isChat()) {
      e.messages().forEach(m -> b.append(m.content()).append('\n'));
    } else {
      b.append(e.instruction()).append('\n').append(e.input() == null ? "" : e.input()).append('\n')
          .append(e.output() == null ? "" : e.output());
    }
    return new GateInput(e.id(), e.provenance().origin().location(), e.instructionText(), b.toString());
  }
}
