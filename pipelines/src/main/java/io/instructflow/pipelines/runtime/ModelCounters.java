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
 * The model counters of a generating step, under one namespace: {@code requests}, {@code cache_hits},
 * {@code failures}, {@code completion_tokens}, plus {@code records} (records the step emitted, for the
 * summary's reconciliation). Tokens from the model (not the cache) also feed the progress line.
 */
public final class ModelCounters implements Serializable {
  private static final long serialVersionUID = 1L;
  private final Counter requests;
  private final Counter cacheHits;
  private final Counter failures;
  private final Counter completionTokens;
  private final Counter records;

  /** Counters under {@code namespace}. */
  public ModelCounters(String namespace) {
    requests = Metrics.counter(namespace, "requests");
    cacheHits = Metrics.counter(namespace, "cache_hits");
    failures = Metrics.counter(namespace, "failures");
    completionTokens = Metrics.counter(namespace, "completion_tokens");
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
        completionTokens.inc(r.completionTokens());
        if (!r.cached()) {
          Progress.add(Progress.TOKENS, r.completionTokens());
        }
      }
    }
    Progress.add(Progress.GENERATED, results.size());
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

    /** Scores pass through uncounted (the score command keeps its own counters). */
    @Override
    public List<io.instructflow.inference.ScoreResult> score(List<io.instructflow.inference.ScoreRequest> batch) {
      return delegate.score(batch);
    }
  }
}
