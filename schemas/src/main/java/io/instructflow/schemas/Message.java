package io.instructflow.schemas;

import java.util.Objects;
import java.util.Set;

/**
 * One turn of a chat example.
 *
 * @param role one of {@code system}, {@code user}, {@code assistant}, {@code tool}
 * @param content the turn's text; may be empty, never null
 */
public record Message(String role, String content) {
  /** The roles we write; readers map other vocabularies (ShareGPT's human / gpt) onto these. */
  public static final Set<String> ROLES = Set.of("system", "user", "assistant", "tool");

  public Message {
    Objects.requireNonNull(role, "role");
    Objects.requireNonNull(content, "content");
    if (!ROLES.contains(role)) {
      throw new IllegalArgumentException("unknown message role '" + role + "', expected one of " + ROLES);
    }
  }
}
