package io.instructflow.inference;

import io.instructflow.inference.llama.GgufMetadata;

/**
 * Whether prompts go to a model as chat requests (the model's own chat template) or as raw text.
 * {@link #AUTO} picks chat for an endpoint, which serves chat models, and for a GGUF file that carries a
 * chat template ({@code tokenizer.chat_template}, which instruct models have); a GGUF without one is a
 * completion model and gets text.
 */
public enum PromptFormat {
  AUTO("auto"), CHAT("chat"), TEXT("text");

  private final String code;

  PromptFormat(String code) {
    this.code = code;
  }

  public String code() {
    return code;
  }

  public static PromptFormat fromCode(String code) {
    for (PromptFormat f : values()) {
      if (f.code.equals(code)) {
        return f;
      }
    }
    throw new IllegalArgumentException("unknown prompt format '" + code + "', expected auto, chat or text");
  }

  /**
   * Whether {@code model} gets chat requests in this format.
   *
   * @throws InvalidModelException when AUTO has to read a GGUF file that is missing or not GGUF
   */
  public boolean chat(ModelSpec model) throws InvalidModelException {
    return switch (this) {
      case CHAT -> true;
      case TEXT -> false;
      case AUTO -> model.isRemote() || hasChatTemplate(model);
    };
  }

  private static boolean hasChatTemplate(ModelSpec model) throws InvalidModelException {
    GgufMetadata meta = model.check();
    return meta != null && meta.chatTemplate().isPresent();
  }
}
