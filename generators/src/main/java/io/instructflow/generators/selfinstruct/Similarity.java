package io.instructflow.generators.selfinstruct;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * How a kept task compares with the pool it was checked against, as both references record it for
 * every task they keep: the ROUGE-L F of its most similar pool instructions, highest first, and the
 * mean F over the whole pool.
 *
 * @param mostSimilar up to {@link #TOP} pool instructions, by F descending (ties in pool order)
 * @param average the mean F over every instruction the task was compared with
 */
public record Similarity(List<Similar> mostSimilar, double average) implements Serializable {
  private static final long serialVersionUID = 1L;

  /** How many of the most similar instructions are kept (the references' 10). */
  public static final int TOP = 10;

  public Similarity {
    mostSimilar = List.copyOf(mostSimilar);
  }

  /**
   * One pool instruction and its ROUGE-L F with the task.
   *
   * @param instruction the pool instruction
   * @param score the F-measure
   */
  public record Similar(String instruction, double score) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Similar {
      Objects.requireNonNull(instruction, "instruction");
    }
  }

  /**
   * The most similar instructions as the references write them: a JSON object from instruction to
   * score, highest first (a repeated instruction appears once, with its first, highest score).
   */
  public Map<String, Double> asMap() {
    Map<String, Double> m = new LinkedHashMap<>();
    mostSimilar.forEach(x -> m.putIfAbsent(x.instruction(), x.score()));
    return m;
  }
}
