package io.instructflow.inference;

/**
 * The model cannot serve any request: a remote server refused the key (401, 403) or does not have the
 * endpoint or model (404), or would not say which model it serves. Thrown by
 * {@link LanguageModel#generate} instead of a failed result per request, so that a run stops at once
 * with this one message rather than rejecting every record (issue 21: a bad key must not burn a run).
 */
public final class ModelUnusableException extends IllegalStateException {
  private static final long serialVersionUID = 1L;

  public ModelUnusableException(String message) {
    super(message);
  }

  /** The first {@code ModelUnusableException} in {@code t}'s cause chain, or null. */
  public static ModelUnusableException find(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof ModelUnusableException m) {
        return m;
      }
    }
    return null;
  }
}
