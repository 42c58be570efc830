package io.instructflow.filters.chain;

import io.instructflow.filters.instruction.InstructionRules;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.Objects;

/**
 * The Self-Instruct or Alpaca instruction rules ({@link InstructionRules}) applied to a record's
 * instruction (for a chat record, its first user turn).
 *
 * @param rules the rules
 */
public record InstructionRulesFilter(InstructionRules rules) implements RecordFilter {
  private static final long serialVersionUID = 1L;

  /** The filter's type in chain configs. */
  public static final String TYPE = "instruction_rules";

  public InstructionRulesFilter {
    Objects.requireNonNull(rules, "rules");
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    return rules.test(rules.normalize(e.instructionText()));
  }
}
