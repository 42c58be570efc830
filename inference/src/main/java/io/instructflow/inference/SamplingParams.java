package io.instructflow.inference;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * How to sample a completion.
 *
 * @param maxTokens most tokens to generate, ≥ 1
 * @param temperature 0 for greedy decoding (deterministic whatever the seed), else in (0, 2]
 * @param topP nucleus sampling mass in (0, 1]; 1 turns it off
 * @param topK sample among the k most likely tokens; 0 turns it off
 * @param stop strings that end the completion (not included in it); at most 16, none empty
 * @param n completions per request, 1 to 16; completion i uses seed + i
 * @param grammar a GBNF grammar the completion must follow (llama.cpp's constrained decoding), or null;
 *     the embedded engine applies it, the OpenAI-compatible backend refuses a request that has one
 * @param presencePenalty subtracted once from the logit of every token the completion already holds,
 *     in [-2, 2]; 0 turns it off (OpenAI's {@code presence_penalty})
 * @param frequencyPenalty subtracted from a token's logit once for each time the completion already
 *     holds it, in [-2, 2]; 0 turns it off (OpenAI's {@code frequency_penalty})
 * @param repetitionPenalty divides a positive logit (multiplies a negative one) of every token the
 *     completion already holds, in (0, 10]; 1 turns it off (the CTRL / llama.cpp / vLLM repetition penalty)
 */
public record SamplingParams(int maxTokens, double temperature, double topP, int topK, List<String> stop, int n,
    String grammar, double presencePenalty, double frequencyPenalty, double repetitionPenalty)
    implements java.io.Serializable {
  /** Parameters without a grammar. */
  public SamplingParams(int maxTokens, double temperature, double topP, int topK, List<String> stop, int n) {
    this(maxTokens, temperature, topP, topK, stop, n, null);
  }

  /** Parameters without penalties. */
  public SamplingParams(int maxTokens, double temperature, double topP, int topK, List<String> stop, int n,
      String grammar) {
    this(maxTokens, temperature, topP, topK, stop, n, grammar, 0, 0, 1);
  }

  /** A copy constrained by a GBNF grammar. */
  public SamplingParams withGrammar(String gbnf) {
    return new SamplingParams(maxTokens, temperature, topP, topK, stop, n, gbnf, presencePenalty, frequencyPenalty,
        repetitionPenalty);
  }

  /** A copy with these penalties (0, 0, 1: none). */
  public SamplingParams withPenalties(double presence, double frequency, double repetition) {
    return new SamplingParams(maxTokens, temperature, topP, topK, stop, n, grammar, presence, frequency, repetition);
  }

  /** Whether any penalty is on. */
  public boolean penalized() {
    return presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1;
  }

  /**
   * The penalties that are on, under the names OpenAI's API uses ({@code repetition_penalty} is
   * vLLM's, SGLang's and our {@code serve}'s; OpenAI has none): for cache keys and request bodies.
   */
  public Map<String, Double> penalties() {
    Map<String, Double> m = new TreeMap<>();
    if (presencePenalty != 0) {
      m.put("presence_penalty", presencePenalty);
    }
    if (frequencyPenalty != 0) {
      m.put("frequency_penalty", frequencyPenalty);
    }
    if (repetitionPenalty != 1) {
      m.put("repetition_penalty", repetitionPenalty);
    }
    return m;
  }

  public SamplingParams {
    if (!(presencePenalty >= -2 && presencePenalty <= 2)) {
      throw new IllegalArgumentException("presence penalty must be in [-2, 2], got " + presencePenalty);
    }
    if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) {
      throw new IllegalArgumentException("frequency penalty must be in [-2, 2], got " + frequencyPenalty);
    }
    if (!(repetitionPenalty > 0 && repetitionPenalty <= 10)) {
      throw new IllegalArgumentException("repetition penalty must be in (0, 10], got " + repetitionPenalty);
    }
    if (grammar != null && grammar.isBlank()) {
      throw new IllegalArgumentException("grammar must not be blank");
    }
    if (maxTokens < 1) {
      throw new IllegalArgumentException("maxTokens must be at least 1, got " + maxTokens);
    }
    if (!(temperature >= 0 && temperature <= 2)) {
      throw new IllegalArgumentException("temperature must be in [0, 2], got " + temperature);
    }
    if (!(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
    }
    if (topK < 0) {
      throw new IllegalArgumentException("topK must be 0 (off) or positive, got " + topK);
    }
    stop = List.copyOf(stop == null ? List.of() : stop);
    if (stop.size() > 16 || stop.stream().anyMatch(String::isEmpty)) {
      throw new IllegalArgumentException("stop: at most 16 non-empty strings, got " + stop);
    }
    if (n < 1 || n > 16) {
      throw new IllegalArgumentException("n must be in [1, 16], got " + n);
    }
  }

  /** Greedy decoding of up to {@code maxTokens} tokens, one completion, no stop strings. */
  public static SamplingParams greedy(int maxTokens) {
    return new SamplingParams(maxTokens, 0, 1, 0, List.of(), 1);
  }

  /** Whether decoding is greedy (seed-independent). */
  public boolean greedy() {
    return temperature == 0;
  }

  /** The parameters as a key-sorted map, for provenance and cache keys. */
  public Map<String, Object> asMap() {
    Map<String, Object> m = new TreeMap<>();
    m.put("max_tokens", maxTokens);
    m.put("temperature", temperature);
    m.put("top_p", topP);
    m.put("top_k", topK);
    m.put("stop", stop);
    m.put("n", n);
    if (grammar != null) {
      m.put("grammar", grammar);
    }
    // only when on, so that the keys of requests without penalties stay what they were
    m.putAll(penalties());
    return m;
  }
}
