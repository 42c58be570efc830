package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.SamplingParams;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine's decode-step accounting and its persistent CPU thread pools, on the real stories260K. */
class DecodeStepsTest {
  @Test
  void decodeStatsCountExactlyTheStepsThatCarryNoPromptToken() throws Exception {
    LlamaCppModel m = LlamaCppModel.shared(LlamaCppModel.Config.of(TestModels.stories()).withParallel(4)
        .withSchedule(LlamaCppModel.Schedule.BATCHED).withContextPerSlot(256).withThreads(2)
        .withPrefixReuse(false, 0));
    int max = 24;
    List<GenerationRequest> reqs = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      // stop strings never match and end-of-story is unlikely this early: each runs to its limit
      reqs.add(GenerationRequest.text("s" + i, LlamaCppModelTest.OPENINGS[i], SamplingParams.greedy(max), 0));
    }
    // one request: its prompt is one step, then every step feeds the token sampled last
    LlamaCppModel.DecodeStats before = m.decodeStats();
    GenerationResult one = m.generate(reqs.subList(0, 1)).get(0);
    LlamaCppModel.DecodeStats d1 = m.decodeStats().since(before);
    assertEquals(FinishReason.LENGTH, one.choices().get(0).finishReason());
    assertEquals(max, one.completionTokens());
    assertEquals(max - 1, d1.steps());
    assertEquals(max - 1, d1.tokens());
    assertTrue(d1.nanos() > 0 && d1.tokensPerSecond() > 0, d1.toString());

    // four at once: the worker may admit a request some steps after the first (it renders and queues them
    // one by one), and a step that mixes a prompt with running sequences is not a decoding step; each of
    // the three later prompts goes in one such step with at most three running sequences beside it
    before = m.decodeStats();
    List<GenerationResult> done = m.generate(reqs);
    LlamaCppModel.DecodeStats d = m.decodeStats().since(before);
    long continuations = 0;
    for (GenerationResult r : done) {
      assertTrue(r.ok(), String.valueOf(r.error()));
      assertEquals(FinishReason.LENGTH, r.choices().get(0).finishReason());
      // the first token comes from the prompt's last logits; each later one from a step feeding its predecessor
      continuations += r.completionTokens() - 1;
    }
    assertTrue(d.tokens() <= continuations && d.tokens() >= continuations - 9, d + " of " + continuations);
    assertTrue(d.steps() >= max - 1 - 3 && d.steps() <= d.tokens(), d.toString());
  }

  @Test
  void aPoolIsMadeForTwoOrMoreThreadsOnlyAndClosesOnce() {
    assertNull(CpuThreadPool.create(1), "one thread: the context computes on its own thread");
    CpuThreadPool pool = CpuThreadPool.create(2);
    assertNotNull(pool, "the CPU backend offers ggml_threadpool_new, and its parameters read as mirrored");
    pool.close();
    pool.close();
  }

  @TempDir Path tmp;

  /**
   * A copy of stories260K whose end-of-sequence token is its BOS (1), which the TinyStories models write
   * between stories; the original's EOS (2) is never sampled, so no completion would end early.
   */
  private Path storiesEndingAtBos() throws Exception {
    byte[] file = Files.readAllBytes(TestModels.stories());
    byte[] key = "tokenizer.ggml.eos_token_id".getBytes(StandardCharsets.US_ASCII);
    int at = indexOf(file, key);
    assertTrue(at > 0, "the key is in the file");
    ByteBuffer value = ByteBuffer.wrap(file, at + key.length, 8).order(ByteOrder.LITTLE_ENDIAN);
    assertEquals(4, value.getInt(), "stored as uint32");
    value.putInt(1);
    return Files.write(tmp.resolve("stories-eos-bos.gguf"), file);
  }

  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int k = 0; k < needle.length; k++) {
        if (hay[i + k] != needle[k]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  @Test
  void ignoringEndOfGenerationRunsEveryCompletionToItsLimit() throws Exception {
    LlamaCppModel.Config base = LlamaCppModel.Config.of(storiesEndingAtBos()).withParallel(4)
        .withSchedule(LlamaCppModel.Schedule.BATCHED).withContextPerSlot(512).withThreads(1);
    List<GenerationRequest> reqs = new ArrayList<>();
    // sampled: greedy stories260K text soon loops within one story
    SamplingParams p = new SamplingParams(400, 0.9, 1, 0, List.of(), 1);
    for (int i = 0; i < 16; i++) {
      reqs.add(GenerationRequest.text("e" + i, LlamaCppModelTest.OPENINGS[i % LlamaCppModelTest.OPENINGS.length], p,
          100 + i));
    }
    List<GenerationResult> plain = LlamaCppModel.shared(base).generate(reqs);
    List<GenerationResult> full = LlamaCppModel.shared(base.withIgnoreEos(true)).generate(reqs);
    int stopped = 0;
    for (int i = 0; i < reqs.size(); i++) {
      assertTrue(plain.get(i).ok() && full.get(i).ok());
      assertEquals(FinishReason.LENGTH, full.get(i).choices().get(0).finishReason(), reqs.get(i).id());
      assertEquals(400, full.get(i).completionTokens());
      stopped += plain.get(i).choices().get(0).finishReason() == FinishReason.STOP ? 1 : 0;
    }
    assertTrue(stopped > 0, "some stories end before 400 tokens without the bias: " + stopped);
  }
}
