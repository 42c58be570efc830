package io.instructflow.generators.selfinstruct;

import io.instructflow.filters.rouge.Match;
import io.instructflow.filters.rouge.RougeIndex;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The Self-Instruct (or Alpaca) instruction filter as a preset for any list of instructions: the
 * {@link InstructionRules}, then the ROUGE-L rule against the instructions kept before each one in list
 * order, plus an optional pool of instructions that count as already kept (the seeds, say). This is the
 * decision the generator makes for the tasks of a round, applied to a dataset; the {@code filter}
 * command of the quality-filter issue exposes it as {@code --preset self-instruct}.
 */
public final class InstructionFilterPreset {
  private final InstructionRules rules;
  private final String tokenizer;
  private final double threshold;

  /**
   * @param rules the rules ({@link InstructionRules#selfInstruct()} or {@link InstructionRules#alpaca()})
   * @param tokenizer ROUGE-L tokenizer name ({@code rouge} or {@code unicode})
   * @param threshold drop at ROUGE-L F above this
   */
  public InstructionFilterPreset(InstructionRules rules, String tokenizer, double threshold) {
    this.rules = Objects.requireNonNull(rules, "rules");
    Tokenizer.named(tokenizer, false);
    this.tokenizer = tokenizer;
    if (!(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("threshold must be in (0, 1], got " + threshold);
    }
    this.threshold = threshold;
  }

  /** The published preset: {@code self-instruct} or {@code alpaca}, reference tokenizer, 0.7. */
  public static InstructionFilterPreset named(String preset) {
    return switch (preset) {
      case "self-instruct" -> new InstructionFilterPreset(InstructionRules.selfInstruct(), "rouge", 0.7);
      case "alpaca" -> new InstructionFilterPreset(InstructionRules.alpaca(), "rouge", 0.7);
      default -> throw new IllegalArgumentException("unknown preset '" + preset + "', expected self-instruct or alpaca");
    };
  }

  /**
   * The verdict of each instruction, in order. A ROUGE-L drop names the matched instruction as
   * {@code matched_index} (its position in {@code instructions}) or {@code matched_pool_index}.
   */
  public List<Verdict> apply(List<String> instructions, List<String> pool) {
    Tokenizer tok = Tokenizer.named(tokenizer, false);
    List<Verdict> out = new ArrayList<>(instructions.size());
    List<Integer> owner = new ArrayList<>();
    try (RougeIndex index = new RougeIndex(threshold, 256)) {
      for (int i = 0; i < pool.size(); i++) {
        index.add(tok.tokens(pool.get(i)));
        owner.add(-1 - i);
      }
      index.refresh();
      for (int i = 0; i < instructions.size(); i++) {
        String text = rules.normalize(instructions.get(i));
        Verdict v = rules.test(text);
        if (v instanceof Verdict.Kept) {
          List<String> tokens = tok.tokens(text);
          Match m = index.best(tokens, index.size());
          if (m != null) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("score", m.score());
            d.put("threshold", threshold);
            int o = owner.get(m.ordinal());
            d.put(o >= 0 ? "matched_index" : "matched_pool_index", o >= 0 ? o : -1 - o);
            v = new Verdict.Dropped(SelfInstruct.ROUGE_FILTER, SelfInstruct.ROUGE_REASON, d);
          } else {
            index.add(tokens);
            owner.add(i);
          }
        }
        out.add(v);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }
}
