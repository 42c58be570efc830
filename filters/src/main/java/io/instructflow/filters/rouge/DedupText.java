package io.instructflow.filters.rouge;

import io.instructflow.schemas.Example;
import java.util.Locale;

/** Which part of a record the near-duplicate rule compares. */
public enum DedupText {
  /** The instruction (for a chat record, its first user turn). */
  INSTRUCTION("instruction"),
  /** The instruction and, when present, the input, joined by a newline. */
  INSTRUCTION_INPUT("instruction+input");

  private final String code;

  DedupText(String code) {
    this.code = code;
  }

  /** The name used on the command line. */
  public String code() {
    return code;
  }

  /** The text of {@code e} this selects. */
  public String of(Example e) {
    String instruction = e.instructionText();
    if (this == INSTRUCTION || e.input() == null || e.input().isEmpty()) {
      return instruction;
    }
    return instruction + "\n" + e.input();
  }

  /** Parses a {@code --field} value. */
  public static DedupText fromCode(String code) {
    for (DedupText d : values()) {
      if (d.code.equals(code.toLowerCase(Locale.ROOT))) {
        return d;
      }
    }
    throw new IllegalArgumentException("unknown field '" + code + "', expected instruction or instruction+input");
  }
}
