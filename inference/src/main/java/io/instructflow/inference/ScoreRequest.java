package io.instructflow.inference;

import io.instructflow.schemas.Message;
import java.util.List;
import java.util.Objects;

/**
 * One request to score a given continuation: the log-probability of each of its tokens given what comes
 * before it, with nothing sampled (issue 22). The context is a text prompt or chat messages (rendered with
 * the model's chat template, the assistant's turn opened), exactly one of the two; an empty text prompt
 * scores the continuation alone (after BOS where the model has one), the denominator of IFD.
 *
 * @param id the caller's id for the request; results carry it back
 * @param prompt the raw text before the continuation; null for a chat context
 * @param messages the chat turns before the continuation; null for a text context
 * @param continuation the text whose tokens are scored
 * @param topLogprobs how many most likely alternatives to report at each scored position, 0 to 20
 */
public record ScoreRequest(String id, String prompt, List<Message> messages, String continuation, int topLogprobs) {
  /** Most alternatives a request may ask for (OpenAI's limit). */
  public static final int MAX_TOP = 20;

  public ScoreRequest {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(continuation, "continuation");
    if ((prompt == null) == (messages == null)) {
      throw new IllegalArgumentException("score request " + id + ": give exactly one of prompt and messages");
    }
    if (messages != null) {
      messages = List.copyOf(messages);
      if (messages.isEmpty()) {
        throw new IllegalArgumentException("score request " + id + ": messages is empty");
      }
    }
    if (topLogprobs < 0 || topLogprobs > MAX_TOP) {
      throw new IllegalArgumentException("score request " + id + ": topLogprobs must be in [0, " + MAX_TOP
          + "], got " + topLogprobs);
    }
  }

  /** The continuation after a text prompt ({@code ""}: the continuation alone). */
  public static ScoreRequest text(String id, String prompt, String continuation) {
    return new ScoreRequest(id, prompt, null, continuation, 0);
  }

  /** The continuation as the assistant's answer to chat messages. */
  public static ScoreRequest chat(String id, List<Message> messages, String continuation) {
    return new ScoreRequest(id, null, messages, continuation, 0);
  }

  /** A copy that reports this many alternatives per position. */
  public ScoreRequest withTopLogprobs(int k) {
    return new ScoreRequest(id, prompt, messages, continuation, k);
  }

  /** Whether the context is chat messages. */
  public boolean isChat() {
    return messages != null;
  }
}
