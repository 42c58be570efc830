package io.instructflow.inference;

import io.instructflow.schemas.ModelRef;
import java.util.List;

/**
 * A language model that completes batches of requests.
 *
 * <p>Contract:
 * <ul>
 *   <li>{@link #generate} returns one result per request, in request order. A request that cannot be
 *       served (prompt too long, no chat template, the backend refusing it or failing after retries)
 *       gets a failed {@link GenerationResult}; the call itself throws only when the model is unusable.
 *   <li>Implementations are thread-safe: pipelines call one shared instance from many threads, and a
 *       backend bounds its own concurrency (callers block when it is saturated).
 *   <li>With temperature 0 the text of a completion depends only on the request, not on the batch it
 *       came in or on which slot or thread served it.
 * </ul>
 */
public interface LanguageModel {
  /** The model's identity for provenance and cache keys. */
  ModelRef ref();

  /**
   * What the model's answers depend on, as one string: the response cache keys on it, resumable runs
   * compare it, and {@code serve} reports it in {@code /v1/models}. Two models with the same identity
   * must answer the same request the same way. Default: the file's SHA-256, or backend and name.
   */
  default String identity() {
    return ResponseCache.identity(ref());
  }

  /** Completes every request of the batch. */
  List<GenerationResult> generate(List<GenerationRequest> batch);

  /**
   * Completes every request of the batch, telling {@code whenDone} (request index, result) as each
   * request finishes, possibly from another thread and out of order. A caller that persists results
   * there (the response cache) keeps every finished request even if the process dies mid-batch.
   * Backends that cannot report early report each result after the whole batch.
   */
  default List<GenerationResult> generate(List<GenerationRequest> batch,
      java.util.function.BiConsumer<Integer, GenerationResult> whenDone) {
    List<GenerationResult> out = generate(batch);
    for (int i = 0; i < out.size(); i++) {
      whenDone.accept(i, out.get(i));
    }
    return out;
  }

  /**
   * Scores the continuation of every request of the batch: the log-probability of each of its tokens given
   * the context, nothing sampled (issue 22). One result per request, in request order; a request that
   * cannot be scored gets a failed {@link ScoreResult}. Default: every request fails, for backends that
   * cannot see a model's token probabilities.
   */
  default List<ScoreResult> score(List<ScoreRequest> batch) {
    List<ScoreResult> out = new java.util.ArrayList<>(batch.size());
    for (ScoreRequest r : batch) {
      out.add(ScoreResult.failed(r.id(), GenerationResult.ErrorKind.REJECTED,
          ref().backend() + " model " + ref().id() + " does not report token log-probabilities"));
    }
    return out;
  }
}
