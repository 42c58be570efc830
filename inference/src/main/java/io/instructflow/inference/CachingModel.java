package io.instructflow.inference;

import io.instructflow.schemas.ModelRef;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * A {@link LanguageModel} in front of a {@link ResponseCache}: requests with a stored result are
 * answered from it, the others go to the model, which is created only when the first such request
 * comes (a rerun whose requests are all cached never loads the model). A load that fails is not tried
 * again: every later request that needs the model fails at once with the same error (issue 21: a
 * broken model file is not reloaded for each batch).
 */
public final class CachingModel implements LanguageModel {
  private final ModelRef ref;
  private final Supplier<String> identity;
  private volatile String knownIdentity;
  private final Supplier<LanguageModel> model;
  private final ResponseCache cache;
  private final AtomicLong hits = new AtomicLong();
  private final AtomicLong misses = new AtomicLong();
  private volatile LanguageModel loaded;
  private RuntimeException failed;

  /**
   * A cache keyed by the model's {@link ModelRef} alone (its file hash, or backend and name).
   *
   * @param ref the model {@code model} will create
   * @param model creates the model on first use
   * @param cache the cache
   */
  public CachingModel(ModelRef ref, Supplier<LanguageModel> model, ResponseCache cache) {
    this(ref, () -> ResponseCache.identity(ref), model, cache);
  }

  /**
   * @param ref the model {@code model} will create, for provenance
   * @param identity the model's identity (see {@link LanguageModel#identity}), the cache's key for it;
   *     asked once, when the first request comes, without loading the model
   * @param model creates the model on first use
   * @param cache the cache
   */
  public CachingModel(ModelRef ref, Supplier<String> identity, Supplier<LanguageModel> model, ResponseCache cache) {
    this.ref = ref;
    this.identity = identity;
    this.model = model;
    this.cache = cache;
  }

  @Override
  public ModelRef ref() {
    return ref;
  }

  @Override
  public String identity() {
    String id = knownIdentity;
    if (id == null) {
      synchronized (this) {
        if (knownIdentity == null) {
          knownIdentity = identity.get();
        }
        id = knownIdentity;
      }
    }
    return id;
  }

  /** Whether creating the model failed (every later request that needs it fails at once). */
  public synchronized boolean failedToLoad() {
    return failed != null;
  }

  /** Requests answered from the cache so far. */
  public long hits() {
    return hits.get();
  }

  /** Requests sent to the model so far. */
  public long misses() {
    return misses.get();
  }

  @Override
  public List<GenerationResult> generate(List<GenerationRequest> batch) {
    GenerationResult[] out = new GenerationResult[batch.size()];
    String[] keys = new String[batch.size()];
    List<GenerationRequest> todo = new ArrayList<>();
    List<Integer> where = new ArrayList<>();
    String id = identity();
    for (int i = 0; i < batch.size(); i++) {
      GenerationRequest r = batch.get(i);
      keys[i] = ResponseCache.key(id, r);
      var hit = cache.get(keys[i], r.id());
      if (hit.isPresent()) {
        out[i] = hit.get();
        hits.incrementAndGet();
      } else {
        todo.add(r);
        where.add(i);
      }
    }
    if (!todo.isEmpty()) {
      misses.addAndGet(todo.size());
      // each result is stored as soon as its request finishes, not when the batch does
      List<GenerationResult> fresh = delegate().generate(todo, (j, r) -> cache.put(keys[where.get(j)], r));
      for (int j = 0; j < fresh.size(); j++) {
        out[where.get(j)] = fresh.get(j);
      }
    }
    return List.of(out);
  }

  /** Scores from the cache where it holds them, from the model otherwise (stored as they come). */
  @Override
  public List<ScoreResult> score(List<ScoreRequest> batch) {
    ScoreResult[] out = new ScoreResult[batch.size()];
    String[] keys = new String[batch.size()];
    List<ScoreRequest> todo = new ArrayList<>();
    List<Integer> where = new ArrayList<>();
    String id = identity();
    for (int i = 0; i < batch.size(); i++) {
      ScoreRequest r = batch.get(i);
      keys[i] = ResponseCache.key(id, r);
      var hit = cache.getScore(keys[i], r.id());
      if (hit.isPresent()) {
        out[i] = hit.get();
        hits.incrementAndGet();
      } else {
        todo.add(r);
        where.add(i);
      }
    }
    if (!todo.isEmpty()) {
      misses.addAndGet(todo.size());
      List<ScoreResult> fresh = delegate().score(todo);
      for (int j = 0; j < fresh.size(); j++) {
        cache.putScore(keys[where.get(j)], fresh.get(j));
        out[where.get(j)] = fresh.get(j);
      }
    }
    return List.of(out);
  }

  private LanguageModel delegate() {
    LanguageModel m = loaded;
    if (m == null) {
      synchronized (this) {
        if (loaded == null) {
          if (failed != null) {
            throw new IllegalStateException("the model failed to load before: " + failed.getMessage(), failed);
          }
          try {
            loaded = model.get();
          } catch (RuntimeException e) {
            failed = e;
            throw e;
          }
        }
        m = loaded;
      }
    }
    return m;
  }
}
