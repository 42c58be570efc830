package io.instructflow.inference.llama;

import static io.instructflow.inference.llama.LlamaCppModelTest.texts;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.llama.LlamaCppModel.Schedule;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * Issue 18 item 5, on the real stories260K: the default schedule batches the running sequences' decoding
 * steps in one context, and each completion's text is still the one it gets decoding alone, greedy or
 * sampled with a seed, whatever the parallelism, the prompt lengths beside it and the order of arrival.
 */
class InvariantScheduleTest {
  /** 24 requests: prompts from 5 to about 1,100 tokens (one, two and three 512-token chunks), greedy and sampled. */
  static List<GenerationRequest> requests() {
    List<GenerationRequest> out = new ArrayList<>();
    String[] openings = LlamaCppModelTest.OPENINGS;
    for (int i = 0; i < 24; i++) {
      StringBuilder prompt = new StringBuilder();
      // three long prompts (two and three chunks) among short ones of different lengths, so sequences
      // join and leave at different steps
      int sentences = i == 3 ? 85 : i == 10 || i == 17 ? 55 : i % 5;
      for (int k = 0; k < sentences; k++) {
        prompt.append(openings[(i + k) % openings.length]).append(" and a bird ").append(k).append(". ");
      }
      prompt.append(openings[i % openings.length]).append(' ').append(i + 1);
      SamplingParams p = i % 2 == 1 ? new SamplingParams(40 + 7 * (i % 5), 0.9, 0.95, 40, List.of(), 1)
          : SamplingParams.greedy(40 + 9 * (i % 6));
      out.add(GenerationRequest.text("v" + i, prompt.toString(), p, 900 + i));
    }
    return out;
  }

  private static LlamaCppModel.Config base() {
    // one thread: the guarantee is for a given thread count, and on a shared 2-core machine a second
    // thread mostly waits at ggml's barriers for a core
    return LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(1280).withThreads(1);
  }

  @Test
  void textsAreThoseOfDecodingAloneAtParallelOneFourAndSixteenInAnyArrivalOrder() throws Exception {
    List<GenerationRequest> reqs = requests();
    LlamaCppModel one = LlamaCppModel.shared(base());
    assertEquals(Schedule.INVARIANT, one.config().schedule(), "the default schedule");
    int longest = 0;
    for (GenerationRequest r : reqs) {
      longest = Math.max(longest, one.tokenize(r.prompt(), true).length);
    }
    assertTrue(longest > 2 * LlamaCppModel.BATCH, "some prompts take three chunks: " + longest);

    // each request alone, on a fresh sequence: the reference
    List<String> alone = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      alone.addAll(texts(one.generate(List.of(r))));
    }
    assertEquals(reqs.size(), alone.stream().distinct().count(), "24 different texts");

    assertEquals(alone, texts(one.generate(reqs)), "parallel 1, all at once");
    for (int parallel : new int[] {4, 16}) {
      LlamaCppModel m = LlamaCppModel.shared(base().withParallel(parallel));
      LlamaCppModel.DecodeStats before = m.decodeStats();
      assertEquals(alone, texts(m.generate(reqs)), "parallel " + parallel + ", all at once");
      LlamaCppModel.DecodeStats d = m.decodeStats().since(before);
      // the running sequences shared their steps: far fewer llama_decode steps than tokens decoded
      assertTrue(d.tokens() >= 2 * d.steps(), "parallel " + parallel + " batches its steps: " + d);
      // arrivals in other orders, from several threads at once, each request alone in its call
      assertEquals(alone, shuffledFromThreads(m, reqs, parallel), "parallel " + parallel + ", shuffled arrivals");
    }
  }

  /** The requests sent in a seeded shuffled order from four threads, one per call; texts in request order. */
  private static List<String> shuffledFromThreads(LlamaCppModel m, List<GenerationRequest> reqs, long seed)
      throws Exception {
    List<Integer> order = new ArrayList<>();
    for (int i = 0; i < reqs.size(); i++) {
      order.add(i);
    }
    Collections.shuffle(order, new Random(seed));
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<List<GenerationResult>>> fs = new ArrayList<>();
      for (int i : order) {
        fs.add(pool.submit(() -> m.generate(List.of(reqs.get(i)))));
      }
      String[] out = new String[reqs.size()];
      for (int k = 0; k < order.size(); k++) {
        out[order.get(k)] = texts(fs.get(k).get()).get(0);
      }
      return List.of(out);
    } finally {
      pool.shutdown();
    }
  }

  @Test
  void aStepCarriesEveryStreamUpToAMultipleOfFourRows() {
    assertEquals(4, DecodeLoop.roundUp(1, DecodeLoop.STEP_ROWS));
    assertEquals(4, DecodeLoop.roundUp(4, DecodeLoop.STEP_ROWS));
    assertEquals(8, DecodeLoop.roundUp(5, DecodeLoop.STEP_ROWS));
    assertEquals(16, DecodeLoop.roundUp(16, DecodeLoop.STEP_ROWS));
  }
}
