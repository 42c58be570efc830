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
 */
public record SamplingParams(int maxTokens, double temperature, double topP, int topK, List<String> stop, int n,
    String grammar) implements java.io.Serializable {
  /** Parameters without a grammar. */
  public SamplingParams(int maxTokens, double temperature, double topP, int topK, List<String> stop, int n) {
    this(maxTokens, temperature, topP, topK, stop, n, null);
  }

  /** A copy constrained by a GBNF grammar. */
  public SamplingParams withGrammar(String gbnf) {
    return new SamplingParams(maxTokens, temperature, topP, topK, stop, n, gbnf);
  }

  public SamplingParams {
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
    return m;
  }
}
