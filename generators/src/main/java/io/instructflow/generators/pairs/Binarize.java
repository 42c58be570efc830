package io.instructflow.generators.pairs;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Turning rated candidates into preference pairs. A candidate's score is given (the simple input
 * shape's {@code score}) or the mean of its aspect ratings; candidates without a score take no part.
 *
 * <ul>
 *   <li>{@code best-vs-random} (the Zephyr / ultrafeedback_binarized recipe): chosen is the highest
 *       score; rejected is one of the other scored candidates, picked by a hash of (seed, prompt id).
 *   <li>{@code best-vs-worst}: chosen is the highest score, rejected the lowest; when several share
 *       the lowest, the same seeded hash picks among them.
 *   <li>{@code all-pairs}: every ordered pair whose scores differ by at least the minimum margin (and
 *       by more than 0), in candidate order of the chosen, then of the rejected.
 * </ul>
 *
 * For the first two, several candidates sharing the top score drop the prompt ({@value #TIED_TOP}):
 * ties are not broken arbitrarily. A pair whose margin is under {@code minMargin} is not made. Drops:
 * {@value #TOO_FEW}, {@value #TIED_TOP}, {@value #MARGIN}.
 */
public final class Binarize {
  private Binarize() {}

  public static final String TOO_FEW = "pairs.too_few_scored";
  public static final String TIED_TOP = "pairs.tied_top";
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
   */
  public record Outcome(List<Pick> picks, String reason, Map<String, Object> evidence) {}

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
   * Applies a strategy.
   *
   * @param scores one per candidate, null for an unscored one
   * @param minMargin the smallest margin a pair may have
   * @param seed run seed
   * @param promptId the prompt's id (for the seeded picks)
   */
  public static Outcome apply(Strategy strategy, List<Double> scores, double minMargin, long seed, String promptId) {
    List<Integer> scored = new ArrayList<>();
    for (int i = 0; i < scores.size(); i++) {
      if (scores.get(i) != null) {
        scored.add(i);
      }
    }
    if (scored.size() < 2) {
      return drop(TOO_FEW, Map.of("candidates", scores.size(), "scored", scored.size()));
    }
    if (strategy == Strategy.ALL_PAIRS) {
      List<Pick> picks = new ArrayList<>();
      for (int i : scored) {
        for (int j : scored) {
          double m = scores.get(i) - scores.get(j);
          if (m > 0 && m >= minMargin) {
            picks.add(new Pick(i, j, m));
          }
        }
      }
      if (picks.isEmpty()) {
        return drop(MARGIN, Map.of("minMargin", minMargin, "scores", scores));
      }
      return new Outcome(picks, null, Map.of());
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
    if (best.size() > 1) {
      return drop(TIED_TOP, Map.of("top", top, "tied", best.size(), "scores", scores));
    }
    int chosen = best.get(0);
    List<Integer> pool = new ArrayList<>();
    if (strategy == Strategy.BEST_VS_RANDOM) {
      for (int i : scored) {
        if (i != chosen) {
          pool.add(i);
        }
      }
    } else {
      double low = Double.POSITIVE_INFINITY;
      for (int i : scored) {
        low = Math.min(low, scores.get(i));
      }
      for (int i : scored) {
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
      return drop(MARGIN, ev);
    }
    return new Outcome(List.of(new Pick(chosen, rejected, m)), null, Map.of());
  }

  private static Outcome drop(String reason, Map<String, Object> evidence) {
    return new Outcome(List.of(), reason, new LinkedHashMap<>(evidence));
  }

  /** A score for humans: up to four decimals. */
  public static String format(double v) {
    return String.format(Locale.ROOT, "%.4f", v).replaceAll("0+$", "").replaceAll("\\.$", "");
  }
}
