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

  /**
   * Makes the filter from its chain config entry: {@code preset} {@code self-instruct} (the default)
   * or {@code alpaca}, and {@code allowNonAsciiFirst} (default false).
   */
  public static final class Factory implements FilterFactory {
    @Override
    public String type() {
      return TYPE;
    }

    @Override
    public RecordFilter create(com.fasterxml.jackson.databind.JsonNode config, String at) {
      FilterChain.only(config, java.util.Set.of("type", "preset", "allowNonAsciiFirst"), at);
      String preset = config.path("preset").asText("self-instruct");
      InstructionRules rules = switch (preset) {
        case "self-instruct" -> InstructionRules.selfInstruct();
        case "alpaca" -> InstructionRules.alpaca();
        default -> throw new IllegalArgumentException(at + ": preset must be self-instruct or alpaca, got '" + preset + "'");
      };
      return new InstructionRulesFilter(rules.withAsciiFirst(!config.path("allowNonAsciiFirst").asBoolean(false)));
    }
  }
}
