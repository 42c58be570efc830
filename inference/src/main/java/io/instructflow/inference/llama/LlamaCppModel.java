package io.instructflow.inference.llama;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelFiles;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * llama.cpp in-process, for GGUF models, through our own binding of its C API ({@link LlamaApi}) and
 * our own decode loop.
 *
 * <p>One model per configuration per JVM ({@link #shared}); its weights are loaded once and shared by
 * every context. Completions run on {@code parallel} sequences, scheduled one of three ways
 * ({@link Schedule}):
 * <ul>
 *   <li>{@link Schedule#INVARIANT} (the default): one context holding {@code parallel} sequences, one KV
 *       stream each. A prompt is cut into the {@value #BATCH}-token chunks it gets alone, each chunk
 *       decoded in a call of its own; the running sequences' next tokens go together in one
 *       {@code llama_decode} step (one read of the weights for all of them), padded to a shape that keeps
 *       every row on the same CPU kernels whatever else runs (see {@code stepInvariant}). So a completion's
 *       text at temperature 0, and with a seed, is a function of the request only: the same for any
 *       {@code parallel}, batch, runner or arrival order, and the same as decoding it alone (tested). This
 *       holds for llama.cpp's CPU backend; on CUDA the kernels choose by batch size in ways padding does
 *       not pin (docs/engine.md, Schedules).
 *   <li>{@link Schedule#CONTEXTS}: {@code parallel} contexts, each decoding one sequence at a time on its
 *       own thread (the invariant schedule before issue 18). Also a function of the request only, but
 *       every sequence reads all the weights for every token, so it does not batch on a real model.
 *   <li>{@link Schedule#BATCHED}: one context holding {@code parallel} sequences; each
 *       {@code llama_decode} call carries the next token of every running sequence plus prompt chunks
 *       of newly admitted ones (continuous batching). llama.cpp's kernels depend on the batch's size and
 *       make-up, which depends on timing: outputs are reproducible at {@code parallel = 1} only.
 * </ul>
 * <p>Prompts that start alike share work ({@link Config#prefixReuse}, on by default): a context keeps the
 * KV cells of the prompts it computed in its free streams (the running sequences' own, plus
 * {@link Config#prefixCache} spare ones, least recently used first out), and a new prompt that starts
 * with one of them computes only the rest. Under the invariant schedules only whole
 * {@value #BATCH}-token chunks are reused, so a prompt is still cut into the chunks it would have alone
 * and its text stays a function of the request (tested byte for byte against no reuse); the batched
 * schedule reuses any prefix of 32 tokens or more, also from a running sequence. The Self-Instruct
 * classification prompts, the instance prompts, judge rubrics and system prompts all start with long
 * shared text.
 *
 * <p>Requests from every caller (DoFn instances, server threads) share the sequences. At most
 * {@code parallel + queue} completions are admitted at a time; further callers block until one
 * finishes, so memory stays bounded whatever the input size.
 *
 * <p>Token counts and finish reasons are exact: {@code length} when {@code maxTokens} tokens were
 * produced, {@code stop} on an end-of-generation token or a stop string (the text is cut before the
 * stop string). A prompt that with {@code maxTokens} does not fit a sequence's context is rejected,
 * never silently truncated. Chat requests use the model's own template
 * ({@code tokenizer.chat_template}) through {@code llama_chat_apply_template}, which recognizes the
 * common template families (ChatML, Llama 2/3, Mistral, Gemma, Phi, Qwen, DeepSeek and more) by their
 * markers; a model without a template, or with one llama.cpp does not recognize, gets a clear
 * {@code NO_CHAT_TEMPLATE} failure.
 */
public final class LlamaCppModel implements LanguageModel, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LlamaCppModel.class);
  private static final Map<Config, LlamaCppModel> SHARED = new HashMap<>();
  /** Tokens per {@code llama_decode} call at most (prompt chunks plus one token per running sequence). */
  static final int BATCH = 512;

  /** How completions are spread over llama.cpp contexts and {@code llama_decode} calls (see the class comment). */
  public enum Schedule {
    /**
     * One context, {@code parallel} sequences whose next tokens share one {@code llama_decode} step, in a
     * shape that keeps every row on the same CPU kernels whatever else runs: the default. Each
     * completion's text is the one it gets decoding alone (issue 18).
     */
    INVARIANT,
    /** One context per sequence, {@code parallel} contexts: outputs independent of batching, no shared weight reads. */
    CONTEXTS,
    /** One context, {@code parallel} sequences decoded together as they come: not batch-invariant. */
    BATCHED;

    /**
     * The schedule a user named ({@code invariant}, {@code contexts} or {@code batched}, any case).
     *
     * @throws IllegalArgumentException for any other name
     */
    public static Schedule parse(String name) {
      for (Schedule s : values()) {
        if (s.name().equalsIgnoreCase(name.trim())) {
          return s;
        }
      }
      throw new IllegalArgumentException("the schedule is invariant, contexts or batched, not '" + name + "'");
    }

    /** The name users give it ({@code invariant}, {@code contexts}, {@code batched}). */
    public String id() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /**
   * How to load a model.
   *
   * @param model the GGUF file
   * @param parallel sequences decoded at once, 1 to 256
   * @param contextPerSlot context tokens per sequence (prompt plus completion); 0 picks
   *     min(the model's training context, {@value #DEFAULT_CONTEXT_PER_SLOT})
   * @param threads CPU threads in all; 0 means one per available core. With {@link Schedule#CONTEXTS}
   *     each context gets {@code max(1, threads / parallel)}
   * @param gpuLayers layers to offload to the GPU (0 = CPU only; needs a CUDA build, see {@link NativeLibs})
   * @param queue completions that may wait for a sequence beyond those decoding
   * @param verboseNative pass llama.cpp's own log through (to stderr) instead of silencing it
   * @param schedule how sequences map to contexts
   * @param flashAttention whether attention uses llama.cpp's flash-attention kernels
   * @param prefixReuse whether a prompt reuses the KV cells of a prompt prefix the context computed before
   *     (see the class comment)
   * @param prefixCache KV streams per context beyond its running sequences, kept to hold prefixes for
   *     reuse: each costs one sequence's KV memory ({@code contextPerSlot} cells); 0 to 64
   */
  public record Config(Path model, int parallel, int contextPerSlot, int threads, int gpuLayers, int queue,
      boolean verboseNative, Schedule schedule, FlashAttention flashAttention, boolean prefixReuse, int prefixCache,
      boolean ignoreEos) {
    public Config {
      Objects.requireNonNull(model, "model");
      Objects.requireNonNull(schedule, "schedule");
      Objects.requireNonNull(flashAttention, "flashAttention");
      model = model.toAbsolutePath().normalize();
      if (parallel < 1 || parallel > 256) {
        throw new IllegalArgumentException("parallel must be in [1, 256], got " + parallel);
      }
      if (contextPerSlot < 0) {
        throw new IllegalArgumentException("contextPerSlot must be >= 0, got " + contextPerSlot);
      }
      if (threads < 0 || gpuLayers < 0 || queue < 0) {
        throw new IllegalArgumentException("threads, gpuLayers and queue must be >= 0");
      }
      if (prefixCache < 0 || prefixCache > 64) {
        throw new IllegalArgumentException("the prefix cache holds 0 to 64 streams per context, got " + prefixCache);
      }
    }

    /**
     * Defaults: one sequence, automatic context, one thread per core, CPU only, invariant schedule, prefix
     * reuse with one spare stream per context.
     */
    public static Config of(Path model) {
      return new Config(model, 1, 0, 0, 0, 16, false, Schedule.INVARIANT, FlashAttention.AUTO, true, 1, false);
    }

    public Config withParallel(int p) {
      return new Config(model, p, contextPerSlot, threads, gpuLayers, queue, verboseNative, schedule, flashAttention,
          prefixReuse, prefixCache, ignoreEos);
    }

    public Config withContextPerSlot(int c) {
      return new Config(model, parallel, c, threads, gpuLayers, queue, verboseNative, schedule, flashAttention,
          prefixReuse, prefixCache, ignoreEos);
    }

    public Config withThreads(int t) {
      return new Config(model, parallel, contextPerSlot, t, gpuLayers, queue, verboseNative, schedule, flashAttention,
          prefixReuse, prefixCache, ignoreEos);
    }

    public Config withGpuLayers(int g) {
      return new Config(model, parallel, contextPerSlot, threads, g, queue, verboseNative, schedule, flashAttention,
          prefixReuse, prefixCache, ignoreEos);
    }

    public Config withVerboseNative(boolean v) {
      return new Config(model, parallel, contextPerSlot, threads, gpuLayers, queue, v, schedule, flashAttention,
          prefixReuse, prefixCache, ignoreEos);
    }

    public Config withFlashAttention(FlashAttention f) {
      return new Config(model, parallel, contextPerSlot, threads, gpuLayers, queue, verboseNative, schedule, f,
          prefixReuse, prefixCache, ignoreEos);
    }

    public Config withSchedule(Schedule s) {
      return new Config(model, parallel, contextPerSlot, threads, gpuLayers, queue, verboseNative, s, flashAttention,
          prefixReuse, prefixCache, ignoreEos);
    }

    /** Prefix reuse on or off, with {@code cache} spare streams per context. */
    public Config withPrefixReuse(boolean on, int cache) {
      return new Config(model, parallel, contextPerSlot, threads, gpuLayers, queue, verboseNative, schedule,
          flashAttention, on, cache, ignoreEos);
    }

    /**
     * For benchmarks on random-weight models only: end-of-generation tokens are never sampled (their
     * logits are set to minus infinity, as llama-server's {@code ignore_eos} does), so every completion
     * runs to its token limit.
     */
    public Config withIgnoreEos(boolean on) {
      return new Config(model, parallel, contextPerSlot, threads, gpuLayers, queue, verboseNative, schedule,
          flashAttention, prefixReuse, prefixCache, on);
    }
  }

  /**
   * Whether attention runs through llama.cpp's flash-attention kernels. {@link #AUTO} decides by the
   * model's shape and backend: off on the CPU for attention heads narrower than
   * {@value #FLASH_MIN_HEAD_CPU} (llama.cpp's CPU kernel is slower than plain attention there: 4.6×
   * slower prefill at stories260K's head size of 8, measured with llama-bench), otherwise llama.cpp's
   * own automatic choice.
   */
  public enum FlashAttention {
    AUTO,
    ON,
    OFF;

    /** The mode called {@code name} (auto, on, off; any case). */
    public static FlashAttention parse(String name) {
      for (FlashAttention f : values()) {
        if (f.name().equalsIgnoreCase(name)) {
          return f;
        }
      }
      throw new IllegalArgumentException("flash attention must be auto, on or off, got '" + name + "'");
    }
  }

  /** Narrowest attention head that keeps flash attention on the CPU under {@link FlashAttention#AUTO}. */
  public static final int FLASH_MIN_HEAD_CPU = 64;

  /** llama.cpp's flash-attention setting for a config and a model's head size (0 when unknown). */
  static int flashAttentionType(Config c, long headSize) {
    return switch (c.flashAttention()) {
      case ON -> LlamaApi.FLASH_ATTN_ENABLED;
      case OFF -> LlamaApi.FLASH_ATTN_DISABLED;
      case AUTO -> c.gpuLayers() == 0 && headSize > 0 && headSize < FLASH_MIN_HEAD_CPU ? LlamaApi.FLASH_ATTN_DISABLED
          : LlamaApi.FLASH_ATTN_AUTO;
    };
  }

  /**
   * The flash-attention setting this model runs with, {@link FlashAttention#AUTO} resolved as far as we
   * resolve it ({@code AUTO} is left where llama.cpp chooses): what to pass another tool to compare like
   * with like.
   */
  public FlashAttention flashAttention() {
    return switch (flashAttentionType(config, headSize(metadata))) {
      case LlamaApi.FLASH_ATTN_ENABLED -> FlashAttention.ON;
      case LlamaApi.FLASH_ATTN_DISABLED -> FlashAttention.OFF;
      default -> FlashAttention.AUTO;
    };
  }

  /** The attention head size of a model from its GGUF metadata (key length, else width / heads), 0 when unknown. */
  static long headSize(GgufMetadata m) {
    String arch = m.architecture().orElse("");
    java.util.Optional<Long> key = m.integer(arch + ".attention.key_length");
    if (key.isPresent()) {
      return key.get();
    }
    java.util.Optional<Long> width = m.integer(arch + ".embedding_length");
    java.util.Optional<Long> heads = m.integer(arch + ".attention.head_count");
    return width.isPresent() && heads.isPresent() && heads.get() > 0 ? width.get() / heads.get() : 0;
  }

  /** Context per sequence when neither the config nor a smaller training context says otherwise. */
  public static final int DEFAULT_CONTEXT_PER_SLOT = 2048;

  private final Config config;
  private final GgufMetadata metadata;
  private final ModelRef ref;
  private final int contextPerSlot;
  private final LlamaApi api;
  private final Weights weights;
  private final Pointer model;
  private final Pointer vocab;
  private final List<Worker> workers = new ArrayList<>();
  private volatile boolean closed;
  /**
   * Runs each completion's bookkeeping and the caller's {@code whenDone} (a response-cache write, say), so
   * that no decode thread waits on it (issue 21). One daemon thread, gone when idle.
   */
  private final java.util.concurrent.ThreadPoolExecutor callbacks;
  /** Test hook: runs on a decode thread before each step; what it throws is a failure of that thread. */
  volatile Runnable beforeStep;
  private final BlockingQueue<Job> pending = new LinkedBlockingQueue<>();
  private final Semaphore admission;
  private final int threadsPerContext;
  /** Whether prompts reuse computed prefixes (asked for, and the model's memory allows partial removal). */
  private final boolean reuse;
  private final AtomicLong promptTokens = new AtomicLong();
  private final AtomicLong reusedTokens = new AtomicLong();
  private final AtomicLong decodeSteps = new AtomicLong();
  private final AtomicLong decodeTokens = new AtomicLong();
  private final AtomicLong decodeNanos = new AtomicLong();
  private volatile List<PromptTokens.Special> specials;

  private LlamaCppModel(Config config) throws InvalidModelException {
    this.config = config;
    this.metadata = GgufMetadata.read(config.model());
    long trained = metadata.contextLength().orElse((long) DEFAULT_CONTEXT_PER_SLOT);
    this.contextPerSlot = config.contextPerSlot() > 0 ? config.contextPerSlot()
        : (int) Math.min(trained, DEFAULT_CONTEXT_PER_SLOT);
    this.ref = new ModelRef(config.model().getFileName().toString(), ModelFiles.sha256(config.model()), "llama.cpp");
    int threads = config.threads() > 0 ? config.threads() : Runtime.getRuntime().availableProcessors();
    boolean perSequence = config.schedule() == Schedule.CONTEXTS;
    int contexts = perSequence ? config.parallel() : 1;
    int seqsPerContext = perSequence ? 1 : config.parallel();
    this.threadsPerContext = perSequence ? Math.max(1, threads / config.parallel()) : threads;
    try {
      this.api = NativeLibs.api(config.verboseNative());
    } catch (RuntimeException | UnsatisfiedLinkError e) {
      throw new InvalidModelException("cannot load llama.cpp's native libraries: " + e.getMessage());
    }
    if (config.gpuLayers() > 0 && api.llama_supports_gpu_offload() == 0) {
      throw new InvalidModelException("--gpu-layers " + config.gpuLayers() + " needs a GPU build of llama.cpp, and "
          + NativeLibs.dir() + " is CPU-only: build one with bin/build-llama --cuda and name its folder with "
          + NativeLibs.ENV + " (docs/engine.md, GPU nodes)");
    }
    long t0 = System.nanoTime();
    this.weights = Weights.acquire(api, config);
    this.model = weights.model;
    this.vocab = api.llama_model_get_vocab(model);
    // recurrent and hybrid models cannot drop a sequence's tail, and sliding-window models drop its head:
    // their cells cannot stand for a prefix
    boolean cellsArePrefixes = api.llama_model_is_recurrent(model) == 0 && api.llama_model_is_hybrid(model) == 0
        && api.llama_model_n_swa(model) == 0;
    this.reuse = config.prefixReuse() && cellsArePrefixes;
    int spare = reuse ? config.prefixCache() : 0;
    this.admission = new Semaphore(config.parallel() + config.queue());
    // every context first, threads after: a context that cannot be made (out of memory at the k-th)
    // frees those made before it and the weights, then fails (issue 21)
    try {
      for (int i = 0; i < contexts; i++) {
        workers.add(new Worker(i, seqsPerContext, spare));
      }
    } catch (IllegalStateException e) {
      int made = workers.size();
      for (Worker w : workers) {
        w.freeContext();
      }
      workers.clear();
      Weights.release(api, weights);
      throw new InvalidModelException(e.getMessage() + " (context " + (made + 1) + " of " + contexts
          + "; fewer --parallel or a smaller --ctx-per-slot needs less memory)");
    }
    this.callbacks = new java.util.concurrent.ThreadPoolExecutor(1, 1, 10, java.util.concurrent.TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(), r -> {
          Thread t = new Thread(r, "llama-results");
          t.setDaemon(true);
          return t;
        });
    callbacks.allowCoreThreadTimeOut(true);
    for (Worker w : workers) {
      Thread t = new Thread(w, "llama-context-" + w.id);
      t.setDaemon(true);
      w.thread = t;
      t.start();
    }
    LOG.info("loaded {} ({}, {} tensors) in {} ms: {} schedule, {} context(s) x {} sequence(s) x {} tokens, "
            + "{} thread(s) per context, {} GPU layers, prefix reuse {}",
        ref.id(), metadata.architecture().orElse("unknown architecture"), metadata.tensorCount(),
        (System.nanoTime() - t0) / 1_000_000, config.schedule().id(), contexts, seqsPerContext,
        contextPerSlot, threadsPerContext, config.gpuLayers(),
        reuse ? "on (" + spare + " spare stream(s) per context)"
            : config.prefixReuse() ? "off (this model's memory cannot hold a prefix alone)" : "off");
  }

  /**
   * The JVM's instance for this configuration, loaded on first use.
   *
   * @throws InvalidModelException when the file is missing, not GGUF, or llama.cpp cannot load it
   */
  public static LlamaCppModel shared(Config config) throws InvalidModelException {
    synchronized (SHARED) {
      LlamaCppModel m = SHARED.get(config);
      if (m == null) {
        m = new LlamaCppModel(config);
        SHARED.put(config, m);
      }
      return m;
    }
  }

  /**
   * Frees this instance's contexts and samplers, and the weights when no other configuration of the same
   * file uses them; {@link #shared} loads a new instance afterwards. Completions queued or running fail
   * ("closed"), and later calls of {@link #generate} throw {@link IllegalStateException}. Idempotent.
   */
  @Override
  public void close() {
    synchronized (SHARED) {
      if (closed) {
        return;
      }
      closed = true;
      SHARED.remove(config, this);
    }
    for (Worker w : workers) {
      w.thread.interrupt();
    }
    boolean stopped = true;
    for (Worker w : workers) {
      try {
        w.thread.join(60_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      stopped &= !w.thread.isAlive();
    }
    failPending();
    synchronized (scoring) {
      if (scorer != null) {
        scorer.close();
        scorer = null;
      }
    }
    if (stopped) {
      Weights.release(api, weights);
    } else {
      // a context still in a native call: freeing the weights under it would crash the JVM
      LOG.warn("{}: a decode thread did not stop within 60 s; its context and the weights stay allocated", ref.id());
    }
  }

  /** Whether {@link #close} was called. */
  public boolean isClosed() {
    return closed;
  }

  /** Fails the completions still waiting for a sequence (the model is closed). */
  private void failPending() {
    Job j;
    while ((j = pending.poll()) != null) {
      j.done.completeExceptionally(new IllegalStateException("the model was closed"));
      j.release();
    }
  }

  /** Serializes scoring calls; guards {@link #scorer}. */
  private final Object scoring = new Object();
  /** The scoring context, made on the first {@link #score} call, freed by {@link #close}. */
  private Scorer scorer;

  /**
   * Scores continuations on a context of their own ({@link Scorer}): {@code parallel} sequences decoded
   * together, prefixes kept between calls. Calls from several threads take turns.
   */
  @Override
  public List<ScoreResult> score(List<ScoreRequest> batch) {
    if (closed) {
      throw new IllegalStateException(ref.id() + " was closed");
    }
    ScoreResult[] out = new ScoreResult[batch.size()];
    List<Scorer.Item> items = new ArrayList<>();
    List<Integer> at = new ArrayList<>();
    for (int i = 0; i < batch.size(); i++) {
      Object p = prepareScore(batch.get(i));
      if (p instanceof ScoreResult done) {
        out[i] = done;
      } else {
        items.add((Scorer.Item) p);
        at.add(i);
      }
    }
    if (!items.isEmpty()) {
      synchronized (scoring) {
        if (closed) {
          throw new IllegalStateException(ref.id() + " was closed");
        }
        if (scorer == null) {
          int threads = config.threads() > 0 ? config.threads() : Runtime.getRuntime().availableProcessors();
          byte[] buf = new byte[256];
          scorer = new Scorer(api, model, vocab, config.parallel(), contextPerSlot, threads,
              flashAttentionType(config, headSize(metadata)), reuse, t -> piece(t, buf));
        }
        try {
          ScoreResult[] got = scorer.score(items);
          for (int k = 0; k < got.length; k++) {
            out[at.get(k)] = got[k];
          }
        } catch (RuntimeException e) {
          for (int k = 0; k < items.size(); k++) {
            out[at.get(k)] = ScoreResult.failed(items.get(k).id(), ErrorKind.REJECTED, "scoring failed: " + e.getMessage());
          }
        }
      }
    }
    return List.of(out);
  }

  /** Scoring counts so far: prefix tokens reused and tokens computed (0, 0 before the first call). */
  public PrefixStats scoreStats() {
    synchronized (scoring) {
      long[] c = scorer == null ? new long[2] : scorer.counts();
      return new PrefixStats(c[0] + c[1], c[0]);
    }
  }

  /** A score request's tokens and where its continuation starts, or its finished result (failed or empty). */
  private Object prepareScore(ScoreRequest r) {
    int[] context;
    int[] full;
    if (r.isChat()) {
      if (metadata.chatTemplate().isEmpty()) {
        return ScoreResult.failed(r.id(), ErrorKind.NO_CHAT_TEMPLATE, "model " + ref.id()
            + " has no chat template (no tokenizer.chat_template in the GGUF file): score after a text prompt");
      }
      try {
        String rendered = render(r.messages());
        context = tokenizeChat(r.messages(), rendered, "");
        full = tokenizeChat(r.messages(), rendered, r.continuation());
      } catch (IllegalArgumentException e) {
        return ScoreResult.failed(r.id(), ErrorKind.NO_CHAT_TEMPLATE, "cannot apply the chat template of " + ref.id()
            + ": " + e.getMessage());
      }
    } else {
      context = tokenize(r.prompt(), true);
      full = tokenize(r.prompt() + r.continuation(), true);
    }
    // what add_special appends after any text (an EOS, in some vocabularies) is not the continuation's
    int[] around = tokenize(new byte[0], 0, 0, true, false);
    int bos = api.llama_vocab_get_add_bos(vocab) != 0 && around.length > 0 && around[0] == api.llama_vocab_bos(vocab)
        ? 1 : 0;
    context = withoutSuffix(context, around, bos);
    full = withoutSuffix(full, around, bos);
    int split = 0;
    while (split < Math.min(context.length, full.length) && context[split] == full[split]) {
      split++;
    }
    // a first token with nothing before it (no BOS, empty context) has no distribution: it is context
    split = Math.max(split, Math.min(1, full.length));
    if (full.length > contextPerSlot) {
      return ScoreResult.failed(r.id(), ErrorKind.PROMPT_TOO_LONG, "context and continuation are " + full.length
          + " tokens, more than the " + contextPerSlot + "-token context of a sequence");
    }
    if (full.length <= split) {
      return ScoreResult.ok(r.id(), split, List.of());
    }
    return new Scorer.Item(r.id(), full, split, r.topLogprobs());
  }

  /** The tokens without the trailing ones add_special put there ({@code around} after its first {@code bos}). */
  private static int[] withoutSuffix(int[] tokens, int[] around, int bos) {
    int k = around.length - bos;
    if (k == 0 || tokens.length < k + bos) {
      return tokens;
    }
    for (int i = 0; i < k; i++) {
      if (tokens[tokens.length - k + i] != around[bos + i]) {
        return tokens;
      }
    }
    return Arrays.copyOf(tokens, tokens.length - k);
  }

  /**
   * Loaded weights ({@code llama_model}) shared by every configuration of the same file and GPU layers,
   * counted, freed when the last user closes (issue 21: {@code bench generate} and {@code serve}
   * never hold two copies).
   */
  private static final class Weights {
    private static final Map<List<Object>, Weights> LOADED = new HashMap<>();
    final List<Object> key;
    final Pointer model;
    int users;

    private Weights(List<Object> key, Pointer model) {
      this.key = key;
      this.model = model;
    }

    static Weights acquire(LlamaApi api, Config c) throws InvalidModelException {
      synchronized (LOADED) {
        List<Object> key = List.of(c.model(), c.gpuLayers());
        Weights w = LOADED.get(key);
        if (w == null) {
          LlamaApi.ModelParams mp = api.llama_model_default_params();
          mp.n_gpu_layers = c.gpuLayers();
          Pointer m = api.llama_model_load_from_file(c.model().toString(), mp);
          if (m == null) {
            throw new InvalidModelException("llama.cpp could not load " + c.model()
                + " (run with --verbose-native to see why)");
          }
          NATIVE.modelsLoaded.incrementAndGet();
          w = new Weights(key, m);
          LOADED.put(key, w);
        }
        w.users++;
        return w;
      }
    }

    static void release(LlamaApi api, Weights w) {
      synchronized (LOADED) {
        if (--w.users == 0) {
          LOADED.remove(w.key);
          api.llama_model_free(w.model);
          NATIVE.modelsFreed.incrementAndGet();
        }
      }
    }
  }

  /** Native objects made and freed since the JVM started (for tests: every one made is freed). */
  static final class NativeCounts {
    final AtomicLong modelsLoaded = new AtomicLong();
    final AtomicLong modelsFreed = new AtomicLong();
    final AtomicLong contextsMade = new AtomicLong();
    final AtomicLong contextsFreed = new AtomicLong();
    final AtomicLong samplersMade = new AtomicLong();
    final AtomicLong samplersFreed = new AtomicLong();
  }

  static final NativeCounts NATIVE = new NativeCounts();

  /**
   * Test hook: whether context {@code k} (0-based) of the next instance is asked for with an impossible
   * setting, so that llama.cpp refuses to make it.
   */
  static volatile java.util.function.IntPredicate impossibleContext = k -> false;

  @Override
  public ModelRef ref() {
    return ref;
  }

  /** The engine identity: model file, llama.cpp build, backend and GPU layers (see {@link EngineBuild#identity}). */
  @Override
  public String identity() {
    return EngineBuild.identity(config);
  }

  /** The configuration it was loaded with. */
  public Config config() {
    return config;
  }

  /** The GGUF metadata of the loaded file. */
  public GgufMetadata metadata() {
    return metadata;
  }

  /** Context tokens per sequence. */
  public int contextPerSlot() {
    return contextPerSlot;
  }

  /**
   * Prompt tokens since the model was loaded: those asked for, and those whose KV cells came from a prefix
   * computed before instead of being computed again.
   */
  public record PrefixStats(long promptTokens, long reusedTokens) {}

  /** Prompt tokens asked for and reused so far. */
  public PrefixStats prefixStats() {
    return new PrefixStats(promptTokens.get(), reusedTokens.get());
  }

  /**
   * Decoding steps since the model was loaded: the {@code llama_decode} calls that carried only the next
   * token of running sequences (no prompt tokens), the tokens they carried, and their time on the context
   * threads, the sampling of those tokens included. This is the phase llama-batched-bench reports as
   * {@code speed_tg}; prompt processing and the steps that mix prompt chunks in are not counted.
   */
  public record DecodeStats(long steps, long tokens, long nanos) {
    /** Tokens per second over these steps (0 when none ran). */
    public double tokensPerSecond() {
      return nanos == 0 ? 0 : tokens * 1e9 / nanos;
    }

    /** The steps since {@code earlier}. */
    public DecodeStats since(DecodeStats earlier) {
      return new DecodeStats(steps - earlier.steps, tokens - earlier.tokens, nanos - earlier.nanos);
    }
  }

  /** Pure decoding steps so far (see {@link DecodeStats}). */
  public DecodeStats decodeStats() {
    return new DecodeStats(decodeSteps.get(), decodeTokens.get(), decodeNanos.get());
  }

  /** Whether prompts reuse computed prefixes on this model. */
  public boolean prefixReuse() {
    return reuse;
  }

  /** CPU threads each context decodes with. */
  public int threadsPerContext() {
    return threadsPerContext;
  }

  /** Tokens of a text, as the model's tokenizer splits it (no BOS). */
  public int countTokens(String text) {
    return tokenize(text, false).length;
  }

  /**
   * The text's tokens, the text taken as text: control-token texts in it ({@code </s>}, {@code <|im_end|>})
   * stay text (issue 21). {@code addSpecial} adds BOS (and EOS) where the model's vocabulary asks for them.
   */
  int[] tokenize(String text, boolean addSpecial) {
    return tokenize(text, addSpecial, false);
  }

  /** The text's tokens; {@code parseSpecial} turns special-token texts into those tokens (trusted text only). */
  int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
    byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
    return tokenize(utf8, 0, utf8.length, addSpecial, parseSpecial);
  }

  private int[] tokenize(byte[] text, int from, int to, boolean addSpecial, boolean parseSpecial) {
    byte[] utf8 = from == 0 && to == text.length ? text : Arrays.copyOfRange(text, from, to);
    int[] buf = new int[utf8.length + 8];
    int n = api.llama_tokenize(vocab, utf8, utf8.length, buf, buf.length, addSpecial, parseSpecial);
    if (n < 0) {
      buf = new int[-n];
      n = api.llama_tokenize(vocab, utf8, utf8.length, buf, buf.length, addSpecial, parseSpecial);
    }
    if (n < 0) {
      throw new IllegalStateException("llama_tokenize failed (" + n + ")");
    }
    return Arrays.copyOf(buf, n);
  }

  /** The special-token cache, in llama.cpp's order; read from the vocabulary on first use. */
  private List<PromptTokens.Special> specials() {
    List<PromptTokens.Special> s = specials;
    if (s == null) {
      synchronized (this) {
        if (specials == null) {
          int attrs = LlamaApi.TOKEN_ATTR_CONTROL | LlamaApi.TOKEN_ATTR_UNKNOWN | LlamaApi.TOKEN_ATTR_USER_DEFINED;
          List<PromptTokens.Special> all = new ArrayList<>();
          int n = api.llama_vocab_n_tokens(vocab);
          for (int id = 0; id < n; id++) {
            int attr = api.llama_vocab_get_attr(vocab, id);
            if ((attr & attrs) != 0) {
              Pointer text = api.llama_vocab_get_text(vocab, id);
              byte[] bytes = text == null ? new byte[0] : text.getByteArray(0, (int) strlen(text));
              all.add(new PromptTokens.Special(id, bytes, attr));
            }
          }
          specials = PromptTokens.Special.ordered(all);
        }
        s = specials;
      }
    }
    return s;
  }

  private static long strlen(Pointer p) {
    long n = 0;
    while (p.getByte(n) != 0) {
      n++;
    }
    return n;
  }

  /**
   * A rendered chat prompt's tokens, control tokens taken only from the template's own text, never from a
   * message's content (issue 21; see {@link PromptTokens}). With BOS (and EOS) as the vocabulary asks.
   *
   * @throws IllegalArgumentException when the contents cannot be told apart from the template's text
   */
  int[] tokenizeChat(List<Message> messages, String rendered) {
    return tokenizeChat(messages, rendered, "");
  }

  /**
   * As {@link #tokenizeChat(List, String)}, with {@code tail} (untrusted text, such as an answer to score)
   * after the rendered prompt.
   */
  int[] tokenizeChat(List<Message> messages, String rendered, String tail) {
    List<String> contents = new ArrayList<>();
    List<Message> marked = new ArrayList<>();
    for (Message m : messages) {
      contents.add(m.content());
    }
    char mark = PromptTokens.sentinelMark(rendered, contents);
    for (int i = 0; i < messages.size(); i++) {
      marked.add(new Message(messages.get(i).role(), PromptTokens.sentinel(mark, i)));
    }
    byte[] prompt = rendered.getBytes(StandardCharsets.UTF_8);
    List<PromptTokens.Span> spans = PromptTokens.contentSpans(prompt, render(marked), mark, contents);
    byte[] text = prompt;
    if (!tail.isEmpty()) {
      byte[] t = tail.getBytes(StandardCharsets.UTF_8);
      text = Arrays.copyOf(prompt, prompt.length + t.length);
      System.arraycopy(t, 0, text, prompt.length, t.length);
      spans = new ArrayList<>(spans);
      spans.add(new PromptTokens.Span(prompt.length, text.length));
    }
    // what add_special puts around any text: BOS before (when the vocabulary adds one), the rest after
    int[] around = tokenize(new byte[0], 0, 0, true, false);
    int bos = api.llama_vocab_get_add_bos(vocab) != 0 && around.length > 0
        && around[0] == api.llama_vocab_bos(vocab) ? 1 : 0;
    IntList out = new IntList(text.length / 2 + 8);
    out.add(around, 0, bos);
    for (PromptTokens.Fragment f : PromptTokens.partition(text, specials(), spans)) {
      if (f.raw()) {
        int[] t = tokenize(text, f.start(), f.end(), false, false);
        out.add(t, 0, t.length);
      } else {
        out.add(new int[] {f.token()}, 0, 1);
      }
    }
    out.add(around, bos, around.length);
    return out.toArray();
  }

  /** A growable int array. */
  private static final class IntList {
    private int[] a;
    private int n;

    IntList(int capacity) {
      a = new int[Math.max(8, capacity)];
    }

    void add(int[] src, int from, int to) {
      int k = to - from;
      if (n + k > a.length) {
        a = Arrays.copyOf(a, Math.max(n + k, 2 * a.length));
      }
      System.arraycopy(src, from, a, n, k);
      n += k;
    }

    int[] toArray() {
      return Arrays.copyOf(a, n);
    }
  }

  /** The text of some tokens, each as the model's vocabulary spells it (control tokens as nothing). */
  String detokenize(int[] tokens) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[256];
    for (int t : tokens) {
      out.writeBytes(piece(t, buf));
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  private byte[] piece(int token, byte[] buf) {
    int n = api.llama_token_to_piece(vocab, token, buf, buf.length, 0, false);
    if (n < 0) {
      buf = new byte[-n];
      n = api.llama_token_to_piece(vocab, token, buf, buf.length, 0, false);
    }
    return Arrays.copyOf(buf, Math.max(0, n));
  }

  @Override
  public List<GenerationResult> generate(List<GenerationRequest> batch) {
    return generate(batch, (i, r) -> { });
  }

  @Override
  public List<GenerationResult> generate(List<GenerationRequest> batch, BiConsumer<Integer, GenerationResult> whenDone) {
    if (closed) {
      throw new IllegalStateException("llama.cpp model " + ref.id() + " is closed");
    }
    // render, tokenize and check every request first, then queue all their completions; each request's
    // result is assembled (and reported) by whichever of its completions finishes last
    List<Prepared> prepared = new ArrayList<>(batch.size());
    for (GenerationRequest r : batch) {
      prepared.add(prepare(r));
    }
    GenerationResult[] results = new GenerationResult[batch.size()];
    List<CompletableFuture<Completion>> all = new ArrayList<>();
    try {
      for (int k = 0; k < prepared.size(); k++) {
        Prepared p = prepared.get(k);
        if (p.failure != null) {
          results[k] = p.failure;
          whenDone.accept(k, p.failure);
          continue;
        }
        int n = p.request.params().n();
        Completion[] choices = new Completion[n];
        String[] error = new String[1];
        AtomicInteger remaining = new AtomicInteger(n);
        final int index = k;
        for (int i = 0; i < n; i++) {
          final int choice = i;
          Pointer sampler;
          try {
            sampler = sampler(p.request.params(), p.request.seed() + choice);
          } catch (IllegalArgumentException e) {
            error[0] = e.getMessage();
            sampler = null;
          }
          CompletableFuture<Completion> f = new CompletableFuture<>();
          // wait for the dependent stage, which ends after the request's result is recorded
          all.add(f.whenCompleteAsync((c, e) -> {
            synchronized (error) {
              if (e != null && error[0] == null) {
                error[0] = String.valueOf(e.getMessage());
              }
              choices[choice] = c;
            }
            if (remaining.decrementAndGet() == 0) {
              GenerationResult r;
              synchronized (error) {
                r = error[0] == null
                    ? GenerationResult.ok(p.request.id(), p.rendered, p.prompt.length, List.of(choices))
                    : GenerationResult.failed(p.request.id(), p.rendered, ErrorKind.REJECTED, "llama.cpp: " + error[0]);
              }
              results[index] = r;
              whenDone.accept(index, r);
            }
          }, callbacks));
          if (sampler == null) {
            f.completeExceptionally(new IllegalArgumentException(error[0]));
            continue;
          }
          try {
            admission.acquire();
          } catch (InterruptedException e) {
            // issue 21: the sampler made for this completion is freed, not leaked
            freeSampler(sampler);
            f.completeExceptionally(e);
            throw e;
          }
          pending.add(new Job(p.prompt, p.request.params(), sampler, f));
          if (closed) {
            failPending();
          }
        }
      }
      for (CompletableFuture<Completion> f : all) {
        try {
          f.get();
        } catch (ExecutionException e) {
          // recorded in the request's result
        }
      }
      return List.of(results);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while generating", e);
    }
  }

  private record Prepared(GenerationRequest request, String rendered, int[] prompt, GenerationResult failure) {}

  private Prepared prepare(GenerationRequest r) {
    String rendered;
    if (r.isChat()) {
      if (metadata.chatTemplate().isEmpty()) {
        return new Prepared(r, null, null, GenerationResult.failed(r.id(), null, ErrorKind.NO_CHAT_TEMPLATE,
            "model " + ref.id() + " has no chat template (no tokenizer.chat_template in the GGUF file): "
                + "send text prompts, or use a model with a chat template"));
      }
      try {
        rendered = render(r.messages());
      } catch (RuntimeException e) {
        return new Prepared(r, null, null, GenerationResult.failed(r.id(), null, ErrorKind.NO_CHAT_TEMPLATE,
            "cannot apply the chat template of " + ref.id() + ": " + e.getMessage()));
      }
    } else {
      rendered = r.prompt();
    }
    int[] prompt;
    if (r.isChat()) {
      try {
        prompt = tokenizeChat(r.messages(), rendered);
      } catch (IllegalArgumentException e) {
        return new Prepared(r, rendered, null, GenerationResult.failed(r.id(), rendered, ErrorKind.NO_CHAT_TEMPLATE,
            "cannot tell the messages from the chat template's own text in " + ref.id() + " (" + e.getMessage()
                + "), so their text could become control tokens: refused"));
      }
    } else {
      prompt = tokenize(rendered, true);
    }
    // in long: a max_tokens near Integer.MAX_VALUE must be refused, not wrap around and pass
    long need = (long) prompt.length + r.params().maxTokens();
    if (need > contextPerSlot) {
      return new Prepared(r, rendered, prompt, GenerationResult.failed(r.id(), rendered, ErrorKind.PROMPT_TOO_LONG,
          "prompt of " + prompt.length + " tokens plus max_tokens " + r.params().maxTokens() + " exceeds the "
              + contextPerSlot + "-token context of a sequence"));
    }
    if (prompt.length == 0) {
      return new Prepared(r, rendered, prompt, GenerationResult.failed(r.id(), rendered, ErrorKind.REJECTED,
          "empty prompt (no tokens, and the model adds no BOS)"));
    }
    return new Prepared(r, rendered, prompt, null);
  }

  /** The messages through the model's own chat template, with the assistant's turn opened. */
  String render(List<Message> messages) {
    for (int i = 0; i < messages.size(); i++) {
      String role = messages.get(i).role();
      if (!(role.equals("user") || role.equals("assistant") || (role.equals("system") && i == 0))) {
        throw new IllegalArgumentException("role '" + role + "' at turn " + i
            + " is not supported by the llama.cpp backend (system first, then user and assistant)");
      }
    }
    List<Memory> keep = new ArrayList<>();
    Memory chat = new Memory((long) Native.POINTER_SIZE * 2 * messages.size());
    long chars = 0;
    for (int i = 0; i < messages.size(); i++) {
      Memory role = utf8(messages.get(i).role());
      Memory content = utf8(messages.get(i).content());
      keep.add(role);
      keep.add(content);
      chat.setPointer((long) Native.POINTER_SIZE * 2 * i, role);
      chat.setPointer((long) Native.POINTER_SIZE * (2 * i + 1), content);
      chars += content.size();
    }
    String template = metadata.chatTemplate().orElseThrow();
    byte[] buf = new byte[(int) Math.min(Integer.MAX_VALUE - 16, 2 * chars + 1024)];
    int n = api.llama_chat_apply_template(template, chat, messages.size(), true, buf, buf.length);
    if (n > buf.length) {
      buf = new byte[n];
      n = api.llama_chat_apply_template(template, chat, messages.size(), true, buf, buf.length);
    }
    if (n < 0) {
      throw new IllegalArgumentException("llama.cpp does not recognize this model's chat template (it supports the "
          + "common families by their markers, not arbitrary Jinja)");
    }
    keep.clear();
    return new String(buf, 0, n, StandardCharsets.UTF_8);
  }

  private static Memory utf8(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    Memory m = new Memory(b.length + 1L);
    m.write(0, b, 0, b.length);
    m.setByte(b.length, (byte) 0);
    return m;
  }

  /**
   * A sampler chain for one completion: grammar first, then the penalties, then greedy, or top-k, top-p,
   * temperature and a seeded draw.
   */
  private Pointer sampler(SamplingParams p, long seed) {
    Pointer chain = api.llama_sampler_chain_init(api.llama_sampler_chain_default_params());
    NATIVE.samplersMade.incrementAndGet();
    if (config.ignoreEos()) {
      Memory eog = endOfGenerationBiases();
      api.llama_sampler_chain_add(chain, api.llama_sampler_init_logit_bias(api.llama_vocab_n_tokens(vocab),
          (int) (eog.size() / 8), eog));
    }
    if (p.grammar() != null) {
      Pointer g = api.llama_sampler_init_grammar(vocab, p.grammar(), "root");
      if (g == null) {
        freeSampler(chain);
        throw new IllegalArgumentException("the GBNF grammar does not parse (or has no 'root' rule)");
      }
      api.llama_sampler_chain_add(chain, g);
    }
    if (p.penalized()) {
      // over the whole completion: the chain's sample() accepts each drawn token into the penalties'
      // history, and the prompt is never accepted, so only generated tokens count (OpenAI's semantics)
      api.llama_sampler_chain_add(chain, api.llama_sampler_init_penalties(api.llama_vocab_n_tokens(vocab), contextPerSlot,
          (float) p.repetitionPenalty(),
          (float) p.frequencyPenalty(), (float) p.presencePenalty()));
    }
    if (p.greedy()) {
      api.llama_sampler_chain_add(chain, api.llama_sampler_init_greedy());
    } else {
      if (p.topK() > 0) {
        api.llama_sampler_chain_add(chain, api.llama_sampler_init_top_k(p.topK()));
      }
      if (p.topP() < 1) {
        api.llama_sampler_chain_add(chain, api.llama_sampler_init_top_p((float) p.topP(), 1));
      }
      api.llama_sampler_chain_add(chain, api.llama_sampler_init_temp((float) p.temperature()));
      // llama.cpp's seed is 32 bits; 0xFFFFFFFF would mean "random", which our derived seeds avoid
      int s = (int) (seed ^ (seed >>> 32));
      api.llama_sampler_chain_add(chain, api.llama_sampler_init_dist(s == -1 ? 0 : s));
    }
    return chain;
  }

  private Memory eogBiases;

  /** {@code llama_logit_bias} entries (token, bias) of minus infinity for every end-of-generation token. */
  private synchronized Memory endOfGenerationBiases() {
    if (eogBiases == null) {
      List<Integer> eog = new ArrayList<>();
      int n = api.llama_vocab_n_tokens(vocab);
      for (int t = 0; t < n; t++) {
        if (api.llama_vocab_is_eog(vocab, t) != 0) {
          eog.add(t);
        }
      }
      Memory m = new Memory(8L * Math.max(1, eog.size()));
      m.clear();
      for (int i = 0; i < eog.size(); i++) {
        m.setInt(8L * i, eog.get(i));
        m.setFloat(8L * i + 4, Float.NEGATIVE_INFINITY);
      }
      // a vocabulary without one gets a single no-op entry (token 0, bias 0)
      eogBiases = m;
    }
    return eogBiases;
  }

  private void freeSampler(Pointer sampler) {
    api.llama_sampler_free(sampler);
    NATIVE.samplersFreed.incrementAndGet();
  }

  private static final java.util.Comparator<Job> BY_SEQ = java.util.Comparator.comparingInt(j -> j.seq);

  /** One completion to decode. */
  private final class Job {
    final int[] prompt;
    final SamplingParams params;
    final Pointer sampler;
    final CompletableFuture<Completion> done;
    int seq = -1;
    int fed;
    int last;
    int out = -1;
    /** The token sampled in the current step. */
    int sampled;
    int generated;
    /** A running job whose prompt this one's starts with, until {@link #need} of its tokens are computed. */
    Job source;
    int need;
    final ByteArrayOutputStream text = new ByteArrayOutputStream();

    private boolean released;

    Job(int[] prompt, SamplingParams params, Pointer sampler, CompletableFuture<Completion> done) {
      this.prompt = prompt;
      this.params = params;
      this.sampler = sampler;
      this.done = done;
    }

    /** Frees the sampler and returns the admission permit, once. */
    synchronized void release() {
      if (!released) {
        released = true;
        freeSampler(sampler);
        admission.release();
      }
    }
  }

  /**
   * Rows of an invariant decoding step come in multiples of this: at least two keeps llamafile's tinyBLAS
   * on every product, four keeps the repacked Q4_0 kernels on their four-row path (docs/engine.md,
   * Batch-invariant decoding).
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
   * One llama.cpp context and the thread that drives it: admits jobs, batches, decodes, samples.
   *
   * <p>The context has one KV stream per running sequence plus {@code spare} streams. A finished job's
   * stream keeps the cells of its prompt (under the invariant schedules, of its whole {@value #BATCH}-token
   * chunks only), so a later prompt that starts the same way is admitted to the free stream holding the
   * longest such prefix and computes only the rest; with no prefix to reuse it takes the least recently
   * used free stream. Under the batched schedule a prompt may also copy the prefix from a running
   * sequence (a whole-stream copy, waiting until that sequence has computed it).
   */
  private final class Worker implements Runnable {
    final int id;
    Thread thread;
    private final int seqs;
    /** Streams jobs run in and prefixes are kept in: the running sequences' plus the spare ones. */
    private final int streams;
    /** Invariant schedules: prefixes are whole chunks, so a prompt's chunks are those it has alone. */
    private final boolean aligned;
    /**
     * {@link Schedule#INVARIANT}: decoding steps apart from prompt chunks, padded to {@value #STEP_ROWS}-row
     * multiples; the context has up to {@value #STEP_ROWS}{@code - 1} streams beyond {@link #streams} that
     * only ever hold a padding row's cell during one step.
     */
    private final boolean padded;
    /** The token a padding row carries (any valid token: its row's results are never read). */
    private final int padToken;
    private final int[][] held;
    private final int[] heldLen;
    private final long[] lastUse;
    private final boolean[] busy;
    private long tick;
    private Pointer ctx;
    private Pointer memory;
    /** This context's persistent CPU threads (null with one thread per context, or {@code -Dinstructflow.threadPool=off}). */
    private final CpuThreadPool pool;
    private final Memory tokens = new Memory(4L * BATCH);
    private final Memory pos = new Memory(4L * BATCH);
    private final Memory nSeq = new Memory(4L * BATCH);
    private final Memory seqIds = new Memory(4L * BATCH);
    private final Memory seqPtrs = new Memory((long) Native.POINTER_SIZE * BATCH);
    private final Memory logits = new Memory(BATCH);
    private final LlamaApi.Batch batch = new LlamaApi.Batch();
    private final byte[] pieceBuf = new byte[256];

    Worker(int id, int seqs, int spare) {
      this.id = id;
      this.seqs = seqs;
      this.streams = seqs + spare;
      this.aligned = config.schedule() != Schedule.BATCHED;
      this.padded = config.schedule() == Schedule.INVARIANT;
      this.padToken = Math.max(0, api.llama_vocab_bos(vocab));
      this.held = new int[streams][];
      this.heldLen = new int[streams];
      this.lastUse = new long[streams];
      this.busy = new boolean[streams];
      int allStreams = padded ? roundUp(streams, STEP_ROWS) : streams;
      LlamaApi.ContextParams cp = api.llama_context_default_params();
      cp.n_ctx = contextPerSlot * allStreams;
      cp.n_seq_max = allStreams;
      cp.n_batch = BATCH;
      cp.n_ubatch = BATCH;
      cp.n_threads = threadsPerContext;
      cp.n_threads_batch = threadsPerContext;
      cp.flash_attn_type = flashAttentionType(config, headSize(metadata));
      cp.no_perf = 1;
      // one KV stream per sequence: a sequence's attention never spans another's cells, and a stream's
      // cell i holds position i, with or without a reused prefix
      cp.kv_unified = (byte) (allStreams == 1 ? 1 : 0);
      if (impossibleContext.test(id)) {
        cp.n_seq_max = 100_000;
      }
      this.ctx = api.llama_init_from_model(model, cp);
      if (ctx == null) {
        throw new IllegalStateException("llama.cpp could not create a context of " + cp.n_ctx + " tokens");
      }
      NATIVE.contextsMade.incrementAndGet();
      try {
        this.pool = CpuThreadPool.create(threadsPerContext);
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
    }

    void freeContext() {
      if (ctx != null) {
        api.llama_free(ctx);
        NATIVE.contextsFreed.incrementAndGet();
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
        while (!closed) {
          try {
            while (active.size() < seqs) {
              Job j = active.isEmpty() ? pending.take() : pending.poll();
              if (j == null) {
                break;
              }
              taking = j;
              admit(j, active);
              active.add(j);
              taking = null;
            }
            Runnable hook = beforeStep;
            if (hook != null) {
              hook.run();
            }
            // tokens in sequence-id order: with one KV stream per sequence, llama.cpp splits a batch whose
            // sequences are out of order into more micro-batches (more graph runs) than one in order
            active.sort(BY_SEQ);
            if (padded) {
              stepInvariant(active);
            } else {
              step(active);
            }
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
            LOG.warn("{}: {} failed, its {} completion(s) with it: {}", ref.id(), this, active.size(), t.toString());
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
        failAll(active, closed ? "the model was closed" : "llama.cpp " + this + " stopped");
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
        if (r > bestReuse || (r == bestReuse && lastUse[s] < lastUse[best])) {
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
      promptTokens.addAndGet(j.prompt.length);
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
          reusedTokens.addAndGet(bestReuse);
        } else {
          api.llama_memory_seq_rm(memory, best, -1, -1);
        }
      }
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
          reusedTokens.addAndGet(w.need);
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

    /**
     * {@link Schedule#INVARIANT}: one padded decoding step for the sequences past their prompts, then the
     * next prompt chunk of each sequence still reading its prompt, each chunk in a {@code llama_decode} of
     * its own. What llama.cpp's CPU kernels compute for a row then depends on that row's sequence only
     * (docs/engine.md, Batch-invariant decoding):
     * <ul>
     *   <li>a prompt is cut at the multiples of {@value #BATCH} it is cut at alone, and a chunk never
     *       shares a call, so its rows, its KV window and its kernels are those it gets alone;
     *   <li>a decoding step carries one row for every stream from 0 up to a multiple of
     *       {@value #STEP_ROWS}: every sequence's row, and a padding row for each other stream in that range.
     *       With at least {@value #STEP_ROWS} rows every matrix product stays on the many-row kernels
     *       (llamafile's tinyBLAS refuses one-row products; the repacked Q4_0 path runs rows in groups of
     *       four and only the rest one by one), the streams are consecutive so llama.cpp runs the step as one
     *       micro-batch, and with two or more streams flash attention never takes its one-query split-KV
     *       path, whose partial sums depend on the thread count and the KV length;
     *   <li>every row asks for logits, so the output projection has the same many-row shape too.
     * </ul>
     * A padding row is one token at the next free position of its stream, so it attends to that stream's
     * cells but changes none of them; its cell is removed right after the step and its logits are never
     * sampled.
     */
    private void stepInvariant(List<Job> active) {
      decodePadded(active);
      for (Job j : active) {
        if (!j.done.isDone() && j.fed < j.prompt.length) {
          prefillChunk(j);
        }
      }
    }

    /** The next {@value #BATCH}-aligned chunk of a job's prompt, alone in a {@code llama_decode}. */
    private void prefillChunk(Job j) {
      int end = Math.min(j.prompt.length, (j.fed / BATCH + 1) * BATCH);
      int n = 0;
      while (j.fed < end) {
        n = put(n, j.prompt[j.fed], j.fed, j.seq, j.fed == j.prompt.length - 1);
        j.fed++;
      }
      batch.n_tokens = n;
      String failure = decodeFailure();
      if (failure != null) {
        j.done.completeExceptionally(new IllegalStateException(failure));
        return;
      }
      if (j.fed == j.prompt.length) {
        accept(j, api.llama_sampler_sample(j.sampler, ctx, n - 1));
      }
    }

    /** One decoding step for every job past its prompt, padded as {@link #stepInvariant} says. */
    private void decodePadded(List<Job> active) {
      Job[] at = new Job[roundUp(streams, STEP_ROWS)];
      int top = -1;
      for (Job j : active) {
        if (!j.done.isDone() && j.fed >= j.prompt.length) {
          at[j.seq] = j;
          top = Math.max(top, j.seq);
        }
      }
      if (top < 0) {
        return;
      }
      int rows = roundUp(top + 1, STEP_ROWS);
      int[] padAt = new int[rows];
      int n = 0;
      int real = 0;
      for (int s = 0; s < rows; s++) {
        if (at[s] != null) {
          n = put(n, at[s].last, at[s].fed, s, true);
          real++;
          padAt[s] = -1;
        } else {
          padAt[s] = api.llama_memory_seq_pos_max(memory, s) + 1;
          n = put(n, padToken, padAt[s], s, true);
        }
      }
      long t0 = System.nanoTime();
      batch.n_tokens = n;
      String failure;
      try {
        failure = decodeFailure();
      } finally {
        for (int s = 0; s < rows; s++) {
          if (padAt[s] >= 0) {
            api.llama_memory_seq_rm(memory, s, padAt[s], -1);
          }
        }
      }
      List<Job> stepped = new ArrayList<>(real);
      for (int s = 0; s < rows; s++) {
        if (at[s] != null) {
          stepped.add(at[s]);
        }
      }
      if (failure != null) {
        for (Job j : stepped) {
          j.done.completeExceptionally(new IllegalStateException(failure));
        }
        return;
      }
      for (Job j : stepped) {
        j.fed++;
        // row s is stream s
        j.sampled = api.llama_sampler_sample(j.sampler, ctx, j.seq);
      }
      decodeSteps.incrementAndGet();
      decodeTokens.addAndGet(real);
      decodeNanos.addAndGet(System.nanoTime() - t0);
      for (Job j : stepped) {
        accept(j, j.sampled);
      }
    }

    /** Runs {@code llama_decode} on the batch as filled; null when it succeeded, else why not. */
    private String decodeFailure() {
      int rc;
      try {
        rc = api.llama_decode(ctx, batch);
      } catch (RuntimeException | Error e) {
        return "llama_decode failed: " + e;
      }
      return rc == 0 ? null : "llama_decode returned " + rc + (rc == 1 ? " (no room in the KV cache)" : "");
    }

    /** One llama_decode: the next token of every decoding sequence, then prompt chunks while room is left. */
    private void step(List<Job> active) {
      int n = 0;
      for (Job j : active) {
        j.out = -1;
        if (j.source == null && j.fed >= j.prompt.length) {
          n = put(n, j.last, j.fed++, j.seq, true);
          j.out = n - 1;
        }
      }
      for (Job j : active) {
        while (j.source == null && j.fed < j.prompt.length && n < BATCH) {
          boolean lastOfPrompt = j.fed == j.prompt.length - 1;
          n = put(n, j.prompt[j.fed], j.fed, j.seq, lastOfPrompt);
          j.fed++;
          if (lastOfPrompt) {
            j.out = n - 1;
          }
        }
      }
      if (n == 0) {
        return;
      }
      boolean decodeOnly = true;
      for (Job j : active) {
        decodeOnly &= j.source == null && j.fed > j.prompt.length;
      }
      long t0 = System.nanoTime();
      batch.n_tokens = n;
      int rc;
      try {
        rc = api.llama_decode(ctx, batch);
      } catch (RuntimeException | Error e) {
        for (Job j : active) {
          j.done.completeExceptionally(new IllegalStateException("llama_decode failed: " + e));
        }
        return;
      }
      if (rc != 0) {
        for (Job j : active) {
          j.done.completeExceptionally(new IllegalStateException("llama_decode returned " + rc
              + (rc == 1 ? " (no room in the KV cache)" : "")));
        }
        return;
      }
      for (Job j : active) {
        if (j.out >= 0) {
          j.sampled = api.llama_sampler_sample(j.sampler, ctx, j.out);
        }
      }
      // counted before any job completes, so a caller that sees its results sees their steps too
      if (decodeOnly) {
        decodeSteps.incrementAndGet();
        decodeTokens.addAndGet(n);
        decodeNanos.addAndGet(System.nanoTime() - t0);
      }
      for (Job j : active) {
        if (j.out >= 0) {
          accept(j, j.sampled);
        }
      }
    }

    private int put(int n, int token, int position, int seq, boolean output) {
      tokens.setInt(4L * n, token);
      pos.setInt(4L * n, position);
      seqIds.setInt(4L * n, seq);
      logits.setByte(n, (byte) (output ? 1 : 0));
      return n + 1;
    }

    private void accept(Job j, int token) {
      if (api.llama_vocab_is_eog(vocab, token) != 0) {
        finish(j, FinishReason.STOP, null);
        return;
      }
      byte[] piece = piece(token, pieceBuf);
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
}
