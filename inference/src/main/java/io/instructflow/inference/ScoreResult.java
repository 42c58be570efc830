package io.instructflow.inference;

import io.instructflow.inference.GenerationResult.ErrorKind;
import java.util.List;
import java.util.Objects;

/**
 * The answer to one {@link ScoreRequest}: the continuation's tokens, each with its natural-log probability
 * given the context and the tokens before it.
 *
 * <p>Where the context ends inside a token (the last characters of the prompt and the first of the
 * continuation tokenize together), the tokens from that one on are the continuation's: the context is
 * the longest run of tokens shared by the context alone and the context with the continuation.
 *
 * @param requestId the request's id
 * @param contextTokens tokens before the first scored one (BOS included)
 * @param tokens the scored tokens in order; empty for an empty continuation
 * @param error why the request failed, else null
 * @param errorKind the failure's kind, else null
 */
public record ScoreResult(String requestId, int contextTokens, List<TokenLogprob> tokens, String error,
    ErrorKind errorKind) {
  public ScoreResult {
    Objects.requireNonNull(requestId, "requestId");
    tokens = List.copyOf(tokens == null ? List.of() : tokens);
    if ((error == null) != (errorKind == null)) {
      throw new IllegalArgumentException("error and errorKind go together");
    }
  }

  /**
   * One scored token.
   *
   * @param token the token's text as the vocabulary spells it (a piece of a UTF-8 character may show as
   *     U+FFFD; {@code bytes} are exact)
   * @param bytes the token's UTF-8 bytes
   * @param logprob its natural-log probability
   * @param top the most likely tokens at this position, most likely first (as many as asked)
   */
  public record TokenLogprob(String token, byte[] bytes, double logprob, List<Alternative> top) {
    public TokenLogprob {
      Objects.requireNonNull(token, "token");
      bytes = bytes == null ? new byte[0] : bytes.clone();
      top = List.copyOf(top == null ? List.of() : top);
    }

    @Override
    public byte[] bytes() {
      return bytes.clone();
    }
  }

  /** A token that could have stood at a position, with its log-probability. */
  public record Alternative(String token, double logprob) {}

  /** A successful result. */
  public static ScoreResult ok(String requestId, int contextTokens, List<TokenLogprob> tokens) {
    return new ScoreResult(requestId, contextTokens, tokens, null, null);
  }

  /** A failed result. */
  public static ScoreResult failed(String requestId, ErrorKind kind, String error) {
    return new ScoreResult(requestId, 0, List.of(), error, kind);
  }

  /** Whether the request succeeded. */
  public boolean ok() {
    return error == null;
  }

  /** The continuation's log-probability: the sum over its tokens (0 for no tokens). */
  public double logprob() {
    double s = 0;
    for (TokenLogprob t : tokens) {
      s += t.logprob();
    }
    return s;
  }

  /**
   * The continuation's perplexity, {@code exp(-logprob / tokens)}; NaN when no token was scored or the
   * request failed.
   */
  public double perplexity() {
    return !ok() || tokens.isEmpty() ? Double.NaN : Math.exp(-logprob() / tokens.size());
  }
}
