package io.instructflow.inference.llama;

import com.sun.jna.Pointer;
import io.instructflow.inference.Completion;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.llama.LlamaCppModel.Config;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Spreads a model's completions over its contexts: admission (at most {@code parallel + queue}
 * completions at a time, further callers block), the queue the contexts take from, one
 * {@link DecodeLoop} and thread per context as the schedule lays them out ({@link LlamaConfig}), and
 * the counts of their work.
 */
final class Scheduler {
  final LlamaApi api;
  final Pointer model;
  final Pointer vocab;
  final LlamaConfig settings;
  /** The model's id, for log lines. */
  final String modelId;
  /** Whether prompts reuse computed prefixes (asked for, and the model's memory allows partial removal). */
  final boolean reuse;
  private final Samplers samplers;
  private final List<DecodeLoop> loops = new ArrayList<>();
  final BlockingQueue<Job> pending = new LinkedBlockingQueue<>();
  private final Semaphore admission;
  volatile boolean closed;
  /** Test hook: runs on a decode thread before each step; what it throws is a failure of that thread. */
  volatile Runnable beforeStep;
  final AtomicLong promptTokens = new AtomicLong();
  final AtomicLong reusedTokens = new AtomicLong();
  final AtomicLong decodeSteps = new AtomicLong();
  final AtomicLong decodeTokens = new AtomicLong();
  final AtomicLong decodeNanos = new AtomicLong();

  /**
   * Makes every context (no thread runs yet: see {@link #start}). A context that cannot be made (out of
   * memory at the k-th) frees those made before it, then fails.
   *
   * @param spare KV streams per context kept for prefixes beyond its running sequences
   * @throws InvalidModelException when llama.cpp cannot make a context
   */
  Scheduler(LlamaApi api, Pointer model, Pointer vocab, LlamaConfig settings, boolean reuse, int spare,
      Samplers samplers, String modelId) throws InvalidModelException {
    this.api = api;
    this.model = model;
    this.vocab = vocab;
    this.settings = settings;
    this.reuse = reuse;
    this.samplers = samplers;
    this.modelId = modelId;
    Config config = settings.options();
    this.admission = new Semaphore(config.parallel() + config.queue());
    try {
      for (int i = 0; i < settings.contexts(); i++) {
        loops.add(new DecodeLoop(this, i, settings.seqsPerContext(), spare));
      }
    } catch (IllegalStateException e) {
      int made = loops.size();
      for (DecodeLoop w : loops) {
        w.freeContext();
      }
      loops.clear();
      throw new InvalidModelException(e.getMessage() + " (context " + (made + 1) + " of " + settings.contexts()
          + "; fewer --parallel or a smaller --ctx-per-slot needs less memory)");
    }
  }

  /** Starts one daemon thread per context. */
  void start() {
    for (DecodeLoop w : loops) {
      Thread t = new Thread(w, "llama-context-" + w.id);
      t.setDaemon(true);
      w.thread = t;
      t.start();
    }
  }

  /**
   * Queues one completion once an admission permit is free, blocking until one is. Interrupted while
   * waiting, it frees the completion's sampler (issue 21: not leaked), fails {@code done} and throws.
   */
  void submit(int[] prompt, SamplingParams params, Pointer sampler, CompletableFuture<Completion> done)
      throws InterruptedException {
    try {
      admission.acquire();
    } catch (InterruptedException e) {
      samplers.free(sampler);
      done.completeExceptionally(e);
      throw e;
    }
    pending.add(new Job(prompt, params, sampler, done, samplers, admission));
    if (closed) {
      failPending();
    }
  }

  /**
   * Marks the scheduler closed: true the first time, false after. Called under the registry's lock
   * ({@link ModelRegistry#retire}).
   */
  boolean closeOnce() {
    if (closed) {
      return false;
    }
    closed = true;
    return true;
  }

  /**
   * After {@link #closeOnce}: stops the decode threads (each fails its completions and frees its context)
   * and fails the completions still queued.
   *
   * @return whether every thread stopped within 60 s (a context still in a native call otherwise)
   */
  boolean stop() {
    for (DecodeLoop w : loops) {
      w.thread.interrupt();
    }
    boolean stopped = true;
    for (DecodeLoop w : loops) {
      try {
        w.thread.join(60_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      stopped &= !w.thread.isAlive();
    }
    failPending();
    return stopped;
  }

  /** Fails the completions still waiting for a sequence (the model is closed). */
  private void failPending() {
    Job j;
    while ((j = pending.poll()) != null) {
      j.done.completeExceptionally(new IllegalStateException("the model was closed"));
      j.release();
    }
  }
}
