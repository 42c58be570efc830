package io.instructflow.pipelines.stage;

import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.runtime.Runner;
import java.util.Objects;

/**
 * The checks that the commands' settings share, each rule in one place (issue 20): the output of a run
 * (its folder, runner and records per shard) and, for a stage that calls a model ({@link CallModel}), the
 * model and the requests per call. The commands' {@code Config} records run them in their compact
 * constructors, so a bad value fails before anything runs; a message names the command-line option, and
 * the command turns the {@link IllegalArgumentException} into a usage error.
 *
 * <pre>{@code
 * public Config {
 *   ConfigChecks.modelCall(model, batchSize);
 *   ConfigChecks.output(out, shardSize, runner);
 * }
 * }</pre>
 */
public final class ConfigChecks {
  private ConfigChecks() {}

  /**
   * Checks that the value of a whole-number option is at least 1.
   *
   * @param option the option as typed on the command line ({@code --epochs})
   * @throws IllegalArgumentException naming the option and the value otherwise
   */
  public static void positive(String option, long value) {
    if (value < 1) {
      throw new IllegalArgumentException(option + " must be positive, got " + value);
    }
  }

  /**
   * Checks the output of a run: a folder, a runner, and at least one record per shard
   * ({@code --shard-size}).
   *
   * @throws NullPointerException naming {@code out} or {@code runner} when it is missing
   * @throws IllegalArgumentException when the shard size is below 1
   */
  public static void output(String out, long shardSize, Runner runner) {
    Objects.requireNonNull(out, "out");
    Objects.requireNonNull(runner, "runner");
    positive("--shard-size", shardSize);
  }

  /**
   * Checks the settings of a model-calling stage: a model, and at least one request per call
   * ({@code --batch-size}, the batch of {@link CallModel#withBatchSize} and of the round loops).
   *
   * @throws NullPointerException naming {@code model} when it is missing
   * @throws IllegalArgumentException when the batch size is below 1
   */
  public static void modelCall(ModelSpec model, int batchSize) {
    Objects.requireNonNull(model, "model");
    positive("--batch-size", batchSize);
  }
}
