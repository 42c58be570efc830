package io.instructflow.inference.llama;

import de.kherud.llama.InferenceParameters;
import de.kherud.llama.LlamaModel;
import de.kherud.llama.ModelParameters;
import de.kherud.llama.Pair;
import de.kherud.llama.args.LogFormat;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelFiles;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.function.BiConsumer;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * llama.cpp in-process (through {@code de.kherud:llama}), for GGUF models.
 *
 * <p>Batching is llama.cpp's continuous batching: the model is loaded with {@code parallel} slots, each
 * with its own share of the context, and every completion in flight occupies one slot; llama.cpp
 * decodes the tokens of all busy slots together, and a slot that finishes takes the next waiting
 * completion at once. Requests from every caller in the JVM (DoFn instances, server threads) share the
 * slots. At most {@code parallel + queue} completions are submitted at a time; further callers block
 * until one finishes, so memory stays bounded whatever the input size.
 *
 * <p>One instance per model configuration per JVM ({@link #shared}): loading is expensive, and the
 * binding's {@code close()} does not release the native context (measured), so models stay loaded
 * until the JVM exits. The binding also leaves a non-daemon native thread: programs using this class
 * must end with {@code System.exit}.
 *
 * <p>The binding returns a completion's text only. Its token count is taken by tokenizing prompt plus
 * completion and subtracting the prompt's tokens (exact unless the tokenizer merges across the
 * boundary), and the finish reason is {@code length} when that count reaches {@code maxTokens}, else
 * {@code stop}. Prompt caching between requests is off, so a completion does not depend on what a
 * slot served before.
 *
 * <p>Reproducibility: with one slot every request is decoded alone, so its text is a function of the
 * request only (whatever the order, batching, thread count of callers or runner; tested). With several
 * slots it is not: llama.cpp's arithmetic is not batch-invariant, so which other requests share a
 * decode step (which depends on timing) changes floating-point rounding, and on a near tie the next
 * token. Measured on stories260K, 32 greedy requests of 256 tokens: 1 or 2 of 32 outputs differed
 * between two 16-slot runs, and from one-at-a-time decoding. Hence one slot is the default.
 */
public final class LlamaCppModel implements LanguageModel {
  private static final Logger LOG = LoggerFactory.getLogger(LlamaCppModel.class);
  private static final Map<Config, LlamaCppModel> SHARED = new HashMap<>();
  private static volatile boolean loggerSet;

  /**
   * How to load a model.
   *
   * @param model the GGUF file
   * @param parallel slots (completions decoded together), 1 to 256
   * @param contextPerSlot context tokens per slot (prompt plus completion); 0 picks
   *     min(the model's training context, {@value #DEFAULT_CONTEXT_PER_SLOT})
   * @param threads CPU threads for decoding; 0 means one per available core
   * @param gpuLayers layers to offload to the GPU (0 = CPU only; needs a CUDA build of the native library)
   * @param queue completions that may wait for a slot beyond those decoding
   * @param verboseNative pass llama.cpp's own log through (to stderr) instead of silencing it
   */
  public record Config(Path model, int parallel, int contextPerSlot, int threads, int gpuLayers, int queue,
      boolean verboseNative) {
    public Config {
      Objects.requireNonNull(model, "model");
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
    }

    /** Defaults: one slot (reproducible, see the class comment), automatic context, one thread per core, CPU only. */
    public static Config of(Path model) {
      return new Config(model, 1, 0, 0, 0, 16, false);
    }

    public Config withParallel(int p) {
      return new Config(model, p, contextPerSlot, threads, gpuLayers, queue, verboseNative);
    }

    public Config withContextPerSlot(int c) {
      return new Config(model, parallel, c, threads, gpuLayers, queue, verboseNative);
    }

    public Config withThreads(int t) {
      return new Config(model, parallel, contextPerSlot, t, gpuLayers, queue, verboseNative);
    }

    public Config withGpuLayers(int g) {
      return new Config(model, parallel, contextPerSlot, threads, g, queue, verboseNative);
    }

    public Config withVerboseNative(boolean v) {
      return new Config(model, parallel, contextPerSlot, threads, gpuLayers, queue, v);
    }
  }

  /** Context per slot when neither the config nor a smaller training context says otherwise. */
  public static final int DEFAULT_CONTEXT_PER_SLOT = 2048;

  private final Config config;
  private final GgufMetadata metadata;
  private final ModelRef ref;
  private final int contextPerSlot;
  private final LlamaModel model;
  private final ExecutorService workers;
  private final Semaphore admission;

  private LlamaCppModel(Config config) throws InvalidModelException {
    this.config = config;
    this.metadata = GgufMetadata.read(config.model());
    long trained = metadata.contextLength().orElse((long) DEFAULT_CONTEXT_PER_SLOT);
    this.contextPerSlot = config.contextPerSlot() > 0 ? config.contextPerSlot()
        : (int) Math.min(trained, DEFAULT_CONTEXT_PER_SLOT);
    this.ref = new ModelRef(config.model().getFileName().toString(), ModelFiles.sha256(config.model()), "llama.cpp");
    int threads = config.threads() > 0 ? config.threads() : Runtime.getRuntime().availableProcessors();
    silenceNativeLog(config.verboseNative());
    ModelParameters p = new ModelParameters()
        .setModel(config.model().toString())
        .setParallel(config.parallel())
        .setCtxSize(contextPerSlot * config.parallel())
        .setThreads(threads)
        .setThreadsBatch(threads)
        .enableJinja();
    // flash attention skips the KV cells of other slots instead of multiplying them by a mask: on the
    // test model it raised 16-slot throughput from 1,700 to 3,450 tokens/s and made fewer greedy
    // outputs differ from one-at-a-time decoding (2 of 32 instead of 4)
    p.enableFlashAttn();
    if (config.gpuLayers() > 0) {
      // only when asked: the flag alone makes a CPU-only build print warnings
      p.setGpuLayers(config.gpuLayers());
    }
    if (!config.verboseNative()) {
      p.disableLog();
    }
    long t0 = System.nanoTime();
    try {
      this.model = new LlamaModel(p);
    } catch (RuntimeException | UnsatisfiedLinkError e) {
      // the binding's LlamaException is not public
      throw new InvalidModelException("llama.cpp could not load " + config.model() + ": " + e.getMessage());
    }
    LOG.info("loaded {} ({}, {} tensors) in {} ms: {} slots x {} context tokens, {} threads, {} GPU layers",
        ref.id(), metadata.architecture().orElse("unknown architecture"), metadata.tensorCount(),
        (System.nanoTime() - t0) / 1_000_000, config.parallel(), contextPerSlot, threads, config.gpuLayers());
    AtomicInteger n = new AtomicInteger();
    this.workers = Executors.newFixedThreadPool(config.parallel(), r -> {
      Thread t = new Thread(r, "llama-slot-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.admission = new Semaphore(config.parallel() + config.queue());
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

  private static void silenceNativeLog(boolean verbose) {
    if (!verbose && !loggerSet) {
      synchronized (SHARED) {
        if (!loggerSet) {
          LlamaModel.setLogger(LogFormat.TEXT, (level, msg) -> {});
          loggerSet = true;
        }
      }
    }
  }

  @Override
  public ModelRef ref() {
    return ref;
  }

  /** The GGUF metadata of the loaded file. */
  public GgufMetadata metadata() {
    return metadata;
  }

  /** Context tokens per slot. */
  public int contextPerSlot() {
    return contextPerSlot;
  }

  /** Tokens of a text, as the model's tokenizer splits it (no BOS). */
  public int countTokens(String text) {
    return model.encode(text).length;
  }

  @Override
  public List<GenerationResult> generate(List<GenerationRequest> batch) {
    return generate(batch, (i, r) -> {});
  }

  @Override
  public List<GenerationResult> generate(List<GenerationRequest> batch, BiConsumer<Integer, GenerationResult> whenDone) {
    // render and check every request first, then submit all their completions; each request's result
    // is assembled (and reported) by whichever of its completions finishes last
    List<Prepared> prepared = new ArrayList<>(batch.size());
    for (GenerationRequest r : batch) {
      prepared.add(prepare(r));
    }
    GenerationResult[] results = new GenerationResult[batch.size()];
    List<Future<?>> futures = new ArrayList<>();
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
          admission.acquire();
          try {
            futures.add(workers.submit(() -> {
              try {
                choices[choice] = complete(p.rendered, p.promptTokens - 1, p.request, p.request.seed() + choice);
              } catch (RuntimeException e) {
                synchronized (error) {
                  error[0] = String.valueOf(e.getMessage());
                }
              } finally {
                admission.release();
              }
              if (remaining.decrementAndGet() == 0) {
                GenerationResult r;
                synchronized (error) {
                  r = error[0] == null ? GenerationResult.ok(p.request.id(), p.rendered, p.promptTokens, List.of(choices))
                      : GenerationResult.failed(p.request.id(), p.rendered, ErrorKind.REJECTED, "llama.cpp: " + error[0]);
                }
                results[index] = r;
                whenDone.accept(index, r);
              }
            }));
          } catch (RuntimeException e) {
            admission.release();
            throw e;
          }
        }
      }
      for (Future<?> f : futures) {
        try {
          f.get();
        } catch (ExecutionException e) {
          throw new IllegalStateException("generation worker failed", e.getCause());
        }
      }
      return List.of(results);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while generating", e);
    }
  }

  private record Prepared(GenerationRequest request, String rendered, int promptTokens, GenerationResult failure) {}

  private Prepared prepare(GenerationRequest r) {
    String rendered;
    if (r.isChat()) {
      if (metadata.chatTemplate().isEmpty()) {
        return new Prepared(r, null, 0, GenerationResult.failed(r.id(), null, ErrorKind.NO_CHAT_TEMPLATE,
            "model " + ref.id() + " has no chat template (no tokenizer.chat_template in the GGUF file): "
                + "send text prompts, or use a model with a chat template"));
      }
      try {
        rendered = render(r.messages());
      } catch (RuntimeException e) {
        return new Prepared(r, null, 0, GenerationResult.failed(r.id(), null, ErrorKind.NO_CHAT_TEMPLATE,
            "cannot apply the chat template of " + ref.id() + ": " + e.getMessage()));
      }
    } else {
      rendered = r.prompt();
    }
    // one more token for the BOS llama.cpp adds in front of the prompt
    int promptTokens = countTokens(rendered) + 1;
    int need = promptTokens + r.params().maxTokens();
    if (need > contextPerSlot) {
      return new Prepared(r, rendered, promptTokens, GenerationResult.failed(r.id(), rendered, ErrorKind.PROMPT_TOO_LONG,
          "prompt of " + promptTokens + " tokens plus max_tokens " + r.params().maxTokens() + " exceeds the "
              + contextPerSlot + "-token context of a slot"));
    }
    return new Prepared(r, rendered, promptTokens, null);
  }

  /** The messages through the model's own chat template, with the generation prompt appended. */
  private String render(List<Message> messages) {
    String system = null;
    List<Pair<String, String>> turns = new ArrayList<>();
    for (int i = 0; i < messages.size(); i++) {
      Message m = messages.get(i);
      if (m.role().equals("system") && i == 0) {
        system = m.content();
      } else if (m.role().equals("user") || m.role().equals("assistant")) {
        turns.add(new Pair<>(m.role(), m.content()));
      } else {
        throw new IllegalArgumentException("role '" + m.role() + "' at turn " + i
            + " is not supported by the llama.cpp backend (system first, then user and assistant)");
      }
    }
    return model.applyTemplate(new InferenceParameters("").setMessages(system, turns));
  }

  /** One completion; {@code promptTokens} is the prompt's token count without BOS (from {@link #prepare}). */
  private Completion complete(String prompt, int promptTokens, GenerationRequest r, long seed) {
    InferenceParameters ip = new InferenceParameters(prompt)
        .setNPredict(r.params().maxTokens())
        .setTemperature((float) r.params().temperature())
        .setTopP((float) r.params().topP())
        .setTopK(r.params().topK())
        .setSeed((int) seed)
        .setCachePrompt(false);
    if (!r.params().stop().isEmpty()) {
      ip.setStopStrings(r.params().stop().toArray(new String[0]));
    }
    if (r.params().grammar() != null) {
      ip.setGrammar(r.params().grammar());
    }
    // non-streaming: with streaming, every token wakes every thread waiting on the binding's result
    // queue (measured on the test model, 1 decoding thread: 16 streaming slots gave 301 tokens/s, 8
    // non-streaming slots 2,785). The binding returns no token count, so the completion's tokens are
    // counted by tokenizing prompt + completion and subtracting the prompt's
    String out = model.complete(ip);
    int tokens = model.encode(prompt + out).length - promptTokens;
    FinishReason reason = tokens >= r.params().maxTokens() ? FinishReason.LENGTH : FinishReason.STOP;
    return new Completion(out, reason, Math.max(0, Math.min(tokens, r.params().maxTokens())));
  }
}
