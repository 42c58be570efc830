package io.instructflow.generators.selfinstruct;

import java.util.List;
import java.util.Objects;

/**
 * One instruction-generation prompt of a round.
 *
 * @param round the round (1-based)
 * @param index the prompt's index in the round
 * @param prompt the rendered prompt
 * @param parents task ids of the example instructions shown, in the order shown
 * @param machineExamples how many of those were machine-generated
 * @param seed the effective seed of the request
 */
public record PromptSpec(int round, int index, String prompt, List<String> parents, int machineExamples, long seed) {
  public PromptSpec {
    Objects.requireNonNull(prompt, "prompt");
    parents = List.copyOf(parents);
  }

  /** The request id, {@code round-<r>/prompt-<i>}. */
  public String requestId() {
    return "round-" + round + "/prompt-" + index;
  }
}
