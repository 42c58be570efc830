package io.instructflow.inference;

import java.util.Objects;

/**
 * One generated completion.
 *
 * @param text the generated text (stop string excluded)
 * @param finishReason why it ended
 * @param tokens completion tokens generated
 */
public record Completion(String text, FinishReason finishReason, int tokens) {
  public Completion {
    Objects.requireNonNull(text, "text");
    Objects.requireNonNull(finishReason, "finishReason");
    if (tokens < 0) {
      throw new IllegalArgumentException("tokens must be >= 0, got " + tokens);
    }
  }
}
