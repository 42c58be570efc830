package io.instructflow.inference.llama;

import io.instructflow.inference.llama.LlamaCppModel.Schedule;
import java.util.List;

/**
 * How a context turns its running jobs into {@code llama_decode} calls, one class per way:
 * {@link InvariantSteps} for {@link Schedule#INVARIANT}, {@link ContinuousSteps} for
 * {@link Schedule#CONTEXTS} (one sequence per context) and {@link Schedule#BATCHED}. The context, its
 * batch and what happens to a sampled token are the {@link DecodeLoop}'s.
 */
sealed interface DecodeSteps permits InvariantSteps, ContinuousSteps {
  /** The steps of {@code schedule} on {@code loop}'s context. */
  static DecodeSteps of(Schedule schedule, DecodeLoop loop) {
    return schedule == Schedule.INVARIANT ? new InvariantSteps(loop) : new ContinuousSteps(loop);
  }

  /**
   * One round of decoding for the running jobs, in sequence order; a job whose decoding fails is completed
   * exceptionally.
   */
  void step(List<Job> active);
}
