package io.instructflow.pipelines.runtime;

/**
 * A setting that a pipeline finds unusable when it starts, before anything runs or is written: a token
 * limit that leaves no room for the prompt in the model's context, a prompt-template override without
 * the placeholders its prompt needs. The command line reports it as a usage error (exit status 2, the
 * message alone), as it does a bad option (issue 20: one place turns bad arguments into usage errors).
 * It is an {@link IllegalArgumentException}, so callers that catch that keep working.
 */
public final class SettingsException extends IllegalArgumentException {
  private static final long serialVersionUID = 1L;

  public SettingsException(String message) {
    super(message);
  }

  /** The same problem as a settings error (its message), for a check made by a class that knows no pipeline. */
  public static SettingsException of(IllegalArgumentException e) {
    SettingsException s = new SettingsException(e.getMessage());
    s.initCause(e);
    return s;
  }
}
