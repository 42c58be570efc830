package io.instructflow.generators.pairs;

import java.io.Serializable;
import java.util.Map;

/**
 * One candidate answer to a prompt.
 *
 * @param text the answer
 * @param model who wrote it (a model id, or the source file's name when the input does not say)
 * @param score a score given with the input (used as is), or null
 * @param ratings aspect ratings (1–5) from the input or from the judge; empty when unrated
 * @param info where it came from: the input location, or the model, sampling parameters and seed that
 *     made it; the judge's model, template and reply when it was rated here
 */
public record Candidate(String text, String model, Double score, Map<String, Double> ratings, Map<String, Object> info)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  public Candidate {
    ratings = ratings == null ? Map.of() : new java.util.TreeMap<>(ratings);
    info = info == null ? Map.of() : new java.util.TreeMap<>(info);
  }

  /** The score used for ranking: the given score, else the mean of the ratings, else null. */
  public Double rank() {
    return score != null ? score : Binarize.mean(ratings);
  }

  /** A copy with ratings (and what rated it) added. */
  public Candidate rated(Map<String, Double> r, Map<String, Object> judgeInfo) {
    Map<String, Object> i = new java.util.TreeMap<>(info);
    i.putAll(judgeInfo);
    return new Candidate(text, model, score, r, i);
  }

  /** A copy with more info (what judged it), its ratings kept. */
  public Candidate withInfo(Map<String, Object> more) {
    Map<String, Object> i = new java.util.TreeMap<>(info);
    i.putAll(more);
    return new Candidate(text, model, score, ratings, i);
  }
}
