package io.instructflow.schemas;

import java.util.Objects;

/**
 * The prompt template a step rendered.
 *
 * @param templateId stable template id, e.g. {@code self-instruct/instructions@1}
 * @param templateHash hex SHA-256 of the template text actually used (user overrides change it)
 */
public record PromptRef(String templateId, String templateHash) {
  public PromptRef {
    Objects.requireNonNull(templateId, "templateId");
    Objects.requireNonNull(templateHash, "templateHash");
  }
}
