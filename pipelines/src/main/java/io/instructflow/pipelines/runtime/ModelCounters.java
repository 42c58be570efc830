package io.instructflow.pipelines.runtime;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.schemas.ModelRef;
import java.io.Serializable;
import java.util.List;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;

/**
 * The model counters of a model-calling step, under one namespace: {@code requests} (generation and
 * score requests, cached ones included), {@code cache_hits}, {@code failures} (failed requests),
 * {@code prompt_tokens} and {@code completion_tokens} (of answered generation requests),
 * {@code model_completion_tokens} (those the model generated, not the cache), plus {@code records}
 * (records the step emitted, for the summary's reconciliation). Tokens from the model (not the cache)
 * also feed the progress line.
 */
public final class ModelCounters implements Serializable {
  private static final long serialVersionUID = 1L;
  private final Counter requests;
  private final Counter cacheHits;
  private final Counter failures;
  private final Counter promptTokens;
  private final Counter completionTokens;
  private final Counter modelCompletionTokens;
  private final Counter records;

  /** Counters under {@code namespace}. */
  public ModelCounters(String namespace) {
    requests = Metrics.counter(namespace, "requests");
    cacheHits = Metrics.counter(namespace, "cache_hits");
    failures = Metrics.counter(namespace, "failures");
    promptTokens = Metrics.counter(namespace, "prompt_tokens");
    completionTokens = Metrics.counter(namespace, "completion_tokens");
    modelCompletionTokens = Metrics.counter(namespace, "model_completion_tokens");
    records = Metrics.counter(namespace, "records");
  }

  /** Counts one emitted record. */
  public void record() {
    records.inc();
  }

  /** Counts answered requests. */
  public void count(List<GenerationResult> results) {
    for (GenerationResult r : results) {
      requests.inc();
      if (r.cached()) {
        cacheHits.inc();
      }
      if (!r.ok()) {
        failures.inc();
      } else {
        promptTokens.inc(r.promptTokens());
        completionTokens.inc(r.completionTokens());
        if (!r.cached()) {
          modelCompletionTokens.inc(r.completionTokens());
          Progress.add(Progress.TOKENS, r.completionTokens());
        }
      }
    }
    Progress.add(Progress.GENERATED, results.size());
  }

  /** Counts answered score requests (a score result is never from the cache). */
  public void countScores(List<io.instructflow.inference.ScoreResult> results) {
    for (io.instructflow.inference.ScoreResult r : results) {
      requests.inc();
      if (!r.ok()) {
        failures.inc();
      }
    }
  }

  /** {@code model} with every batch it answers counted here. */
  public LanguageModel counting(LanguageModel model) {
    return new Counting(model, this);
  }

  private record Counting(LanguageModel delegate, ModelCounters counters) implements LanguageModel {
    @Override
    public ModelRef ref() {
      return delegate.ref();
    }

    @Override
    public String identity() {
      return delegate.identity();
    }

    @Override
    public List<GenerationResult> generate(List<GenerationRequest> batch) {
      List<GenerationResult> res = delegate.generate(batch);
      counters.count(res);
      return res;
    }

    @Override
    public List<io.instructflow.inference.ScoreResult> score(List<io.instructflow.inference.ScoreRequest> batch) {
      List<io.instructflow.inference.ScoreResult> res = delegate.score(batch);
      counters.countScores(res);
      return res;
    }
  }
}
