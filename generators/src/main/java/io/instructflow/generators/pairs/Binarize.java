package io.instructflow.generators.pairs;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turning rated candidates into preference pairs. A candidate's score is given (the simple input
 * shape's {@code score}), the mean of its aspect ratings, or its win rate in a pairwise tournament;
 * candidates without a score take no part. Which candidate is preferred to which is, by default, a
 * strictly higher score; a pairwise judge gives its own relation ({@link Beats}: won in both orders).
 *
 * <ul>
 *   <li>{@code best-vs-random} (the Zephyr / ultrafeedback_binarized recipe): chosen is a top-scored
 *       candidate; rejected is one of the candidates it beats, picked by a hash of (seed, prompt id).
 *   <li>{@code best-vs-worst}: chosen as above, rejected the lowest-scored of those it beats; when
 *       several share that score, the same seeded hash picks among them.
 *   <li>{@code all-pairs}: every ordered pair (winner, loser) of the relation whose margin is at least
 *       the minimum, in candidate order of the chosen, then of the rejected.
 * </ul>
 *
 * Ties at the top ({@link Ties}): with {@code keep-top} (the default, Argilla's binarization of
 * UltraFeedback) the chosen is one of the tied top candidates, picked by a hash of (seed, prompt id,
 * "chosen") rather than by input order (numpy's argmax, the reference, takes the first, which would
 * favour whichever model's file sorts first), and the rejected is strictly lower; with {@code drop} the
 * prompt is dropped ({@value #TIED_TOP}). A pair whose margin is under {@code minMargin} is not made.
 * Drops: {@value #TOO_FEW}, {@value #TIED_TOP}, {@value #ALL_TIED}, {@value #NO_WIN}, {@value #MARGIN}.
 */
public final class Binarize {
  private Binarize() {}

  public static final String TOO_FEW = "pairs.too_few_scored";
  public static final String TIED_TOP = "pairs.tied_top";
  /** Every scored candidate has the same score: there is nothing strictly lower to reject. */
  public static final String ALL_TIED = "pairs.all_tied";
  /** Pairwise: the chosen won no comparison in both orders, so no candidate is known to be worse. */
  public static final String NO_WIN = "pairs.no_decisive_win";
  public static final String MARGIN = "pairs.margin_below_min";

  /** The strategies, by their CLI names. */
  public enum Strategy {
    BEST_VS_RANDOM("best-vs-random"), BEST_VS_WORST("best-vs-worst"), ALL_PAIRS("all-pairs");

    private final String code;

    Strategy(String code) {
      this.code = code;
    }

    public String code() {
      return code;
    }

    public static Strategy fromCode(String code) {
      for (Strategy s : values()) {
        if (s.code.equals(code)) {
          return s;
        }
      }
      throw new IllegalArgumentException("unknown strategy '" + code + "', expected best-vs-random, best-vs-worst or all-pairs");
    }
  }

  /** What a tie at the top does, by the CLI names. */
  public enum Ties {
    /** Chosen is a top candidate (seeded pick among the tied), rejected one strictly lower. */
    KEEP_TOP("keep-top"),
    /** The prompt is dropped as {@value Binarize#TIED_TOP}. */
    DROP("drop");

    private final String code;

    Ties(String code) {
      this.code = code;
    }

    public String code() {
      return code;
    }

    public static Ties fromCode(String code) {
      for (Ties t : values()) {
        if (t.code.equals(code)) {
          return t;
        }
      }
      throw new IllegalArgumentException("unknown ties mode '" + code + "', expected keep-top or drop");
    }
  }

  /** Whether candidate {@code winner} is preferred to candidate {@code loser} (indexes into the scores). */
  @FunctionalInterface
  public interface Beats {
    boolean test(int winner, int loser);
  }

  /**
   * One pair, by candidate index.
   *
   * @param chosen index of the chosen candidate
   * @param rejected index of the rejected one
   * @param margin chosen score minus rejected score
   */
  public record Pick(int chosen, int rejected, double margin) {}

  /**
   * What became of a prompt's candidates.
   *
   * @param picks the pairs, empty when dropped
   * @param reason the drop reason, or null
   * @param evidence for a drop: scores, counts, the margin asked
   * @param tiedAtTop how many scored candidates shared the top score (1 without a tie)
   */
  public record Outcome(List<Pick> picks, String reason, Map<String, Object> evidence, int tiedAtTop) {}

  /** The mean of the present ratings, or null when there are none. */
  public static Double mean(Map<String, Double> ratings) {
    if (ratings == null || ratings.isEmpty()) {
      return null;
    }
    double s = 0;
    for (double v : ratings.values()) {
      s += v;
    }
    return s / ratings.size();
  }

  /** SplitMix64's finalizer. */
  static long mix(long x) {
    x = (x ^ (x >>> 30)) * 0xbf58476d1ce4e5b9L;
    x = (x ^ (x >>> 27)) * 0x94d049bb133111ebL;
    return x ^ (x >>> 31);
  }

  /** A seeded pick in [0, n) for a prompt. */
  static int pick(long seed, String promptId, int n) {
    long h = 0xcbf29ce484222325L;
    for (byte b : promptId.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
      h = (h ^ (b & 0xff)) * 0x100000001b3L;
    }
    return (int) Math.floorMod(mix(mix(seed) ^ h), (long) n);
  }

  /**
   * Applies a strategy, preferring a strictly higher score.
   *
   * @param scores one per candidate, null for an unscored one
   * @param minMargin the smallest margin a pair may have
   * @param seed run seed
   * @param promptId the prompt's id (for the seeded picks)
   * @param ties what a tie at the top does
   */
  public static Outcome apply(Strategy strategy, List<Double> scores, double minMargin, long seed, String promptId, Ties ties) {
    return apply(strategy, scores, minMargin, seed, promptId, ties, null);
  }

  /**
   * Applies a strategy.
   *
   * @param beats which candidate is preferred to which; null for a strictly higher score
   */
  public static Outcome apply(Strategy strategy, List<Double> scores, double minMargin, long seed, String promptId, Ties ties,
      Beats beats) {
    Beats by = beats != null ? beats : (i, j) -> scores.get(i) > scores.get(j);
    List<Integer> scored = new ArrayList<>();
    for (int i = 0; i < scores.size(); i++) {
      if (scores.get(i) != null) {
        scored.add(i);
      }
    }
    if (scored.size() < 2) {
      return drop(TOO_FEW, Map.of("candidates", scores.size(), "scored", scored.size()), 0);
    }
    double top = Double.NEGATIVE_INFINITY;
    for (int i : scored) {
      top = Math.max(top, scores.get(i));
    }
    List<Integer> best = new ArrayList<>();
    for (int i : scored) {
      if (scores.get(i) == top) {
        best.add(i);
      }
    }
    String none = beats == null ? ALL_TIED : NO_WIN;
    if (strategy == Strategy.ALL_PAIRS) {
      List<Pick> picks = new ArrayList<>();
      boolean any = false;
      for (int i : scored) {
        for (int j : scored) {
          if (i != j && by.test(i, j)) {
            any = true;
            double m = scores.get(i) - scores.get(j);
            if (m >= minMargin) {
              picks.add(new Pick(i, j, m));
            }
          }
        }
      }
      if (!any) {
        return drop(none, Map.of("scores", scores), best.size());
      }
      if (picks.isEmpty()) {
        return drop(MARGIN, Map.of("minMargin", minMargin, "scores", scores), best.size());
      }
      return new Outcome(picks, null, Map.of(), best.size());
    }
    if (best.size() > 1 && ties == Ties.DROP) {
      return drop(TIED_TOP, Map.of("top", top, "tied", best.size(), "scores", scores), best.size());
    }
    int chosen = best.size() == 1 ? best.get(0) : best.get(pick(seed, promptId + "\0chosen", best.size()));
    List<Integer> beaten = new ArrayList<>();
    for (int i : scored) {
      if (i != chosen && by.test(chosen, i)) {
        beaten.add(i);
      }
    }
    if (beaten.isEmpty()) {
      Map<String, Object> ev = new LinkedHashMap<>();
      ev.put("top", top);
      ev.put("tied", best.size());
      ev.put("chosen", chosen);
      ev.put("scores", scores);
      return drop(none, ev, best.size());
    }
    List<Integer> pool = new ArrayList<>();
    if (strategy == Strategy.BEST_VS_RANDOM) {
      pool = beaten;
    } else {
      double low = Double.POSITIVE_INFINITY;
      for (int i : beaten) {
        low = Math.min(low, scores.get(i));
      }
      for (int i : beaten) {
        if (scores.get(i) == low) {
          pool.add(i);
        }
      }
    }
    int rejected = pool.get(pick(seed, promptId, pool.size()));
    double m = scores.get(chosen) - scores.get(rejected);
    if (m < minMargin) {
      Map<String, Object> ev = new LinkedHashMap<>();
      ev.put("margin", m);
      ev.put("minMargin", minMargin);
      ev.put("scores", scores);
      return drop(MARGIN, ev, best.size());
    }
    return new Outcome(List.of(new Pick(chosen, rejected, m)), null, Map.of(), best.size());
  }

  private static Outcome drop(String reason, Map<String, Object> evidence, int tiedAtTop) {
    return new Outcome(List.of(), reason, new LinkedHashMap<>(evidence), tiedAtTop);
  }

  /** A score for humans: up to four decimals. */
  public static String format(double v) {
    return String.format(Locale.ROOT, "%.4f", v).replaceAll("0+$", "").replaceAll("\\.$", "");
  }
}
