package io.instructflow.inference;

import io.instructflow.schemas.Message;
import java.util.List;
import java.util.Objects;

/**
 * One request to a {@link LanguageModel}: a text prompt or chat messages (exactly one of the two).
 *
 * @param id the caller's id for the request (usually the record id); results carry it back
 * @param prompt the raw prompt text, sent as is; null for a chat request
 * @param messages the chat turns, rendered with the model's own chat template; null for a text request
 * @param params how to sample
 * @param seed the effective seed (see {@link Seeds}); completion i of n uses seed + i
 */
public record GenerationRequest(String id, String prompt, List<Message> messages, SamplingParams params, long seed) {
  public GenerationRequest {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(params, "params");
    if ((prompt == null) == (messages == null)) {
      throw new IllegalArgumentException("request " + id + ": give exactly one of prompt and messages");
    }
    if (messages != null) {
      messages = List.copyOf(messages);
      if (messages.isEmpty()) {
        throw new IllegalArgumentException("request " + id + ": messages is empty");
      }
    }
    if (seed < 0 || seed > Seeds.MAX) {
      throw new IllegalArgumentException("request " + id + ": seed must be in [0, " + Seeds.MAX + "], got " + seed);
    }
  }

  /** A text-completion request. */
  public static GenerationRequest text(String id, String prompt, SamplingParams params, long seed) {
    return new GenerationRequest(id, prompt, null, params, seed);
  }

  /** A chat request. */
  public static GenerationRequest chat(String id, List<Message> messages, SamplingParams params, long seed) {
    return new GenerationRequest(id, null, messages, params, seed);
  }

  /** Whether this is a chat request. */
  public boolean isChat() {
    return messages != null;
  }
}
