package io.instructflow.generators.selfinstruct;

import java.util.Objects;

/**
 * An instruction of the pool: a seed task or a kept machine-generated task.
 *
 * @param id the task id ({@link SeedTask#taskId(String)})
 * @param instruction the instruction
 * @param round 0 for a seed, else the round that generated it
 */
public record PoolEntry(String id, String instruction, int round) implements java.io.Serializable {
  private static final long serialVersionUID = 1L;

  public PoolEntry {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(instruction, "instruction");
  }

  /** The pool entry of a seed task. */
  public static PoolEntry of(SeedTask t) {
    return new PoolEntry(t.taskId(), t.instruction(), 0);
  }
}
