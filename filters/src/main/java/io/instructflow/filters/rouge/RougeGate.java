package io.instructflow.filters.rouge;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The Self-Instruct ROUGE-L rule over a list in order: a text is dropped when its ROUGE-L F against a
 * pool text or an earlier kept text of the list is above the threshold; otherwise it is kept and
 * joins the comparison set. Pool texts always count as kept (they are the seeds, or an earlier run's
 * output), even when they resemble each other. Exact: every candidate the Lucene index returns is
 * verified with the real F ({@link RougeIndex}).
 *
 * {@code List<RougeGate.Drop> d = new RougeGate(0.7, Tokenizer.named("rouge", false)).apply(texts, pool);}
 */
public final class RougeGate {
  private final double threshold;
  private final Tokenizer tokenizer;

  /**
   * Why a text was dropped.
   *
   * @param score its ROUGE-L F against the best match
   * @param matched the best match: its index in the list when {@code >= 0}, else pool index
   *     {@code -1 - matched}
   */
  public record Drop(double score, int matched) {
    /** Whether the match is a pool text. */
    public boolean inPool() {
      return matched < 0;
    }

    /** The index of the match in the list or in the pool. */
    public int index() {
      return matched >= 0 ? matched : -1 - matched;
    }
  }

  /**
   * @param threshold drop at F above this, in (0, 1]
   * @param tokenizer how texts become tokens
   */
  public RougeGate(double threshold, Tokenizer tokenizer) {
    if (!(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("threshold must be in (0, 1], got " + threshold);
    }
    this.threshold = threshold;
    this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
  }

  /** For each text of {@code texts}, in order: null when kept, else why it was dropped. */
  public List<Drop> apply(List<String> texts, List<String> pool) {
    List<Drop> out = new ArrayList<>(texts.size());
    List<Integer> owner = new ArrayList<>();
    try (RougeIndex index = new RougeIndex(threshold, 256)) {
      for (int i = 0; i < pool.size(); i++) {
        index.add(tokenizer.tokens(pool.get(i)));
        owner.add(-1 - i);
      }
      index.refresh();
      for (int i = 0; i < texts.size(); i++) {
        List<String> tokens = tokenizer.tokens(texts.get(i));
        Match m = index.best(tokens, index.size());
        if (m != null) {
          out.add(new Drop(m.score(), owner.get(m.ordinal())));
        } else {
          index.add(tokens);
          owner.add(i);
          out.add(null);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out;
  }
}
