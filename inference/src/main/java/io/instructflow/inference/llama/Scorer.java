package io.instructflow.inference.llama;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import io.instructflow.inference.ScoreResult;
import io.instructflow.inference.ScoreResult.Alternative;
import io.instructflow.inference.ScoreResult.TokenLogprob;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Scores given continuations on one llama.cpp context of its own (issue 22): every token of a sequence is
 * fed, logits are asked for at the positions that predict a continuation token, and each token's
 * log-probability is the log-softmax of those logits, computed in double precision. Nothing is sampled.
 *
 * <p>Several requests are decoded together, one KV stream each (as the batched schedule does), in calls of
 * at most {@value LlamaCppModel#BATCH} tokens. Within one call a stream keeps the cells of the last sequence
 * it scored, and a request that starts with the same tokens computes only the rest (shared-prefix reuse: the
 * IFD pair of a record, a fixed scorer rubric); a new call starts with nothing held. The position just before the first scored token is always computed
 * again, since its logits are needed. Not thread-safe: the model serializes calls.
 */
final class Scorer implements AutoCloseable {
  /** One request, tokenized: {@code tokens[split..]} are scored. */
  record Item(String id, int[] tokens, int split, int top) {}

  private final LlamaApi api;
  private final int streams;
  private final int nVocab;
  private final boolean reuse;
  private final IntFunction<byte[]> pieces;
  private Pointer ctx;
  private final Pointer memory;
  private final CpuThreadPool pool;
  private final int[][] held;
  private final int[] heldLen;
  private final long[] lastUse;
  private long tick;
  private long reusedTokens;
  private long computedTokens;
  private final Memory tokens = new Memory(4L * LlamaCppModel.BATCH);
  private final Memory pos = new Memory(4L * LlamaCppModel.BATCH);
  private final Memory nSeq = new Memory(4L * LlamaCppModel.BATCH);
  private final Memory seqIds = new Memory(4L * LlamaCppModel.BATCH);
  private final Memory seqPtrs = new Memory((long) Native.POINTER_SIZE * LlamaCppModel.BATCH);
  private final Memory logits = new Memory(LlamaCppModel.BATCH);
  private final LlamaApi.Batch batch = new LlamaApi.Batch();

  /**
   * @param streams sequences decoded together (and prefixes kept)
   * @param perStream context tokens per sequence
   * @param pieces a token's UTF-8 bytes
   */
  Scorer(LlamaApi api, Pointer model, Pointer vocab, int streams, int perStream, int threads, int flashType,
      boolean reuse, IntFunction<byte[]> pieces) {
    this.api = api;
    this.streams = streams;
    this.reuse = reuse;
    this.pieces = pieces;
    this.nVocab = api.llama_vocab_n_tokens(vocab);
    this.held = new int[streams][];
    this.heldLen = new int[streams];
    this.lastUse = new long[streams];
    LlamaApi.ContextParams cp = api.llama_context_default_params();
    cp.n_ctx = perStream * streams;
    cp.n_seq_max = streams;
    cp.n_batch = LlamaCppModel.BATCH;
    cp.n_ubatch = LlamaCppModel.BATCH;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.flash_attn_type = flashType;
    cp.no_perf = 1;
    cp.kv_unified = (byte) (streams == 1 ? 1 : 0);
    this.ctx = api.llama_init_from_model(model, cp);
    if (ctx == null) {
      throw new IllegalStateException("llama.cpp could not create a scoring context of " + cp.n_ctx + " tokens");
    }
    NativeCounts.NATIVE.contextsMade.incrementAndGet();
    CpuThreadPool p;
    try {
      p = CpuThreadPool.create(threads);
    } catch (RuntimeException | Error e) {
      api.llama_free(ctx);
      NativeCounts.NATIVE.contextsFreed.incrementAndGet();
      ctx = null;
      throw e;
    }
    this.pool = p;
    if (pool != null) {
      pool.attach(api, ctx);
    }
    this.memory = api.llama_get_memory(ctx);
    for (int i = 0; i < LlamaCppModel.BATCH; i++) {
      nSeq.setInt(4L * i, 1);
      seqPtrs.setPointer((long) Native.POINTER_SIZE * i, seqIds.share(4L * i));
    }
    batch.token = tokens;
    batch.embd = Pointer.NULL;
    batch.pos = pos;
    batch.n_seq_id = nSeq;
    batch.seq_id = seqPtrs;
    batch.logits = logits;
  }

  /** Prompt tokens whose cells came from a kept prefix, and tokens computed, since this scorer was made. */
  long[] counts() {
    return new long[] {reusedTokens, computedTokens};
  }

  /** A sequence in flight. */
  private static final class Running {
    final int index;
    final Item item;
    final int seq;
    int fed;
    final TokenLogprob[] out;

    Running(int index, Item item, int seq) {
      this.index = index;
      this.item = item;
      this.seq = seq;
      this.out = new TokenLogprob[item.tokens().length - item.split()];
    }

    /** The last position whose logits are needed (the one before the last token). */
    int end() {
      return item.tokens().length - 1;
    }
  }

  /**
   * Scores the items, results in item order. Items with nothing to score must not be passed.
   *
   * @throws IllegalStateException when llama.cpp fails a decode (the caller fails the whole batch)
   */
  ScoreResult[] score(List<Item> items) {
    // each call starts from an empty memory and unused streams (issue 22): which cells are reused, which
    // stream takes which request and where new cells go, and so the shapes of the decodes and the last bits
    // of the logits, then depend on this call's requests alone, not on the calls before it, so a batch
    // scores the same on every run and runner (the score command batches by input position); a prefix is
    // still shared by the requests of one call
    api.llama_memory_clear(memory, (byte) 0);
    for (int s = 0; s < streams; s++) {
      held[s] = null;
      heldLen[s] = 0;
      lastUse[s] = 0;
    }
    tick = 0;
    ScoreResult[] results = new ScoreResult[items.size()];
    Deque<Integer> queue = new ArrayDeque<>();
    for (int i = 0; i < items.size(); i++) {
      queue.add(i);
    }
    List<Running> active = new ArrayList<>();
    boolean[] busy = new boolean[streams];
    int[] rowOf = new int[LlamaCppModel.BATCH];
    Running[] runOf = new Running[LlamaCppModel.BATCH];
    float[] row = new float[nVocab];
    try {
      while (!queue.isEmpty() || !active.isEmpty()) {
        while (active.size() < streams && !queue.isEmpty()) {
          Integer next = null;
          for (Integer i : queue) {
            if (!waitsForRunning(items.get(i), active, busy)) {
              next = i;
              break;
            }
          }
          if (next == null) {
            break;
          }
          queue.remove(next);
          active.add(admit(next, items.get(next), busy));
        }
        active.sort((a, b) -> Integer.compare(a.seq, b.seq));
        int n = 0;
        int left = active.size();
        for (Running r : active) {
          int share = Math.max(1, (LlamaCppModel.BATCH - n) / left--);
          int take = Math.min(share, r.end() - r.fed);
          for (int k = 0; k < take; k++, r.fed++, n++) {
            boolean output = r.fed >= r.item.split() - 1;
            tokens.setInt(4L * n, r.item.tokens()[r.fed]);
            pos.setInt(4L * n, r.fed);
            seqIds.setInt(4L * n, r.seq);
            logits.setByte(n, (byte) (output ? 1 : 0));
            runOf[n] = output ? r : null;
            rowOf[n] = r.fed;
          }
        }
        batch.n_tokens = n;
        int rc = api.llama_decode(ctx, batch);
        if (rc != 0) {
          throw new IllegalStateException("llama_decode returned " + rc + (rc == 1 ? " (no room in the KV cache)" : ""));
        }
        computedTokens += n;
        for (int k = 0; k < n; k++) {
          Running r = runOf[k];
          if (r == null) {
            continue;
          }
          api.llama_get_logits_ith(ctx, k).read(0, row, 0, nVocab);
          int position = rowOf[k];
          int next = r.item.tokens()[position + 1];
          r.out[position + 1 - r.item.split()] = logprob(row, next, r.item.top());
        }
        for (int a = active.size() - 1; a >= 0; a--) {
          Running r = active.get(a);
          if (r.fed >= r.end()) {
            results[r.index] = ScoreResult.ok(r.item.id(), r.item.split(), Arrays.asList(r.out));
            held[r.seq] = r.item.tokens();
            heldLen[r.seq] = r.fed;
            lastUse[r.seq] = ++tick;
            busy[r.seq] = false;
            active.remove(a);
          }
        }
      }
      return results;
    } catch (RuntimeException | Error e) {
      // the cells of an unfinished batch are not trusted for reuse
      for (int s = 0; s < streams; s++) {
        api.llama_memory_seq_rm(memory, s, -1, -1);
        held[s] = null;
        heldLen[s] = 0;
      }
      throw e;
    }
  }

  /** Fewest tokens of a running sequence's prefix worth waiting for rather than computing them again. */
  static final int MIN_WAIT = 32;

  /**
   * Whether a running sequence will leave a longer prefix for this item than any free stream holds: then the
   * item waits until that one finishes (its order in the results does not change).
   */
  private boolean waitsForRunning(Item item, List<Running> active, boolean[] busy) {
    if (!reuse) {
      return false;
    }
    int free = 0;
    for (int s = 0; s < streams; s++) {
      if (!busy[s]) {
        free = Math.max(free, commonPrefix(item.tokens(), held[s], heldLen[s]));
      }
    }
    for (Running r : active) {
      int shared = Math.min(commonPrefix(item.tokens(), r.item.tokens(), r.end()), item.split() - 1);
      if (shared >= free + MIN_WAIT) {
        return true;
      }
    }
    return false;
  }

  /** Gives an item the free stream with the longest usable prefix (least recently used on ties). */
  private Running admit(int index, Item item, boolean[] busy) {
    int best = -1;
    int bestReuse = -1;
    for (int s = 0; s < streams; s++) {
      if (busy[s]) {
        continue;
      }
      // the position before the first scored token is computed again: its logits are needed
      int r = reuse ? Math.min(commonPrefix(item.tokens(), held[s], heldLen[s]), item.split() - 1) : 0;
      if (r > bestReuse || (r == bestReuse && lastUse[s] < lastUse[best])) {
        best = s;
        bestReuse = r;
      }
    }
    busy[best] = true;
    lastUse[best] = ++tick;
    Running run = new Running(index, item, best);
    if (bestReuse > 0 && api.llama_memory_seq_rm(memory, best, bestReuse, -1) != 0) {
      run.fed = bestReuse;
      reusedTokens += bestReuse;
    } else {
      api.llama_memory_seq_rm(memory, best, -1, -1);
    }
    held[best] = null;
    heldLen[best] = 0;
    return run;
  }

  private static int commonPrefix(int[] a, int[] b, int bLen) {
    if (b == null) {
      return 0;
    }
    int n = Math.min(a.length, bLen);
    int i = 0;
    while (i < n && a[i] == b[i]) {
      i++;
    }
    return i;
  }

  /** The token's log-softmax probability under these logits, and the {@code top} most likely tokens. */
  TokenLogprob logprob(float[] row, int token, int top) {
    double lse = logSumExp(row);
    List<Alternative> alts = new ArrayList<>(top);
    if (top > 0) {
      int[] best = topK(row, top);
      for (int t : best) {
        alts.add(new Alternative(text(t), row[t] - lse));
      }
    }
    return new TokenLogprob(text(token), pieces.apply(token), row[token] - lse, alts);
  }

  /** {@code log(sum(exp(row)))}, in double, shifted by the maximum. */
  static double logSumExp(float[] row) {
    float max = Float.NEGATIVE_INFINITY;
    for (float v : row) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (float v : row) {
      sum += Math.exp((double) v - max);
    }
    return max + Math.log(sum);
  }

  /** The indices of the k largest values, largest first; ties by lower index. */
  static int[] topK(float[] row, int k) {
    int[] best = new int[Math.min(k, row.length)];
    int n = 0;
    for (int t = 0; t < row.length; t++) {
      if (n < best.length) {
        best[n++] = t;
      } else if (row[t] > row[best[n - 1]]) {
        best[n - 1] = t;
      } else {
        continue;
      }
      for (int j = n - 1; j > 0 && row[best[j]] > row[best[j - 1]]; j--) {
        int x = best[j];
        best[j] = best[j - 1];
        best[j - 1] = x;
      }
    }
    return best;
  }

  private String text(int token) {
    return new String(pieces.apply(token), StandardCharsets.UTF_8);
  }

  @Override
  public void close() {
    if (ctx != null) {
      api.llama_free(ctx);
      NativeCounts.NATIVE.contextsFreed.incrementAndGet();
      ctx = null;
    }
    if (pool != null) {
      pool.close();
    }
  }
}
