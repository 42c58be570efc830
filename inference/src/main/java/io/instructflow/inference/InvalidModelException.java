package io.instructflow.inference;

/** A model that cannot be used: missing file, not a model, unsupported format, no chat template when chat was asked. */
public class InvalidModelException extends Exception {
  private static final long serialVersionUID = 1L;

  public InvalidModelException(String message) {
    super(message);
  }
}
