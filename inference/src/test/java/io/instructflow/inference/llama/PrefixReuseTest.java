package io.instructflow.inference.llama;

import static io.instructflow.inference.llama.LlamaCppModelTest.texts;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Shared-prefix reuse on the real stories260K model: the same texts as computing every prompt whole,
 * with the prompt tokens it saves counted exactly.
 */
class PrefixReuseTest {
  /** A long shared opening, like the Self-Instruct classification prompt's worked examples. */
  static final String PREFIX;

  static {
    StringBuilder b = new StringBuilder();
    String[] names = {"Lily", "Tom", "Ben", "Sue", "Max", "Mia"};
    for (int i = 0; i < 60; i++) {
      b.append("Story ").append(i + 1).append(": ").append(names[i % names.length])
          .append(" found a red ball in the park and gave it to a friend. ");
    }
    PREFIX = b.toString();
  }

  private static LlamaCppModel.Config base(boolean reuse, int spare) {
    return LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(2048).withThreads(1)
        .withPrefixReuse(reuse, spare);
  }

  /** Requests in the order given: three families of prompts (A and B share {@link #PREFIX}'s start). */
  private static List<GenerationRequest> requests(String... tails) {
    List<GenerationRequest> out = new ArrayList<>();
    for (int i = 0; i < tails.length; i++) {
      SamplingParams p = i % 2 == 1 ? new SamplingParams(24, 0.8, 0.95, 40, List.of(), 1) : SamplingParams.greedy(24);
      out.add(GenerationRequest.text("p" + i, tails[i], p, 77 + i));
    }
    return out;
  }

  /** Generates one request at a time, so the order of admission is the order given. */
  private static List<String> oneByOne(LlamaCppModel m, List<GenerationRequest> reqs) {
    List<String> out = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      out.addAll(texts(m.generate(List.of(r))));
    }
    return out;
  }

  private static long reused(LlamaCppModel m, long before) {
    return m.prefixStats().reusedTokens() - before;
  }

  @Test
  void theInvariantScheduleReusesWholeChunksAndKeepsEveryText() throws Exception {
    LlamaCppModel on = LlamaCppModel.shared(base(true, 1));
    LlamaCppModel off = LlamaCppModel.shared(base(false, 0));
    int prefixTokens = on.tokenize(PREFIX, true).length;
    assertTrue(prefixTokens > 2 * LlamaCppModel.BATCH, "the prefix spans two whole chunks: " + prefixTokens);
    List<GenerationRequest> reqs = requests(PREFIX + "Then Lily said", PREFIX + "The end of the day came",
        PREFIX + "Then Lily said", "Once upon a time, a cat", PREFIX + "So they all");
    long before = on.prefixStats().reusedTokens();
    List<String> withReuse = oneByOne(on, reqs);
    assertEquals(oneByOne(off, reqs), withReuse, "byte-identical texts with and without reuse");
    // every prompt after the first takes the prefix's whole chunks from a free stream: the first
    // one's stream, also after the cat story, which took an empty stream
    long chunks = (long) (prefixTokens / LlamaCppModel.BATCH) * LlamaCppModel.BATCH;
    assertEquals(3 * chunks, reused(on, before));
    assertEquals(0, off.prefixStats().reusedTokens());
    assertEquals(withReuse.get(0), withReuse.get(2), "the same greedy request, the same text");
  }

  @Test
  void withoutASpareStreamAnUnrelatedPromptEvictsThePrefix() throws Exception {
    // the contexts schedule: one stream per context and its spares, no padding streams
    LlamaCppModel noSpare = LlamaCppModel.shared(base(true, 0).withSchedule(LlamaCppModel.Schedule.CONTEXTS));
    int prefixTokens = noSpare.tokenize(PREFIX, true).length;
    long chunks = (long) (prefixTokens / LlamaCppModel.BATCH) * LlamaCppModel.BATCH;
    List<GenerationRequest> reqs = requests(PREFIX + "Then Lily said", "Once upon a time, a cat", PREFIX + "So they");
    long before = noSpare.prefixStats().reusedTokens();
    List<String> texts = oneByOne(noSpare, reqs);
    assertEquals(0, reused(noSpare, before), "one stream: the cat story overwrote the prefix");
    LlamaCppModel spare = LlamaCppModel.shared(base(true, 2).withSchedule(LlamaCppModel.Schedule.CONTEXTS));
    long before2 = spare.prefixStats().reusedTokens();
    assertEquals(texts, oneByOne(spare, reqs));
    assertEquals(chunks, reused(spare, before2), "a spare stream kept it");
  }

  @Test
  void theInvariantSchedulesPaddingStreamsKeepPrefixesAndShortPromptsTakeEmptyStreams() throws Exception {
    // one sequence and no spare: the context still has the four streams its padded steps need, and all
    // of them keep prefixes; prompts shorter than a chunk keep nothing, so they take an empty stream
    // (the Self-Instruct rounds: instruction prompts between the classification and instance families)
    LlamaCppModel on = LlamaCppModel.shared(base(true, 0));
    LlamaCppModel off = LlamaCppModel.shared(base(false, 0));
    String other = "Chapter two. " + PREFIX.substring(0, PREFIX.length() / 2);
    int chunksA = on.tokenize(PREFIX, true).length / LlamaCppModel.BATCH * LlamaCppModel.BATCH;
    int chunksB = on.tokenize(other, true).length / LlamaCppModel.BATCH * LlamaCppModel.BATCH;
    List<GenerationRequest> reqs = requests(PREFIX + "Then Lily said", other + "Then Tom said",
        "Once upon a time, a cat", "A dog ran", "小猫在花园里玩", "The sun was", PREFIX + "So they all",
        other + "The end of the day came");
    long before = on.prefixStats().reusedTokens();
    List<String> withReuse = oneByOne(on, reqs);
    assertEquals(oneByOne(off, reqs), withReuse, "byte-identical texts with and without reuse");
    assertEquals((long) chunksA + chunksB, reused(on, before), "both prefixes outlived four short prompts");
  }

  @Test
  void aSharedStartShorterThanAChunkIsComputedAgainUnderTheInvariantSchedule() throws Exception {
    LlamaCppModel on = LlamaCppModel.shared(base(true, 1));
    String shortPrefix = PREFIX.substring(0, 300);
    assertTrue(on.tokenize(shortPrefix, true).length < LlamaCppModel.BATCH);
    long before = on.prefixStats().reusedTokens();
    oneByOne(on, requests(shortPrefix + " Lily", shortPrefix + " Tom"));
    assertEquals(0, reused(on, before));
  }

  @Test
  void theBatchedScheduleCopiesARunningSequencesPrefixAndKeepsEveryText() throws Exception {
    LlamaCppModel.Config batched = base(true, 1).withParallel(4).withSchedule(LlamaCppModel.Schedule.BATCHED);
    LlamaCppModel on = LlamaCppModel.shared(batched);
    LlamaCppModel off = LlamaCppModel.shared(batched.withPrefixReuse(false, 0));
    List<GenerationRequest> reqs = requests(PREFIX + "Then Lily said", PREFIX + "The end of the day came",
        PREFIX + "Then Tom said", PREFIX + "So they all", PREFIX + "Mia ran", "Once upon a time, a cat",
        PREFIX.substring(0, 900) + " and then");
    long before = on.prefixStats().reusedTokens();
    // all at once: the first four are admitted together, three of them wait for the first's prefix
    List<GenerationResult> together = on.generate(reqs);
    long reused = reused(on, before);
    assertEquals(texts(off.generate(reqs)), texts(together), "the same texts as without reuse (on this CPU)");
    int prefixTokens = on.tokenize(PREFIX, true).length;
    assertTrue(reused >= 4L * (prefixTokens - 8), "at least the four later full-prefix prompts reused it: " + reused);
  }

  @Test
  void commonPrefixStopsAtTheFirstDifferenceOrTheHeldLength() {
    int[] prompt = {1, 2, 3, 4, 5};
    assertEquals(3, DecodeLoop.commonPrefix(prompt, new int[] {1, 2, 3, 9}, 4));
    assertEquals(2, DecodeLoop.commonPrefix(prompt, new int[] {1, 2, 3, 4}, 2));
    assertEquals(5, DecodeLoop.commonPrefix(prompt, new int[] {1, 2, 3, 4, 5, 6}, 6));
    assertEquals(0, DecodeLoop.commonPrefix(prompt, null, 0));
  }
}
