package io.instructflow.inference.bench;

import io.instructflow.inference.llama.LlamaCppModel;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A seeded mix of requests shaped like a generator's traffic: a few prompt families (a template, a
 * rubric, a system prompt) whose members share a long prefix and differ in a short tail, prompts of
 * 300–2,500 tokens, and 64–512 output tokens. Each family's prefix is 250–2,000 tokens and each
 * request's own tail 50–500 tokens, so a prompt's length and how much of it is shared vary together as
 * they do in Self-Instruct's and Evol-Instruct's requests. A model trained on a shorter context than
 * {@link #CONTEXT} (llama-server caps each slot at the training context) gets the prefix and tail
 * ranges' upper ends scaled down so that the longest prompt and output still fit. The texts are plain words; lengths are
 * counted with the model's own tokenizer (BOS included), to within a word.
 */
final class RequestMix {
  static final int MIN_PREFIX = 250;
  static final int MAX_PREFIX = 2_000;
  static final int MIN_TAIL = 50;
  static final int MAX_TAIL = 500;
  static final int MIN_OUTPUT = 64;
  static final int MAX_OUTPUT = 512;
  /** The longest prompt plus the longest output, and room for a word over. */
  static final int CONTEXT = MAX_PREFIX + MAX_TAIL + MAX_OUTPUT + 32;

  private static final String[] WORDS = {
    "write", "a", "short", "story", "about", "the", "river", "and", "its", "old", "bridge", "explain", "why",
    "summer", "rain", "falls", "list", "three", "reasons", "for", "planting", "trees", "near", "school", "give",
    "one", "example", "of", "kind", "words", "answer", "with", "care", "when", "friends", "disagree", "describe",
    "how", "bread", "is", "made", "in", "small", "village", "compare", "two", "cats", "sleeping", "under", "lamp"
  };

  private RequestMix() {}

  /** One request: its id, prompt text, tokens in it (BOS included), tokens it shares with its family, and its output length. */
  record Item(String id, String prompt, int promptTokens, int sharedTokens, int maxTokens) {}

  /** The longest prompt a model trained on {@code trainedContext} tokens takes in the mix. */
  static int maxPrompt(long trainedContext) {
    return (int) Math.min(MAX_PREFIX + MAX_TAIL, trainedContext - CONTEXT + MAX_PREFIX + MAX_TAIL);
  }

  /**
   * {@code requests} requests over {@code families} families, prompts at most {@code maxPrompt} tokens
   * (2,500, or less for a short-context model, see {@link #maxPrompt}); the same for the same seed,
   * tokenizer and limit.
   */
  static List<Item> build(LlamaCppModel tokenizer, int requests, int families, long seed, int maxPrompt) {
    if (maxPrompt < MIN_PREFIX + MIN_TAIL + 100) {
      throw new IllegalArgumentException("the model's context leaves " + maxPrompt + " tokens for a prompt of the mix");
    }
    double scale = Math.min(1, maxPrompt / (double) (MAX_PREFIX + MAX_TAIL));
    int maxPrefix = Math.max(MIN_PREFIX, (int) (MAX_PREFIX * scale));
    int maxTail = Math.max(MIN_TAIL, (int) (MAX_TAIL * scale));
    SplittableRandom rnd = new SplittableRandom(seed);
    List<String> prefixes = new ArrayList<>();
    for (int f = 0; f < families; f++) {
      int target = MIN_PREFIX + rnd.nextInt(maxPrefix - MIN_PREFIX + 1);
      prefixes.add(grow(tokenizer, "Task family " + (f + 1) + ":", target, rnd));
    }
    List<Item> out = new ArrayList<>();
    for (int i = 0; i < requests; i++) {
      String prefix = prefixes.get(i % families);
      int shared = tokenizer.countTokens(prefix) + 1;
      int target = shared + MIN_TAIL + rnd.nextInt(maxTail - MIN_TAIL + 1);
      String prompt = grow(tokenizer, prefix + "\nRequest " + (i + 1) + ":", target, rnd);
      int output = MIN_OUTPUT + rnd.nextInt(MAX_OUTPUT - MIN_OUTPUT + 1);
      out.add(new Item("mix" + i, prompt, tokenizer.countTokens(prompt) + 1, shared, output));
    }
    return out;
  }

  /** {@code start} with seeded words appended until it is {@code target} tokens with BOS (the last word may pass it). */
  private static String grow(LlamaCppModel tokenizer, String start, int target, SplittableRandom rnd) {
    StringBuilder b = new StringBuilder(start);
    int have = tokenizer.countTokens(b.toString()) + 1;
    while (have < target) {
      // a word is one to four tokens (a 512-token vocabulary splits most): add a quarter of what is
      // missing, then count again, so the last step overshoots by a word at most
      int add = Math.max(1, (target - have) / 4);
      for (int k = 0; k < add; k++) {
        b.append(' ').append(WORDS[rnd.nextInt(WORDS.length)]);
      }
      have = tokenizer.countTokens(b.toString()) + 1;
    }
    return b.toString();
  }
}
