package io.instructflow.generators.score;

import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.PromptRef;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Instruction-Following Difficulty (Cherry LLM, Li et al. 2024): the perplexity of the response given the
 * instruction divided by the perplexity of the response alone. Below 1 the instruction helps the model
 * predict the response; at 1 or above it does not (the pair is likely misaligned).
 *
 * <p>Two score requests per record ({@link ScoredTurn}): the response after its context, and the response
 * alone (after BOS). In text format the context is the turns' text joined by blank lines, followed by a
 * blank line (the template {@value #TEMPLATE_ID}); in chat format it is the context's turns rendered by the
 * model's chat template with the assistant's turn opened. Nothing is truncated: a context longer than the
 * model's fails the request ({@code prompt_too_long}).
 */
public final class Ifd {
  private Ifd() {}

  /** Template id of the text format. */
  public static final String TEMPLATE_ID = "score/ifd-text@1";
  /** The text format, for its hash: the context, a blank line, the response. */
  public static final String TEMPLATE = "{{context}}\n\n{{response}}";

  /** The provenance reference of the text format. */
  public static PromptRef textTemplate() {
    return new PromptRef(TEMPLATE_ID, Ids.sha256Hex(TEMPLATE.getBytes(StandardCharsets.UTF_8)));
  }

  /**
   * The two requests for a turn with a response: {@code [conditioned, alone]}.
   *
   * @param id request id prefix
   */
  public static List<ScoreRequest> requests(String id, ScoredTurn t, boolean chat) {
    if (!t.hasResponse()) {
      throw new IllegalArgumentException("record " + id + " has no response to score");
    }
    ScoreRequest conditioned = chat ? ScoreRequest.chat(id + "/ifd/conditioned", t.context(), t.response())
        : ScoreRequest.text(id + "/ifd/conditioned", t.contextText() + "\n\n", t.response());
    return List.of(conditioned, ScoreRequest.text(id + "/ifd/alone", "", t.response()));
  }

  /**
   * IFD from the two results: {@code exp(-mean conditioned logprob) / exp(-mean alone logprob)}; NaN when
   * either failed or scored no token.
   */
  public static double value(ScoreResult conditioned, ScoreResult alone) {
    return conditioned.perplexity() / alone.perplexity();
  }
}
