package io.instructflow.inference.llama;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import io.instructflow.inference.Completion;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelFiles;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
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
 *       every row on the same CPU kernels whatever else runs (see {@code InvariantSteps}). So a completion's
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
 *
 * <p>This class is the facade: requests, prompts, tokens and results. The engine behind it is in this
 * package, one concern a class: {@code LlamaConfig} (a {@link Config} resolved for its file and machine),
 * {@code ModelRegistry} (one instance per configuration, weights shared and counted), {@code Scheduler}
 * (admission, the queue, one thread per context), {@code DecodeLoop} (one context: streams, prefix reuse,
 * sampled tokens), {@code DecodeSteps} (a schedule's {@code llama_decode} calls: {@code InvariantSteps},
 * {@code ContinuousSteps}), {@code Samplers} and {@link Scorer}.
 */
public final class LlamaCppModel implements LanguageModel, AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LlamaCppModel.class);
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

  /**
   * The flash-attention setting this model runs with, {@link FlashAttention#AUTO} resolved as far as we
   * resolve it ({@code AUTO} is left where llama.cpp chooses): what to pass another tool to compare like
   * with like.
   */
  public FlashAttention flashAttention() {
    return settings.flashAttention();
  }

  /** Context per sequence when neither the config nor a smaller training context says otherwise. */
  public static final int DEFAULT_CONTEXT_PER_SLOT = 2048;

  private final Config config;
  private final GgufMetadata metadata;
  private final ModelRef ref;
  /** The configuration resolved for this file and machine. */
  private final LlamaConfig settings;
  private final int contextPerSlot;
  private final LlamaApi api;
  private final ModelRegistry.Weights weights;
  private final Pointer model;
  private final Pointer vocab;
  private final Samplers samplers;
  /** The contexts, their queue and admission; its {@code beforeStep} is a test hook. */
  final Scheduler scheduler;
  /**
   * Runs each completion's bookkeeping and the caller's {@code whenDone} (a response-cache write, say), so
   * that no decode thread waits on it (issue 21). One daemon thread, gone when idle.
   */
  private final java.util.concurrent.ThreadPoolExecutor callbacks;
  private final int threadsPerContext;
  /** Whether prompts reuse computed prefixes (asked for, and the model's memory allows partial removal). */
  private final boolean reuse;
  private volatile List<PromptTokens.Special> specials;

  private LlamaCppModel(Config config) throws InvalidModelException {
    this.config = config;
    this.metadata = GgufMetadata.read(config.model());
    this.settings = LlamaConfig.resolve(config, metadata);
    this.contextPerSlot = settings.contextPerSlot();
    this.ref = new ModelRef(config.model().getFileName().toString(), ModelFiles.sha256(config.model()), "llama.cpp");
    this.threadsPerContext = settings.threadsPerContext();
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
    this.weights = ModelRegistry.Weights.acquire(api, config);
    this.model = weights.model;
    this.vocab = api.llama_model_get_vocab(model);
    // recurrent and hybrid models cannot drop a sequence's tail, and sliding-window models drop its head:
    // their cells cannot stand for a prefix
    boolean cellsArePrefixes = api.llama_model_is_recurrent(model) == 0 && api.llama_model_is_hybrid(model) == 0
        && api.llama_model_n_swa(model) == 0;
    this.reuse = config.prefixReuse() && cellsArePrefixes;
    int spare = reuse ? config.prefixCache() : 0;
    this.samplers = new Samplers(api, vocab, contextPerSlot, config.ignoreEos());
    // every context first, threads after: a context that cannot be made (out of memory at the k-th)
    // frees those made before it and the weights, then fails (issue 21)
    try {
      this.scheduler = new Scheduler(api, model, vocab, settings, reuse, spare, samplers, ref.id());
    } catch (InvalidModelException e) {
      ModelRegistry.Weights.release(api, weights);
      throw e;
    }
    this.callbacks = new java.util.concurrent.ThreadPoolExecutor(1, 1, 10, java.util.concurrent.TimeUnit.SECONDS,
        new LinkedBlockingQueue<>(), r -> {
          Thread t = new Thread(r, "llama-results");
          t.setDaemon(true);
          return t;
        });
    callbacks.allowCoreThreadTimeOut(true);
    scheduler.start();
    LOG.info("loaded {} ({}, {} tensors) in {} ms: {} schedule, {} context(s) x {} sequence(s) x {} tokens, "
            + "{} thread(s) per context, {} GPU layers, prefix reuse {}",
        ref.id(), metadata.architecture().orElse("unknown architecture"), metadata.tensorCount(),
        (System.nanoTime() - t0) / 1_000_000, config.schedule().id(), settings.contexts(), settings.seqsPerContext(),
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
    return ModelRegistry.shared(config, LlamaCppModel::new);
  }

  /**
   * Frees this instance's contexts and samplers, and the weights when no other configuration of the same
   * file uses them; {@link #shared} loads a new instance afterwards. Completions queued or running fail
   * ("closed"), and later calls of {@link #generate} throw {@link IllegalStateException}. Idempotent.
   */
  @Override
  public void close() {
    if (!ModelRegistry.retire(config, this, scheduler::closeOnce)) {
      return;
    }
    boolean stopped = scheduler.stop();
    synchronized (scoring) {
      if (scorer != null) {
        scorer.close();
        scorer = null;
      }
    }
    if (stopped) {
      ModelRegistry.Weights.release(api, weights);
    } else {
      // a context still in a native call: freeing the weights under it would crash the JVM
      LOG.warn("{}: a decode thread did not stop within 60 s; its context and the weights stay allocated", ref.id());
    }
  }

  /** Whether {@link #close} was called. */
  public boolean isClosed() {
    return scheduler.closed;
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
    if (scheduler.closed) {
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
        if (scheduler.closed) {
          throw new IllegalStateException(ref.id() + " was closed");
        }
        if (scorer == null) {
          int threads = LlamaConfig.threads(config);
          byte[] buf = new byte[256];
          scorer = new Scorer(api, model, vocab, config.parallel(), contextPerSlot, threads,
              settings.flashAttentionType(), reuse, t -> piece(t, buf));
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
    if (r.isChat() && metadata.chatTemplate().isEmpty()) {
      return ScoreResult.failed(r.id(), ErrorKind.NO_CHAT_TEMPLATE, "model " + ref.id()
          + " has no chat template (no tokenizer.chat_template in the GGUF file): score after a text prompt");
    }
    int[][] both;
    try {
      both = contextAndFull(r);
    } catch (IllegalArgumentException e) {
      return ScoreResult.failed(r.id(), ErrorKind.NO_CHAT_TEMPLATE, "cannot apply the chat template of " + ref.id()
          + ": " + e.getMessage());
    }
    int[] context = both[0];
    int[] full = both[1];
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

  /**
   * The tokens {@link #score} decodes for a request: the context followed by the continuation, tokenized
   * together as one text (BOS first where the vocabulary asks for it; a trailing EOS that add_special
   * appends is not part of it). The scored tokens are the last {@code tokens().size()} of these, from
   * {@link ScoreResult#contextTokens()} on. For comparing with another engine fed the same token ids.
   *
   * @throws IllegalArgumentException for chat messages the model has no (working) chat template for
   */
  public int[] scoreTokens(ScoreRequest r) {
    if (r.isChat() && metadata.chatTemplate().isEmpty()) {
      throw new IllegalArgumentException("model " + ref.id() + " has no chat template");
    }
    return contextAndFull(r)[1];
  }

  /** {@code [context, context + continuation]} of a request, as {@link #scoreTokens(ScoreRequest)} says. */
  private int[][] contextAndFull(ScoreRequest r) {
    int[] context;
    int[] full;
    if (r.isChat()) {
      String rendered = render(r.messages());
      context = tokenizeChat(r.messages(), rendered, "");
      full = tokenizeChat(r.messages(), rendered, r.continuation());
    } else {
      context = tokenize(r.prompt(), true);
      full = tokenize(r.prompt() + r.continuation(), true);
    }
    // what add_special appends after any text (an EOS, in some vocabularies) is not the continuation's
    int[] around = tokenize(new byte[0], 0, 0, true, false);
    int bos = api.llama_vocab_get_add_bos(vocab) != 0 && around.length > 0 && around[0] == api.llama_vocab_bos(vocab)
        ? 1 : 0;
    return new int[][] {withoutSuffix(context, around, bos), withoutSuffix(full, around, bos)};
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
    return new PrefixStats(scheduler.promptTokens.get(), scheduler.reusedTokens.get());
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
    return new DecodeStats(scheduler.decodeSteps.get(), scheduler.decodeTokens.get(),
        scheduler.decodeNanos.get());
  }

  /** Whether prompts reuse computed prefixes on this model. */
  public boolean prefixReuse() {
    return reuse;
  }

  /** CPU threads each context decodes with. */
  public int threadsPerContext() {
    return threadsPerContext;
  }

  /** Tokens in the model's vocabulary (token ids run from 0 to this, exclusive). */
  public int vocabSize() {
    return api.llama_vocab_n_tokens(vocab);
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
    return piece(api, vocab, token, buf);
  }

  /** A token's bytes as {@code vocab} spells it (control tokens as nothing); {@code buf} is scratch, grown if short. */
  static byte[] piece(LlamaApi api, Pointer vocab, int token, byte[] buf) {
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
    if (scheduler.closed) {
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
            sampler = samplers.sampler(p.request.params(), p.request.seed() + choice);
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
          // blocks for an admission permit; interrupted, it frees the sampler (issue 21) and throws
          scheduler.submit(p.prompt, p.request.params(), sampler, f);
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
}
