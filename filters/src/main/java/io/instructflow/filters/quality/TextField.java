package io.instructflow.filters.quality;

import io.instructflow.schemas.Example;
import java.util.Locale;

/** The text field of a record a filter looks at. Chat records: first user turn, last assistant turn. */
public enum TextField {
  INSTRUCTION, INPUT, OUTPUT;

  /** The field's text, empty when the record has none. */
  public String of(Example e) {
    return switch (this) {
      case INSTRUCTION -> e.instructionText();
      case INPUT -> e.input() == null ? "" : e.input();
      case OUTPUT -> e.outputText().orElse("");
    };
  }

  /** The name in configs and evidence. */
  public String code() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The field called {@code code}. */
  public static TextField fromCode(String code) {
    for (TextField f : values()) {
      if (f.code().equals(code)) {
        return f;
      }
    }
    throw new IllegalArgumentException("unknown field '" + code + "', expected instruction, input or output");
  }
}
