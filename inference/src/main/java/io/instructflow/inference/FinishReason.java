package io.instructflow.inference;

import com.fasterxml.jackson.annotation.JsonValue;

/** Why a completion ended. */
public enum FinishReason {
  /** The model ended it (end-of-sequence token) or a stop string did. */
  STOP,
  /** It reached {@link SamplingParams#maxTokens()}. */
  LENGTH,
  /** It failed; the result carries the error. */
  ERROR;

  @JsonValue
  public String json() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
