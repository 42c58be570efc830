package io.instructflow.generators.selfinstruct;

import io.instructflow.schemas.Ids;
import java.io.Serializable;
import java.util.List;
import java.util.Objects;

/**
 * A human-written task of the seed pool.
 *
 * @param rowId the seed file's own id ({@code seed_task_0}) or {@code <file>:<line>} when it has none
 * @param instruction the task
 * @param instances worked examples, possibly empty
 * @param classification whether the task's answer is one of a fixed set of labels
 * @param location {@code <file name>:<line>}
 */
public record SeedTask(String rowId, String instruction, List<Instance> instances, boolean classification,
    String location) implements Serializable {
  private static final long serialVersionUID = 1L;

  public SeedTask {
    Objects.requireNonNull(rowId, "rowId");
    Objects.requireNonNull(location, "location");
    if (instruction == null || instruction.isBlank()) {
      throw new IllegalArgumentException("seed " + rowId + ": instruction must be non-blank");
    }
    instances = List.copyOf(instances);
  }

  /** The task id: the content id of the instruction alone, as for generated tasks. */
  public String taskId() {
    return taskId(instruction);
  }

  /** The id of a task with this instruction (what {@code parents} in provenance refer to). */
  public static String taskId(String instruction) {
    return Ids.contentId(instruction, null, null, List.of());
  }

  /**
   * One input/output pair of a task.
   *
   * @param input the input, empty when the task needs none
   * @param output the answer (for a classification task, the label)
   */
  public record Instance(String input, String output) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Instance {
      input = input == null ? "" : input;
      Objects.requireNonNull(output, "output");
    }
  }
}
