package io.instructflow.inference.llama;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Pointer;

/**
 * A persistent ggml CPU thread pool for one context.
 *
 * <p>Without one, ggml's CPU backend makes a throw-away pool for every graph it computes: every
 * {@code llama_decode} starts its worker threads and joins them again, and between two decodes the
 * threads are gone. llama.cpp's own tools ({@code llama-bench}, {@code llama-batched-bench},
 * {@code llama-server}) attach one pool per context for its life, whose threads wait between graphs
 * by polling briefly and then sleeping (ggml's default polling level, 50). This does the same.
 *
 * <p>A pool serves one context, whose graphs are computed on one thread at a time (the context's
 * worker); the calling thread is the pool's thread 0, so a pool of {@code n} threads starts
 * {@code n − 1}. The CPU backend is a library of its own in the split builds (one per CPU variant),
 * so its functions are looked up through the backend registry, as llama.cpp's tools do.
 */
final class CpuThreadPool implements AutoCloseable {
  /** {@code sizeof(struct ggml_threadpool_params)}: bool[512] mask, int threads, int prio, uint32 poll, two bools, padded to 4. */
  static final int PARAMS_SIZE = 528;
  private static final int POLL_OFFSET = 520;
  /**
   * {@code on} (the default: ggml's polling level, 50), a polling level from 0 (sleep at once between
   * graphs) to 100, or {@code off} to let ggml make a pool per graph, as before (for comparisons).
   */
  static final String PROPERTY = "instructflow.threadPool";
  static final int DEFAULT_POLL = 50;

  private final Function free;
  private Pointer pool;

  private CpuThreadPool(Pointer pool, Function free) {
    this.pool = pool;
    this.free = free;
  }

  /** Whether pools are attached in this JVM ({@value #PROPERTY}, on unless set to {@code off}). */
  static boolean enabled() {
    return !"off".equalsIgnoreCase(System.getProperty(PROPERTY, "on").trim());
  }

  /** The polling level of this JVM's pools ({@value #PROPERTY}: {@code on} is {@value #DEFAULT_POLL}). */
  static int pollLevel() {
    String v = System.getProperty(PROPERTY, "on").trim();
    if (v.equalsIgnoreCase("on") || v.equalsIgnoreCase("off")) {
      return DEFAULT_POLL;
    }
    try {
      int level = Integer.parseInt(v);
      if (level >= 0 && level <= 100) {
        return level;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("-D" + PROPERTY + " must be on, off or a polling level from 0 to 100, got '" + v + "'");
  }

  /**
   * A pool of {@code threads} threads, or null when there is nothing to gain or no CPU backend offers
   * pools (a pool of one thread would start none; the context then computes on its own thread).
   */
  static CpuThreadPool create(int threads) {
    if (threads < 2 || !enabled()) {
      return null;
    }
    LlamaApi.Ggml g = NativeLibs.ggml();
    Pointer device = g.ggml_backend_dev_by_type(LlamaApi.Ggml.DEVICE_CPU);
    if (device == null) {
      return null;
    }
    Pointer reg = g.ggml_backend_dev_backend_reg(device);
    Pointer create = reg == null ? null : g.ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new");
    Pointer free = reg == null ? null : g.ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free");
    if (create == null || free == null) {
      return null;
    }
    Memory params = new Memory(PARAMS_SIZE);
    params.clear();
    g.ggml_threadpool_params_init(params, threads);
    if (params.getInt(POLL_OFFSET) != DEFAULT_POLL) {
      // the layout is not the one mirrored here: better no pool than a misread one
      throw new IllegalStateException("ggml_threadpool_params has an unexpected layout (poll read as "
          + params.getInt(POLL_OFFSET) + ")");
    }
    params.setInt(POLL_OFFSET, pollLevel());
    Pointer pool = Function.getFunction(create).invokePointer(new Object[] {params});
    return pool == null ? null : new CpuThreadPool(pool, Function.getFunction(free));
  }

  /** Attaches the pool to {@code ctx} for prompt batches and single-token steps alike. */
  void attach(LlamaApi api, Pointer ctx) {
    api.llama_attach_threadpool(ctx, pool, Pointer.NULL);
  }

  /** Stops and frees the pool's threads; detach it from its context (or free the context) first. */
  @Override
  public synchronized void close() {
    if (pool != null) {
      free.invokeVoid(new Object[] {pool});
      pool = null;
    }
  }
}
