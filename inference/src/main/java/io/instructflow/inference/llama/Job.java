package io.instructflow.inference.llama;

import com.sun.jna.Pointer;
import io.instructflow.inference.Completion;
import io.instructflow.inference.SamplingParams;
import java.io.ByteArrayOutputStream;
import java.util.Comparator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;

/** One completion to decode. */
final class Job {
  static final Comparator<Job> BY_SEQ = Comparator.comparingInt(j -> j.seq);

  final int[] prompt;
  final SamplingParams params;
  final Pointer sampler;
  final CompletableFuture<Completion> done;
  int seq = -1;
  int fed;
  int last;
  int out = -1;
  /** The token sampled in the current step. */
  int sampled;
  int generated;
  /** A running job whose prompt this one's starts with, until {@link #need} of its tokens are computed. */
  Job source;
  int need;
  final ByteArrayOutputStream text = new ByteArrayOutputStream();

  private final Samplers samplers;
  private final Semaphore admission;
  private boolean released;

  /**
   * @param samplers where {@code sampler} was made, to free it
   * @param admission the permit this completion holds, returned on {@link #release}
   */
  Job(int[] prompt, SamplingParams params, Pointer sampler, CompletableFuture<Completion> done, Samplers samplers,
      Semaphore admission) {
    this.prompt = prompt;
    this.params = params;
    this.sampler = sampler;
    this.done = done;
    this.samplers = samplers;
    this.admission = admission;
  }

  /** Frees the sampler and returns the admission permit, once. */
  synchronized void release() {
    if (!released) {
      released = true;
      samplers.free(sampler);
      admission.release();
    }
  }
}
