package io.instructflow.inference.llama;

import static io.instructflow.inference.llama.DecodeLoop.STEP_ROWS;
import static io.instructflow.inference.llama.DecodeLoop.roundUp;
import static io.instructflow.inference.llama.LlamaCppModel.BATCH;

import io.instructflow.inference.llama.LlamaCppModel.Schedule;
import java.util.ArrayList;
import java.util.List;

/** The decoding steps of {@link Schedule#INVARIANT}: batch-invariant, see {@link #step}. */
final class InvariantSteps implements DecodeSteps {
  private final DecodeLoop loop;

  InvariantSteps(DecodeLoop loop) {
    this.loop = loop;
  }

  /**
   * {@link Schedule#INVARIANT}: one padded decoding step for the sequences past their prompts, then the
   * next prompt chunk of each sequence still reading its prompt, each chunk in a {@code llama_decode} of
   * its own. What llama.cpp's CPU kernels compute for a row then depends on that row's sequence only
   * (docs/engine.md, "Batch-invariant decoding"):
   * <ul>
   *   <li>a prompt is cut at the multiples of {@value LlamaCppModel#BATCH} it is cut at alone, and a chunk never
   *       shares a call, so its rows, its KV window and its kernels are those it gets alone;
   *   <li>a decoding step carries one row for every stream from 0 up to a multiple of
   *       {@value DecodeLoop#STEP_ROWS}: every sequence's row, and a padding row for each other stream in that range.
   *       With at least {@value DecodeLoop#STEP_ROWS} rows every matrix product stays on the many-row kernels
   *       (llamafile's tinyBLAS refuses one-row products; the repacked Q4_0 path runs rows in groups of
   *       four and only the rest one by one), the streams are consecutive so llama.cpp runs the step as one
   *       micro-batch, and with two or more streams flash attention never takes its one-query split-KV
   *       path, whose partial sums depend on the thread count and the KV length;
   *   <li>every row asks for logits, so the output projection has the same many-row shape too.
   * </ul>
   * A padding row is one token at the next free position of its stream, so it attends to that stream's
   * cells but changes none of them; its cell is removed right after the step and its logits are never
   * sampled.
   */
  @Override
  public void step(List<Job> active) {
    decodePadded(active);
    for (Job j : active) {
      if (!j.done.isDone() && j.fed < j.prompt.length) {
        prefillChunk(j);
      }
    }
  }

  /** The next {@value LlamaCppModel#BATCH}-aligned chunk of a job's prompt, alone in a {@code llama_decode}. */
  private void prefillChunk(Job j) {
    int end = Math.min(j.prompt.length, (j.fed / BATCH + 1) * BATCH);
    int n = 0;
    while (j.fed < end) {
      n = loop.put(n, j.prompt[j.fed], j.fed, j.seq, j.fed == j.prompt.length - 1);
      j.fed++;
    }
    loop.batch.n_tokens = n;
    String failure = loop.decodeFailure();
    if (failure != null) {
      j.done.completeExceptionally(new IllegalStateException(failure));
      return;
    }
    if (j.fed == j.prompt.length) {
      loop.accept(j, loop.api.llama_sampler_sample(j.sampler, loop.ctx, n - 1));
    }
  }

  /** One decoding step for every job past its prompt, padded as {@link #step} says. */
  private void decodePadded(List<Job> active) {
    Job[] at = new Job[roundUp(loop.streams, STEP_ROWS)];
    int top = -1;
    for (Job j : active) {
      if (!j.done.isDone() && j.fed >= j.prompt.length) {
        at[j.seq] = j;
        top = Math.max(top, j.seq);
      }
    }
    if (top < 0) {
      return;
    }
    int rows = roundUp(top + 1, STEP_ROWS);
    int[] padAt = new int[rows];
    int n = 0;
    int real = 0;
    for (int s = 0; s < rows; s++) {
      if (at[s] != null) {
        n = loop.put(n, at[s].last, at[s].fed, s, true);
        real++;
        padAt[s] = -1;
      } else {
        padAt[s] = loop.api.llama_memory_seq_pos_max(loop.memory, s) + 1;
        n = loop.put(n, loop.padToken, padAt[s], s, true);
      }
    }
    long t0 = System.nanoTime();
    loop.batch.n_tokens = n;
    String failure;
    try {
      failure = loop.decodeFailure();
    } finally {
      for (int s = 0; s < rows; s++) {
        if (padAt[s] >= 0) {
          loop.api.llama_memory_seq_rm(loop.memory, s, padAt[s], -1);
        }
      }
    }
    List<Job> stepped = new ArrayList<>(real);
    for (int s = 0; s < rows; s++) {
      if (at[s] != null) {
        stepped.add(at[s]);
      }
    }
    if (failure != null) {
      for (Job j : stepped) {
        j.done.completeExceptionally(new IllegalStateException(failure));
      }
      return;
    }
    for (Job j : stepped) {
      j.fed++;
      // row s is stream s
      j.sampled = loop.api.llama_sampler_sample(j.sampler, loop.ctx, j.seq);
    }
    loop.scheduler.decodeSteps.incrementAndGet();
    loop.scheduler.decodeTokens.addAndGet(real);
    loop.scheduler.decodeNanos.addAndGet(System.nanoTime() - t0);
    for (Job j : stepped) {
      loop.accept(j, j.sampled);
    }
  }
}
