package io.instructflow.generators.score;

import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.schemas.Message;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Deita-style scores (Liu et al. 2024): a scorer prompt asks for a rating from 1 to 6 and the score is the
 * expectation of the rating under the model's probabilities of the six answers, renormalized over them,
 * rather than a sampled and parsed reply.
 *
 * <p>Each of the six answers is a score request of its own after the same prompt (shared-prefix reuse makes
 * the five repeats cheap), so an answer that tokenizes into more than one token, or into a token merged with
 * the prompt's last characters, is still scored exactly; top-k alternatives of one position would miss an
 * answer outside the top k. In text format the prompt is the rendered template (ending in "Score:") and the
 * answers are {@code " 1"}..{@code " 6"}; in chat format the rendered template is the user turn and the
 * answers {@code "1"}..{@code "6"} open the assistant's turn.
 */
public final class DeitaScore {
  private DeitaScore() {}

  /** The ratings. */
  public static final int MIN = 1;
  public static final int MAX = 6;

  /** Built-in template ids. */
  public static final String COMPLEXITY_TEMPLATE = "score/deita-complexity@1";
  public static final String QUALITY_TEMPLATE = "score/deita-quality@1";

  /** The six requests, rating 1 first, for the template filled with {@code values}. */
  public static List<ScoreRequest> requests(String id, PromptTemplate t, Map<String, String> values, boolean chat) {
    String prompt = t.render(values);
    List<ScoreRequest> out = new ArrayList<>(MAX);
    for (int i = MIN; i <= MAX; i++) {
      String rid = id + "/" + i;
      out.add(chat ? ScoreRequest.chat(rid, List.of(new Message("user", prompt)), Integer.toString(i))
          : ScoreRequest.text(rid, prompt, " " + i));
    }
    return out;
  }

  /** The six ratings' probabilities renormalized over them, from their log-probabilities (rating 1 first). */
  public static double[] probabilities(double[] logprobs) {
    if (logprobs.length != MAX) {
      throw new IllegalArgumentException("expected " + MAX + " log-probabilities, got " + logprobs.length);
    }
    double max = Double.NEGATIVE_INFINITY;
    for (double lp : logprobs) {
      max = Math.max(max, lp);
    }
    double[] p = new double[MAX];
    double sum = 0;
    for (int i = 0; i < MAX; i++) {
      p[i] = Math.exp(logprobs[i] - max);
      sum += p[i];
    }
    for (int i = 0; i < MAX; i++) {
      p[i] /= sum;
    }
    return p;
  }

  /** The expected rating {@code Σ p(i)·i} over the renormalized probabilities, in [1, 6]. */
  public static double expectation(double[] logprobs) {
    double[] p = probabilities(logprobs);
    double e = 0;
    for (int i = 0; i < MAX; i++) {
      e += p[i] * (i + MIN);
    }
    return e;
  }

  /** The log-probability of each answer from its result (each must have succeeded). */
  public static double[] logprobs(List<ScoreResult> six) {
    double[] lp = new double[MAX];
    for (int i = 0; i < MAX; i++) {
      lp[i] = six.get(i).logprob();
    }
    return lp;
  }
}
