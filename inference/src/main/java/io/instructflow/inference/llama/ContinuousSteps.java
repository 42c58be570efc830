package io.instructflow.inference.llama;

import static io.instructflow.inference.llama.LlamaCppModel.BATCH;

import io.instructflow.inference.llama.LlamaCppModel.Schedule;
import java.util.List;

/**
 * The decoding steps of {@link Schedule#CONTEXTS} and {@link Schedule#BATCHED}: continuous batching,
 * each {@code llama_decode} carrying every running sequence's next token and prompt chunks while room is
 * left. With one sequence per context ({@code CONTEXTS}) a call carries one sequence only.
 */
final class ContinuousSteps implements DecodeSteps {
  private final DecodeLoop loop;

  ContinuousSteps(DecodeLoop loop) {
    this.loop = loop;
  }

  /** One llama_decode: the next token of every decoding sequence, then prompt chunks while room is left. */
  @Override
  public void step(List<Job> active) {
    int n = 0;
    for (Job j : active) {
      j.out = -1;
      if (j.source == null && j.fed >= j.prompt.length) {
        n = loop.put(n, j.last, j.fed++, j.seq, true);
        j.out = n - 1;
      }
    }
    for (Job j : active) {
      while (j.source == null && j.fed < j.prompt.length && n < BATCH) {
        boolean lastOfPrompt = j.fed == j.prompt.length - 1;
        n = loop.put(n, j.prompt[j.fed], j.fed, j.seq, lastOfPrompt);
        j.fed++;
        if (lastOfPrompt) {
          j.out = n - 1;
        }
      }
    }
    if (n == 0) {
      return;
    }
    boolean decodeOnly = true;
    for (Job j : active) {
      decodeOnly &= j.source == null && j.fed > j.prompt.length;
    }
    long t0 = System.nanoTime();
    loop.batch.n_tokens = n;
    int rc;
    try {
      rc = loop.api.llama_decode(loop.ctx, loop.batch);
    } catch (RuntimeException | Error e) {
      for (Job j : active) {
        j.done.completeExceptionally(new IllegalStateException("llama_decode failed: " + e));
      }
      return;
    }
    if (rc != 0) {
      for (Job j : active) {
        j.done.completeExceptionally(new IllegalStateException("llama_decode returned " + rc
            + (rc == 1 ? " (no room in the KV cache)" : "")));
      }
      return;
    }
    for (Job j : active) {
      if (j.out >= 0) {
        j.sampled = loop.api.llama_sampler_sample(j.sampler, loop.ctx, j.out);
      }
    }
    // counted before any job completes, so a caller that sees its results sees their steps too
    if (decodeOnly) {
      loop.scheduler.decodeSteps.incrementAndGet();
      loop.scheduler.decodeTokens.addAndGet(n);
      loop.scheduler.decodeNanos.addAndGet(System.nanoTime() - t0);
    }
    for (Job j : active) {
      if (j.out >= 0) {
        loop.accept(j, j.sampled);
      }
    }
  }
}
