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
  /**
   * Filter id of the ROUGE-L rule in dropped verdicts and in filter chains. The one home of this id: the
   * {@code filter} chain, the {@code dedup} command and the Self-Instruct generator all write it.
   */
  public static final String FILTER = "rouge_l";
  /**
   * The rule's one reason: ROUGE-L F above the threshold against a pool text or an earlier kept text
   * (details: the score, the threshold and the match).
   */
  public static final String REASON = "rouge_l.near_duplicate";

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
    List<Integer> keptAt = new ArrayList<>();
    try (Stream s = open(pool)) {
      for (int i = 0; i < texts.size(); i++) {
        Drop d = s.decide(tokens(texts.get(i)));
        if (d == null) {
          keptAt.add(i);
        }
        out.add(d == null || d.inPool() ? d : new Drop(d.score(), keptAt.get(d.matched())));
      }
    }
    return out;
  }

  /** The tokens a text is compared by. */
  public List<String> tokens(String text) {
    return tokenizer.tokens(text);
  }

  /** The rule as a stream over texts in order, against {@code pool} and the texts it kept so far. */
  public Stream open(List<String> pool) {
    return new Stream(pool);
  }

  /**
   * The rule over texts one by one: what it keeps is the incremental index of the pool and the kept
   * texts ({@link RougeIndex}: their token ids and postings, per kept text).
   */
  public final class Stream implements java.io.Closeable {
    private final RougeIndex index = new RougeIndex(threshold, 256);
    private final int poolSize;
    private int kept;

    private Stream(List<String> pool) {
      for (String p : pool) {
        index.add(tokenizer.tokens(p));
      }
      index.refresh();
      poolSize = pool.size();
    }

    /**
     * Null when the text is kept (it joins the index), else why it was dropped: the match is a pool
     * text ({@link Drop#inPool}) or, by {@link Drop#matched}, the n-th text this stream kept (from 0).
     */
    public Drop decide(List<String> tokens) {
      Match m = index.best(tokens, index.size());
      if (m == null) {
        index.add(tokens);
        kept++;
        return null;
      }
      return new Drop(m.score(), m.ordinal() < poolSize ? -1 - m.ordinal() : m.ordinal() - poolSize);
    }

    /** Texts kept so far. */
    public int kept() {
      return kept;
    }

    /** Candidates the index proposed so far. */
    public long candidates() {
      return index.candidateCount();
    }

    /** LCS verifications so far. */
    public long verifications() {
      return index.verificationCount();
    }

    @Override
    public void close() {
      try {
        index.close();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }
}
