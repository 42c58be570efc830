package io.instructflow.schemas.io;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.RejectReason;
import java.util.List;
import java.util.Objects;

/** The result of converting one JSON object: records, or why it cannot be one. */
public sealed interface Conversion {

  /**
   * The object became one or more records (a seed task gives one per instance).
   *
   * @param examples the records, in instance order
   */
  record Converted(List<Example> examples) implements Conversion {
    public Converted {
      examples = List.copyOf(examples);
    }
  }

  /**
   * The object cannot be read.
   *
   * @param reason the reject reason
   * @param message a sentence for a person
   */
  record Failed(RejectReason reason, String message) implements Conversion {
    public Failed {
      Objects.requireNonNull(reason, "reason");
      Objects.requireNonNull(message, "message");
    }
  }
}
