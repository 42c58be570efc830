package io.instructflow.filters.rouge;

/**
 * An indexed text similar to a query.
 *
 * @param ordinal the indexed text's ordinal (its position in add order)
 * @param score its ROUGE-L F against the query, as {@link RougeL} computes it
 */
public record Match(int ordinal, double score) {
  /** Higher score first; among equal scores the earlier text. */
  public boolean betterThan(Match o) {
    return score > o.score || (score == o.score && ordinal < o.ordinal);
  }
}
