package io.instructflow.generators.selfinstruct;

import io.instructflow.schemas.Verdict;
import java.util.List;
import java.util.Objects;

/**
 * One task parsed from an instruction-generation response, with the verdict of the rules so far.
 *
 * @param round the round that generated it (1-based)
 * @param prompt the prompt's index in the round
 * @param item the task's index in the response
 * @param instruction the instruction, normalized as the rules see it
 * @param input the input (Alpaca preset, which writes whole tasks), else null
 * @param output the output (Alpaca preset), else null
 * @param verdict kept so far, or the first rule that dropped it
 * @param parents task ids of the example instructions the prompt showed
 * @param seed the effective seed of the request that produced it
 * @param finishReason why that response ended ({@code stop} or {@code length})
 * @param similarity for a task the ROUGE-L gate kept, how it compares with the pool; else null
 */
public record Candidate(int round, int prompt, int item, String instruction, String input, String output,
    Verdict verdict, List<String> parents, long seed, String finishReason, Similarity similarity) {
  public Candidate {
    Objects.requireNonNull(instruction, "instruction");
    Objects.requireNonNull(verdict, "verdict");
    parents = List.copyOf(parents);
  }

  /** Whether every rule so far kept it. */
  public boolean kept() {
    return verdict instanceof Verdict.Kept;
  }

  /** The task id: the content id of the instruction alone. */
  public String taskId() {
    return SeedTask.taskId(instruction);
  }

  /** Where it came from, {@code round-<r>/prompt-<p>/item-<i>}. */
  public String location() {
    return "round-" + round + "/prompt-" + prompt + "/item-" + item;
  }

  /** A copy with another verdict. */
  public Candidate withVerdict(Verdict v) {
    return new Candidate(round, prompt, item, instruction, input, output, v, parents, seed, finishReason, similarity);
  }

  /** A copy with its pool similarity. */
  public Candidate withSimilarity(Similarity s) {
    return new Candidate(round, prompt, item, instruction, input, output, verdict, parents, seed, finishReason, s);
  }

  /** Its entry in the pool (the machine-task list) once the gate keeps it. */
  public PoolEntry poolEntry() {
    return new PoolEntry(taskId(), instruction, round);
  }
}
