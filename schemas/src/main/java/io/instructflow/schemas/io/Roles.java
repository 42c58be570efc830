package io.instructflow.schemas.io;

import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/** Maps the role vocabularies of chat formats (OpenAI, ShareGPT, others) onto our four roles. */
final class Roles {
  private static final Map<String, String> MAP =
      Map.ofEntries(
          Map.entry("system", "system"),
          Map.entry("user", "user"),
          Map.entry("human", "user"),
          Map.entry("assistant", "assistant"),
          Map.entry("gpt", "assistant"),
          Map.entry("chatgpt", "assistant"),
          Map.entry("bard", "assistant"),
          Map.entry("bing", "assistant"),
          Map.entry("model", "assistant"),
          Map.entry("tool", "tool"),
          Map.entry("function", "tool"));

  /** The accepted role names, for messages. */
  static final String KNOWN = String.join(", ", new TreeSet<>(MAP.keySet()));

  private Roles() {}

  /** Our role for {@code raw}, or null when it is not a known role. */
  static String normalize(String raw) {
    return MAP.get(raw.strip().toLowerCase(Locale.ROOT));
  }
}
