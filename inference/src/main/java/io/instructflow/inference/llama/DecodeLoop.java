package io.instructflow.inference.llama;

import static io.instructflow.inference.llama.LlamaCppModel.BATCH;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.llama.LlamaCppModel.Schedule;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One llama.cpp context and the thread that drives it: admits jobs, batches, decodes, samples.
 *
 * <p>The context has one KV stream per running sequence plus {@code spare} streams (under the invariant
 * schedule with reuse on, rounded up to the multiple of {@value #STEP_ROWS} its padded steps need
 * anyway). A finished job's stream keeps the cells of its prompt (under the invariant schedules, of its
 * whole {@value LlamaCppModel#BATCH}-token chunks only), so a later prompt that starts the same way is
 * admitted to the free stream holding the longest such prefix and computes only the rest; with no
 * prefix to reuse it takes an empty free stream, else the least recently used one. Under the batched
 * schedule a prompt may also copy the prefix from a running sequence (a whole-stream copy, waiting until
 * that sequence has computed it). How the jobs become {@code llama_decode} calls is the schedule's
 * ({@link DecodeSteps}); what a sampled token does to its job is here ({@link #accept}).
 */
final class DecodeLoop implements Runnable {
  private static final Logger LOG = LoggerFactory.getLogger(LlamaCppModel.class);

  /**
   * Rows of an invariant decoding step come in multiples of this: at least two keeps llamafile's tinyBLAS
   * on every product, four keeps the repacked Q4_0 kernels on their four-row path (docs/engine.md, Batch-invariant decoding).
   */
  static final int STEP_ROWS = 4;

  static int roundUp(int n, int multiple) {
    return (n + multiple - 1) / multiple * multiple;
  }

  /** Fewest prompt tokens worth a whole-stream copy from a running sequence (batched schedule). */
  static final int MIN_COPY = 32;

  /** Tokens at the start of {@code prompt} also at the start of {@code held}'s first {@code heldLen}. */
  static int commonPrefix(int[] prompt, int[] held, int heldLen) {
    if (held == null) {
      return 0;
    }
    int n = Math.min(prompt.length, Math.min(held.length, heldLen));
    int i = 0;
    while (i < n && prompt[i] == held[i]) {
      i++;
    }
    return i;
  }

  /**
   * Test hook: whether context {@code k} (0-based) of the next instance is asked for with an impossible
   * setting, so that llama.cpp refuses to make it.
   */
  static volatile java.util.function.IntPredicate impossibleContext = k -> false;

  /** Its model's queue, closed flag and counts. */
  final Scheduler scheduler;
  final LlamaApi api;
  private final Pointer vocab;
  private final LlamaConfig settings;
  /** Whether prompts reuse computed prefixes. */
  private final boolean reuse;
  /** The model's id, for log lines. */
  private final String modelId;
  final int id;
  Thread thread;
  private final int seqs;
  /** Streams jobs run in and prefixes are kept in: the running sequences' plus the spare ones. */
  final int streams;
  /** Invariant schedules: prefixes are whole chunks, so a prompt's chunks are those it has alone. */
  private final boolean aligned;
  /**
   * {@link Schedule#INVARIANT}: decoding steps apart from prompt chunks, padded to {@value #STEP_ROWS}-row
   * multiples; the context's streams are rounded up to a multiple of {@value #STEP_ROWS}. With reuse on
   * they are all {@link #streams} and keep prefixes; with it off the up to {@value #STEP_ROWS}{@code - 1}
   * beyond the sequences only ever hold a padding row's cell during one step.
   */
  private final boolean padded;
  /** The token a padding row carries (any valid token: its row's results are never read). */
  final int padToken;
  private final int[][] held;
  private final int[] heldLen;
  private final long[] lastUse;
  private final boolean[] busy;
  private long tick;
  Pointer ctx;
  Pointer memory;
  /** This context's persistent CPU threads (null with one thread per context, or {@code -Dinstructflow.threadPool=off}). */
  private final CpuThreadPool pool;
  private final Memory tokens = new Memory(4L * BATCH);
  private final Memory pos = new Memory(4L * BATCH);
  private final Memory nSeq = new Memory(4L * BATCH);
  private final Memory seqIds = new Memory(4L * BATCH);
  private final Memory seqPtrs = new Memory((long) Native.POINTER_SIZE * BATCH);
  private final Memory logits = new Memory(BATCH);
  final LlamaApi.Batch batch = new LlamaApi.Batch();
  private final byte[] pieceBuf = new byte[256];
  /** How this context's schedule turns running jobs into {@code llama_decode} calls. */
  private final DecodeSteps steps;

  DecodeLoop(Scheduler scheduler, int id, int seqs, int spare) {
    this.scheduler = scheduler;
    this.api = scheduler.api;
    this.vocab = scheduler.vocab;
    this.settings = scheduler.settings;
    this.reuse = scheduler.reuse;
    this.modelId = scheduler.modelId;
    this.id = id;
    this.seqs = seqs;
    this.aligned = settings.options().schedule() != Schedule.BATCHED;
    this.padded = settings.options().schedule() == Schedule.INVARIANT;
    int allStreams = padded ? roundUp(seqs + spare, STEP_ROWS) : seqs + spare;
    // the padded schedule's context has a multiple of STEP_ROWS streams whatever it keeps; with reuse on,
    // the ones beyond the sequences and spares keep prefixes too, at no extra memory
    this.streams = reuse ? allStreams : seqs + spare;
    this.padToken = Math.max(0, api.llama_vocab_bos(vocab));
    this.held = new int[streams][];
    this.heldLen = new int[streams];
    this.lastUse = new long[streams];
    this.busy = new boolean[streams];
    LlamaApi.ContextParams cp = api.llama_context_default_params();
    cp.n_ctx = settings.contextPerSlot() * allStreams;
    cp.n_seq_max = allStreams;
    cp.n_batch = BATCH;
    cp.n_ubatch = BATCH;
    cp.n_threads = settings.threadsPerContext();
    cp.n_threads_batch = settings.threadsPerContext();
    cp.flash_attn_type = settings.flashAttentionType();
    cp.no_perf = 1;
    // one KV stream per sequence: a sequence's attention never spans another's cells, and a stream's
    // cell i holds position i, with or without a reused prefix
    cp.kv_unified = (byte) (allStreams == 1 ? 1 : 0);
    if (impossibleContext.test(id)) {
      cp.n_seq_max = 100_000;
    }
    this.ctx = api.llama_init_from_model(scheduler.model, cp);
    if (ctx == null) {
      throw new IllegalStateException("llama.cpp could not create a context of " + cp.n_ctx + " tokens");
    }
    NativeCounts.NATIVE.contextsMade.incrementAndGet();
    try {
      this.pool = CpuThreadPool.create(settings.threadsPerContext());
    } catch (RuntimeException | Error e) {
      freeContext();
      throw e;
    }
    if (pool != null) {
      pool.attach(api, ctx);
    }
    this.memory = api.llama_get_memory(ctx);
    for (int i = 0; i < BATCH; i++) {
      nSeq.setInt(4L * i, 1);
      seqPtrs.setPointer((long) Native.POINTER_SIZE * i, seqIds.share(4L * i));
    }
    batch.token = tokens;
    batch.embd = Pointer.NULL;
    batch.pos = pos;
    batch.n_seq_id = nSeq;
    batch.seq_id = seqPtrs;
    batch.logits = logits;
    this.steps = DecodeSteps.of(settings.options().schedule(), this);
  }

  void freeContext() {
    if (ctx != null) {
      api.llama_free(ctx);
      NativeCounts.NATIVE.contextsFreed.incrementAndGet();
      ctx = null;
      memory = null;
    }
    // after its context: a pool is freed only once nothing can compute on it
    if (pool != null) {
      pool.close();
    }
  }

  /**
   * Decodes until the model is closed. Whatever a step throws (a native error, an out-of-memory error)
   * fails the jobs in hand, which free their samplers and permits, clears the context's cells, and the
   * thread goes on with the next jobs; when the thread ends for any reason its jobs fail and its context
   * is freed (issue 21: a dead thread never leaves a caller waiting).
   */
  @Override
  public void run() {
    List<Job> active = new ArrayList<>();
    Job taking = null;
    try {
      while (!scheduler.closed) {
        try {
          while (active.size() < seqs) {
            Job j = active.isEmpty() ? scheduler.pending.take() : scheduler.pending.poll();
            if (j == null) {
              break;
            }
            taking = j;
            admit(j, active);
            active.add(j);
            taking = null;
          }
          Runnable hook = scheduler.beforeStep;
          if (hook != null) {
            hook.run();
          }
          // tokens in sequence-id order: with one KV stream per sequence, llama.cpp splits a batch whose
          // sequences are out of order into more micro-batches (more graph runs) than one in order
          active.sort(Job.BY_SEQ);
          steps.step(active);
          startWaiting(active);
          for (int i = active.size() - 1; i >= 0; i--) {
            Job j = active.get(i);
            if (j.done.isDone()) {
              release(j, active);
              active.remove(i);
            }
          }
        } catch (InterruptedException e) {
          return;
        } catch (Throwable t) {
          LOG.warn("{}: {} failed, its {} completion(s) with it: {}", modelId, this, active.size(), t.toString());
          if (taking != null) {
            active.add(taking);
            taking = null;
          }
          failAll(active, "llama.cpp " + this + " failed: " + t);
          api.llama_memory_seq_rm(memory, -1, -1, -1);
          Arrays.fill(held, null);
          Arrays.fill(heldLen, 0);
          Arrays.fill(busy, false);
        }
      }
    } finally {
      if (taking != null) {
        active.add(taking);
      }
      failAll(active, scheduler.closed ? "the model was closed" : "llama.cpp " + this + " stopped");
      freeContext();
    }
  }

  private void failAll(List<Job> jobs, String why) {
    for (Job j : jobs) {
      j.done.completeExceptionally(new IllegalStateException(why));
      j.release();
    }
    jobs.clear();
  }

  /** The prompt tokens a job may take from cells holding {@code heldLen} tokens of {@code held}. */
  private int reusable(int[] prompt, int[] held, int heldLen) {
    // the last prompt token is always computed: its logits give the first completion token
    int n = Math.min(commonPrefix(prompt, held, heldLen), prompt.length - 1);
    return aligned ? n / BATCH * BATCH : n;
  }

  /** Gives a job a free stream, and the prefix it reuses there or will copy from a running job. */
  private void admit(Job j, List<Job> active) {
    int best = -1;
    int bestReuse = -1;
    int lru = -1;
    for (int s = 0; s < streams; s++) {
      if (busy[s]) {
        continue;
      }
      int r = reuse ? reusable(j.prompt, held[s], heldLen[s]) : 0;
      if (r > bestReuse || (r == bestReuse && rather(s, best))) {
        best = s;
        bestReuse = r;
      }
      if (lru < 0 || lastUse[s] < lastUse[lru]) {
        lru = s;
      }
    }
    Job source = null;
    int sourceReuse = 0;
    if (reuse && !aligned) {
      for (Job a : active) {
        int r = a.source == null ? reusable(j.prompt, a.prompt, a.prompt.length) : 0;
        if (r > sourceReuse) {
          source = a;
          sourceReuse = r;
        }
      }
    }
    scheduler.promptTokens.addAndGet(j.prompt.length);
    if (source != null && sourceReuse >= bestReuse + MIN_COPY) {
      // overwrite the least recently used stream, keeping the best match for a later prompt
      take(j, lru);
      j.source = source;
      j.need = sourceReuse;
      startWaiting(List.of(j));
    } else {
      take(j, best);
      if (bestReuse > 0 && api.llama_memory_seq_rm(memory, best, bestReuse, -1) != 0) {
        j.fed = bestReuse;
        scheduler.reusedTokens.addAndGet(bestReuse);
      } else {
        api.llama_memory_seq_rm(memory, best, -1, -1);
      }
    }
  }

  /**
   * Between two free streams offering a prompt the same reuse: one holding no prefix before one that
   * holds one (a prompt with nothing to reuse, such as one shorter than a chunk, then evicts no prefix
   * while an empty stream is left), else the least recently used.
   */
  private boolean rather(int s, int than) {
    if ((heldLen[s] == 0) != (heldLen[than] == 0)) {
      return heldLen[s] == 0;
    }
    return lastUse[s] < lastUse[than];
  }

  private void take(Job j, int s) {
    busy[s] = true;
    lastUse[s] = ++tick;
    held[s] = null;
    heldLen[s] = 0;
    j.seq = s;
  }

  /** Jobs waiting for a running job's prefix: those whose prefix is now computed copy it and start. */
  private void startWaiting(List<Job> jobs) {
    for (Job w : jobs) {
      Job a = w.source;
      if (a == null || Math.min(a.fed, a.prompt.length) < w.need || a.done.isCompletedExceptionally()) {
        continue;
      }
      // across KV streams llama.cpp copies whole streams, at the start of the next llama_decode
      api.llama_memory_seq_cp(memory, a.seq, w.seq, -1, -1);
      if (api.llama_memory_seq_rm(memory, w.seq, w.need, -1) != 0) {
        w.fed = w.need;
        scheduler.reusedTokens.addAndGet(w.need);
      } else {
        api.llama_memory_seq_rm(memory, w.seq, -1, -1);
      }
      w.source = null;
    }
  }

  /** Frees a finished job's stream, keeping its prompt's reusable prefix there. */
  private void release(Job j, List<Job> active) {
    for (Job w : active) {
      if (w.source == j) {
        // its source failed before computing the prefix: compute it alone
        w.source = null;
        api.llama_memory_seq_rm(memory, w.seq, -1, -1);
      }
    }
    int keep = reuse && !j.done.isCompletedExceptionally()
        ? (aligned ? j.prompt.length / BATCH * BATCH : j.prompt.length) : 0;
    if (keep > 0 && api.llama_memory_seq_rm(memory, j.seq, keep, -1) != 0) {
      held[j.seq] = j.prompt;
      heldLen[j.seq] = keep;
    } else {
      api.llama_memory_seq_rm(memory, j.seq, -1, -1);
    }
    lastUse[j.seq] = ++tick;
    busy[j.seq] = false;
    j.release();
  }


  /** Runs {@code llama_decode} on the batch as filled; null when it succeeded, else why not. */
  String decodeFailure() {
    int rc;
    try {
      rc = api.llama_decode(ctx, batch);
    } catch (RuntimeException | Error e) {
      return "llama_decode failed: " + e;
    }
    return rc == 0 ? null : "llama_decode returned " + rc + (rc == 1 ? " (no room in the KV cache)" : "");
  }


  int put(int n, int token, int position, int seq, boolean output) {
    tokens.setInt(4L * n, token);
    pos.setInt(4L * n, position);
    seqIds.setInt(4L * n, seq);
    logits.setByte(n, (byte) (output ? 1 : 0));
    return n + 1;
  }

  void accept(Job j, int token) {
    if (api.llama_vocab_is_eog(vocab, token) != 0) {
      finish(j, FinishReason.STOP, null);
      return;
    }
    byte[] piece = LlamaCppModel.piece(api, vocab, token, pieceBuf);
    j.text.write(piece, 0, piece.length);
    j.generated++;
    j.last = token;
    if (!j.params.stop().isEmpty()) {
      String s = j.text.toString(StandardCharsets.UTF_8);
      int cut = -1;
      for (String stop : j.params.stop()) {
        int at = s.indexOf(stop);
        if (at >= 0 && (cut < 0 || at < cut)) {
          cut = at;
        }
      }
      if (cut >= 0) {
        finish(j, FinishReason.STOP, s.substring(0, cut));
        return;
      }
    }
    if (j.generated >= j.params.maxTokens()) {
      finish(j, FinishReason.LENGTH, null);
    }
  }

  private void finish(Job j, FinishReason reason, String text) {
    String t = text != null ? text : j.text.toString(StandardCharsets.UTF_8);
    j.done.complete(new Completion(t, reason, j.generated));
  }

  @Override
  public String toString() {
    return "context " + id + " (" + seqs + " sequences)";
  }
}
