package io.instructflow.schemas.io;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The record shapes instructflow reads. Detected per file from the first record that has one of the
 * shapes' key sets (in the order below), or forced with {@code --format}.
 */
public enum InputShape {
  /**
   * Preference pairs: {@code chosen} and {@code rejected} (text or chat turns) with a {@code prompt} (text
   * or turns), or, without a prompt, HH-RLHF dialogues ("\n\nHuman: ... \n\nAssistant: ...") whose last
   * assistant turn is the answer; instructflow's own pair records are this shape too.
   */
  PREFERENCE("preference"),
  /** Our own records: {@code id}, {@code provenance}, and instruction fields or messages. */
  INSTRUCTFLOW("instructflow"),
  /** Self-Instruct seed tasks: {@code instruction} + {@code instances[]} of {input, output}. */
  SELF_INSTRUCT_SEED("self-instruct-seed"),
  /** ShareGPT: {@code conversations[]} of {from, value}. */
  SHAREGPT("sharegpt"),
  /** Chat: {@code messages[]} of {role, content} (OpenAI style). */
  CHAT("messages"),
  /** Alpaca: {@code instruction}, optional {@code input} (or {@code context}), {@code output} (or {@code response}). */
  ALPACA("alpaca"),
  /** T0 / completion style: {@code prompt}, optional {@code completion}. */
  PROMPT_COMPLETION("prompt-completion");

  private final String code;

  InputShape(String code) {
    this.code = code;
  }

  /** The name used on the command line and in {@code origin.format}. */
  public String code() {
    return code;
  }

  /** The shape whose key set {@code node} has, trying shapes in declaration order. */
  public static Optional<InputShape> detect(JsonNode node) {
    if (node == null || !node.isObject()) {
      return Optional.empty();
    }
    if (node.has("chosen") && node.has("rejected")) {
      return Optional.of(PREFERENCE);
    }
    if (node.has("id") && node.has("provenance")) {
      return Optional.of(INSTRUCTFLOW);
    }
    if (node.has("instruction") && node.has("instances")) {
      return Optional.of(SELF_INSTRUCT_SEED);
    }
    if (node.has("conversations")) {
      return Optional.of(SHAREGPT);
    }
    if (node.has("messages")) {
      return Optional.of(CHAT);
    }
    if (node.has("instruction")) {
      return Optional.of(ALPACA);
    }
    if (node.has("prompt")) {
      return Optional.of(PROMPT_COMPLETION);
    }
    return Optional.empty();
  }

  /** Parses a {@code --format} value (its code, case-insensitive). */
  public static InputShape fromCode(String code) {
    String c = code.toLowerCase(Locale.ROOT);
    for (InputShape s : values()) {
      if (s.code.equals(c)) {
        return s;
      }
    }
    throw new IllegalArgumentException(
        "unknown format '" + code + "', expected one of "
            + Arrays.stream(values()).map(InputShape::code).collect(Collectors.joining(", ")));
  }
}
