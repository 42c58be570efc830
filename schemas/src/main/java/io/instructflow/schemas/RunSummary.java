package io.instructflow.schemas;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What one command run did, written as {@code OUT/run-summary.json}.
 *
 * <p>Counts reconcile: {@code read == kept + filtered + rejected}; {@link #reconciled} says whether they
 * did, and a run where they do not is a failed run.
 *
 * @param command the CLI command, e.g. {@code import}
 * @param status {@code ok}, {@code reject_ratio_exceeded} or {@code failed}
 * @param runner the Beam runner and master it ran on, e.g. {@code SparkRunner local[*]}
 * @param startedAt ISO-8601 start time (UTC)
 * @param stages wall time of each stage, in the order they ran
 * @param counts record counts
 * @param filtered filtered counts by step, then by reason code
 * @param filteredExamples the first few filtered records (in output order) of each step and reason:
 *     their id, {@code file:line}, the start of their instruction and the evidence of the drop
 * @param rejected rejected counts by reason code
 * @param reconciled whether read = kept + filtered + rejected
 * @param blankLines empty or whitespace-only JSONL lines skipped (they hold no record)
 * @param inputs the input files, in reading order
 * @param outputs output folders and files by role
 * @param config the effective configuration
 * @param versions instructflow, Beam, Spark and Java versions
 * @param metrics what the run's steps measured, by step (e.g. {@code generate}: requests, cache hits,
 *     tokens, tokens per second); empty for commands that measure nothing beyond the counts
 * @param notes things a person should know about the run (skipped stages and why...)
 */
public record RunSummary(
    String command,
    String status,
    String runner,
    String startedAt,
    List<StageTime> stages,
    Counts counts,
    Map<String, Map<String, Long>> filtered,
    Map<String, Map<String, List<Map<String, Object>>>> filteredExamples,
    Map<String, Long> rejected,
    boolean reconciled,
    long blankLines,
    List<String> inputs,
    Map<String, Object> outputs,
    Map<String, Object> config,
    Map<String, String> versions,
    Map<String, Object> metrics,
    List<String> notes) {

  public RunSummary {
    Objects.requireNonNull(command, "command");
    Objects.requireNonNull(status, "status");
    Objects.requireNonNull(counts, "counts");
    stages = Maps.listCopy(stages, "stages");
    filtered = filtered == null ? Map.of() : new java.util.TreeMap<>(filtered);
    filteredExamples = filteredExamples == null ? Map.of() : new java.util.TreeMap<>(filteredExamples);
    rejected = rejected == null ? Map.of() : new java.util.TreeMap<>(rejected);
    inputs = Maps.listCopy(inputs, "inputs");
    outputs = Maps.sortedCopy(outputs);
    config = Maps.sortedCopy(config);
    versions = versions == null ? Map.of() : new java.util.TreeMap<>(versions);
    metrics = Maps.sortedCopy(metrics);
    notes = Maps.listCopy(notes, "notes");
  }

  /**
   * Record counts of a run.
   *
   * @param read records read from the input (one per JSONL line or array element; a seed task counts
   *     once per instance)
   * @param kept records written to {@code data/}
   * @param filtered records written to {@code filtered/}
   * @param rejected records written to {@code rejects/}
   */
  public record Counts(long read, long kept, long filtered, long rejected) {
    /** Whether read = kept + filtered + rejected. */
    public boolean reconciles() {
      return read == kept + filtered + rejected;
    }
  }

  /**
   * Wall time of one stage.
   *
   * @param name stage name
   * @param millis wall-clock milliseconds
   */
  public record StageTime(String name, long millis) {}
}
