package io.instructflow.generators.selfinstruct;

import io.instructflow.filters.rouge.RougeGate;

/**
 * The filter ids and reasons the Self-Instruct and Alpaca generators give a task (one instruction the
 * model wrote) before its instances. They are stored in {@code filtered/} records, so they never change.
 *
 * <p>A task's filters, in the order its {@code self_instruct.filter} step lists them: {@value #FORMAT_FILTER}
 * (Alpaca only), {@value #TRUNCATED_FILTER}, the {@link io.instructflow.filters.instruction.InstructionRules}
 * and the ROUGE-L rule, whose ids ({@value RougeGate#FILTER}, {@value RougeGate#REASON}) are
 * {@link RougeGate}'s, shared with the {@code filter} and {@code dedup} commands. The reasons of a task's
 * instances are {@link InstanceRules}'.
 */
public final class SelfInstructReasons {
  private SelfInstructReasons() {}

  /** Filter: the response was cut by the token limit. */
  public static final String TRUNCATED_FILTER = "response_truncated";
  /**
   * A task from a response that stopped at the token limit: every task of a Self-Instruct list (the
   * reference discards such responses), the last piece of an Alpaca response (details: finish_reason).
   */
  public static final String TRUNCATED = "response_truncated.length";
  /** Filter: an Alpaca piece without the three labelled fields. */
  public static final String FORMAT_FILTER = "task_format";
  /** A piece of an Alpaca response that is not {@code n. Instruction / n. Input / n. Output}. */
  public static final String FORMAT_MALFORMED = "task_format.malformed";
}
