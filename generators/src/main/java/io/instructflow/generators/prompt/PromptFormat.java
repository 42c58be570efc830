package io.instructflow.generators.prompt;

import java.util.Locale;

/**
 * How a generator sends its prompts: as raw text a base model continues, or as chat messages the
 * model's own chat template formats (what an instruct model is trained on). {@link #AUTO} picks one
 * for the model at the start of a run ({@link #resolve}).
 */
public enum PromptFormat {
  /** Chat when the model can take chat requests, else text. */
  AUTO,
  /** Chat messages, formatted by the model's chat template (or by the server of an endpoint). */
  CHAT,
  /** Raw text, sent as is. */
  TEXT;

  /** The name on the command line and in provenance. */
  public String code() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** The format called {@code name} (auto, chat or text, any case). */
  public static PromptFormat parse(String name) {
    for (PromptFormat f : values()) {
      if (f.code().equalsIgnoreCase(name == null ? "" : name.trim())) {
        return f;
      }
    }
    throw new IllegalArgumentException("--prompt-format: expected auto, chat or text, got '" + name + "'");
  }

  /**
   * This format for a model: {@link #AUTO} becomes {@link #CHAT} for an OpenAI-compatible endpoint
   * (whose server applies the model's template) or a GGUF file with a chat template, else
   * {@link #TEXT}; the other two stay as they are.
   *
   * @param endpoint whether the model is behind an OpenAI-compatible endpoint
   * @param hasChatTemplate whether the GGUF file has {@code tokenizer.chat_template}
   */
  public PromptFormat resolve(boolean endpoint, boolean hasChatTemplate) {
    if (this != AUTO) {
      return this;
    }
    return endpoint || hasChatTemplate ? CHAT : TEXT;
  }
}
