package io.instructflow.filters.rouge;

import java.io.Serializable;
import java.util.List;

/** Splits text into the tokens ROUGE-L compares. Implementations are thread-safe and serializable. */
public interface Tokenizer extends Serializable {
  /** The tokens of {@code text}, in order; empty when it has none. */
  List<String> tokens(String text);

  /** A stable name for provenance, e.g. {@code rouge} or {@code unicode+stem}. */
  String id();

  /** The tokenizer called {@code name} ({@code rouge} or {@code unicode}), optionally stemming. */
  static Tokenizer named(String name, boolean stem) {
    return switch (name) {
      case "rouge" -> new RougeTokenizer(stem);
      case "unicode" -> new UnicodeTokenizer(stem);
      default -> throw new IllegalArgumentException("unknown tokenizer '" + name + "', expected rouge or unicode");
    };
  }
}
