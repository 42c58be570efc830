package io.instructflow.inference;

import io.instructflow.schemas.RejectReason;
import java.util.List;
import java.util.Objects;

/**
 * The answer to one {@link GenerationRequest}.
 *
 * @param requestId the request's id
 * @param renderedPrompt the exact text the model was given (the chat template applied for chat
 *     requests); null when rendering itself failed
 * @param promptTokens tokens of the rendered prompt; 0 when unknown
 * @param choices the completions, n of them on success, none on failure
 * @param error why the request failed after all retries (and its kind, see {@link ErrorKind}), else null
 * @param errorKind the failure's kind, else null
 * @param cached whether the result came from the response cache rather than the model
 */
public record GenerationResult(String requestId, String renderedPrompt, int promptTokens, List<Completion> choices,
    String error, ErrorKind errorKind, boolean cached) {
  public GenerationResult {
    Objects.requireNonNull(requestId, "requestId");
    choices = List.copyOf(choices == null ? List.of() : choices);
    if ((error == null) != (errorKind == null)) {
      throw new IllegalArgumentException("error and errorKind go together");
    }
    if (error != null && !choices.isEmpty()) {
      throw new IllegalArgumentException("a failed result has no choices");
    }
  }

  /** What went wrong with a request. */
  public enum ErrorKind {
    /** The rendered prompt plus max tokens does not fit the context. */
    PROMPT_TOO_LONG,
    /** Chat was asked of a model without a chat template, or the template could not be applied. */
    NO_CHAT_TEMPLATE,
    /** The backend refused the request (a 4xx other than 429, a native error). */
    REJECTED,
    /** The backend kept failing (5xx, 429, timeouts) after every retry. */
    UNAVAILABLE;

    /**
     * The reject reason of a record whose request failed this way, the one mapping every command uses:
     * {@code prompt_too_long}, {@code no_chat_template}, else {@code generation_failed}.
     */
    public RejectReason rejectReason() {
      return switch (this) {
        case PROMPT_TOO_LONG -> RejectReason.PROMPT_TOO_LONG;
        case NO_CHAT_TEMPLATE -> RejectReason.NO_CHAT_TEMPLATE;
        default -> RejectReason.GENERATION_FAILED;
      };
    }
  }

  /** A successful result. */
  public static GenerationResult ok(String requestId, String renderedPrompt, int promptTokens, List<Completion> choices) {
    return new GenerationResult(requestId, renderedPrompt, promptTokens, choices, null, null, false);
  }

  /** A failed result. */
  public static GenerationResult failed(String requestId, String renderedPrompt, ErrorKind kind, String error) {
    return new GenerationResult(requestId, renderedPrompt, 0, List.of(), error, kind, false);
  }

  /** Whether the request succeeded. */
  public boolean ok() {
    return error == null;
  }

  /** Completion tokens over all choices. */
  public int completionTokens() {
    return choices.stream().mapToInt(Completion::tokens).sum();
  }
}
