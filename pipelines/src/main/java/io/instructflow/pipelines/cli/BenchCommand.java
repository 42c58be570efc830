package io.instructflow.pipelines.cli;

import io.instructflow.filters.rouge.GreedyRougeFilter;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.pipelines.bench.DedupBench;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow bench}: benchmarks whose results go to docs/benchmarks.md. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks (not tests): print a Markdown table.",
    subcommands = {BenchCommand.Dedup.class, BenchCommand.Generate.class, BenchCommand.Filter.class, BenchCommand.Compose.class,
        BenchCommand.MakeModel.class, BenchCommand.Logprobs.class})
public final class BenchCommand implements Runnable {
  @Override
  public void run() {
    new picocli.CommandLine(this).usage(System.out);
  }

  /** Throughput of the embedded llama.cpp engine: sequential against 1-16 sequences, both schedules. */
  @Command(name = "generate", mixinStandardHelpOptions = true,
      description = {"Completion throughput of the embedded llama.cpp engine on fixed prompts with greedy decoding: "
          + "one request at a time, then all requests at once over each sequence count and schedule, for each thread "
          + "count; "
          + "reports how many outputs differ from the first configuration."})
  static final class Generate implements Callable<Integer> {
    @Mixin ModelFile model;

    @Option(names = "--requests", defaultValue = "32", description = "Default: ${DEFAULT-VALUE}.")
    int requests;

    @Option(names = "--max-tokens", defaultValue = "256", description = "Default: ${DEFAULT-VALUE}.")
    int maxTokens;

    @Option(names = "--threads", defaultValue = "1,0", split = ",",
        description = "Decoding thread counts to measure; 0: one per core. Default: ${DEFAULT-VALUE}.")
    int[] threads;

    @Option(names = {"--parallel", "--slots"}, defaultValue = "1,2,4,8,16", split = ",",
        description = "Sequence counts to measure. Default: ${DEFAULT-VALUE}.")
    int[] parallel;

    @Option(names = "--schedules", defaultValue = "invariant,batched", split = ",",
        description = "Schedules to measure (invariant, contexts, batched). Default: ${DEFAULT-VALUE}.")
    List<String> schedules;

    @Option(names = "--gpu-layers", defaultValue = "0",
        description = "Layers to offload to a GPU (needs a CUDA build, see docs/engine.md, GPU nodes). "
            + "Default: ${DEFAULT-VALUE}.")
    int gpuLayers;

    @Option(names = "--against", paramLabel = "DIR",
        description = "Instead: compare with llama.cpp's own llama-bench and llama-batched-bench in DIR (or DIR/bin), "
            + "built from the same sources by bin/build-llama build SRC DIR --tools: prefill tokens/s at each "
            + "--prompt-lengths, decode tokens/s at each --parallel (our batched schedule), requests/s of a realistic "
            + "mix against its llama-server, with the first --threads count, and their ratios.")
    Path against;

    @Option(names = "--prompt-lengths", defaultValue = "512,2048", split = ",",
        description = "With --against: prompt lengths of the prefill comparison. Default: ${DEFAULT-VALUE}.")
    int[] promptLengths;

    @Option(names = "--decode-prompt", defaultValue = "32",
        description = "With --against: prompt tokens of each decoding sequence. Default: ${DEFAULT-VALUE}.")
    int decodePrompt;

    @Option(names = "--flash-attn", defaultValue = "auto", paramLabel = "auto|on|off",
        description = "With --against: flash attention for both engines. Default: ${DEFAULT-VALUE}.")
    String flashAttention;

    @Option(names = "--repetitions", defaultValue = "3",
        description = "With --against: prefill repetitions averaged. Default: ${DEFAULT-VALUE}.")
    int repetitions;

    @Option(names = "--mix-requests", defaultValue = "16",
        description = "With --against: requests in the realistic mix (prompts of 300-2,500 tokens in 4 families "
            + "sharing prefixes, 64-512 output tokens, end-of-generation ignored), sent at once to our batched schedule "
            + "and to llama-server; 0 skips it. Default: ${DEFAULT-VALUE}.")
    int mixRequests;

    @Option(names = "--mix-slots", defaultValue = "8",
        description = "With --against: sequences decoded together in the realistic mix, ours and llama-server's "
            + "slots. Default: ${DEFAULT-VALUE}.")
    int mixSlots;

    @Option(names = "--mix-seed", defaultValue = "20261203",
        description = "With --against: seed of the realistic mix's prompts and lengths. Default: ${DEFAULT-VALUE}.")
    long mixSeed;

    @Override
    public Integer call() throws Exception {
      Path m = model.path();
      if (against != null) {
        int t = threads[0] > 0 ? threads[0] : Runtime.getRuntime().availableProcessors();
        var peer = new io.instructflow.inference.bench.PeerBench.Plan(m, against, t, promptLengths, parallel,
            decodePrompt, maxTokens, io.instructflow.inference.llama.LlamaCppModel.FlashAttention.parse(flashAttention),
            gpuLayers, repetitions, mixRequests, mixSlots, mixSeed);
        System.out.printf(java.util.Locale.ROOT, "bench generate --against %s: %s, %s, %d thread(s), flash attention %s%n",
            against, java.time.LocalDate.now(), m.getFileName(), t, flashAttention);
        try {
          io.instructflow.inference.bench.PeerBench.run(peer, System.out, System.err);
        } catch (io.instructflow.inference.InvalidModelException | IllegalArgumentException e) {
          throw new Main.UsageException(e.getMessage());
        }
        return 0;
      }
      var plan = new io.instructflow.inference.bench.GenerateBench.Plan(m, requests, maxTokens, threads, parallel,
          schedules.stream().map(io.instructflow.inference.llama.LlamaCppModel.Schedule::parse).toList(), gpuLayers);
      io.instructflow.inference.bench.GenerateBench.header(plan, System.out);
      try {
        io.instructflow.inference.bench.GenerateBench.run(plan, System.out, System.err);
      } catch (io.instructflow.inference.InvalidModelException e) {
        throw new Main.UsageException(e.getMessage());
      }
      return 0;
    }
  }

  /** Our token log-probabilities against llama.cpp's llama-server on the same GGUF (issue 22). */
  @Command(name = "logprobs", mixinStandardHelpOptions = true,
      description = {"Compares the embedded engine's token log-probabilities of given continuations (what score's "
          + "IFD and rubrics are made of) with llama.cpp's own llama-server from DIR on the same GGUF file: ours "
          + "batched with prefix reuse as score sends them; the server's by asking, for each scored token, for one "
          + "token after the token-id prefix with the whole vocabulary listed (n_probs, before sampling, no prompt "
          + "cache). Prints a table per request and max |delta logprob| over all tokens. Inputs: built-in English "
          + "and Chinese samples, then the IFD pairs of the first --records records of --in."})
  static final class Logprobs implements Callable<Integer> {
    @Option(names = "--against", required = true, paramLabel = "DIR",
        description = "llama.cpp's tools: DIR/bin/llama-server (or DIR/llama-server), libraries in DIR, built from "
            + "the same sources by bin/build-llama build SRC DIR --tools.")
    Path against;

    @Mixin ModelFile model;

    @Option(names = "--in", paramLabel = "PATH",
        description = "Records (any shape the pipelines read) whose IFD pairs are compared too: the response after "
            + "its instruction (text format), and alone.")
    Path in;

    @Option(names = "--records", defaultValue = "20",
        description = "With --in: how many records (with a response), from the first. Default: ${DEFAULT-VALUE}.")
    int records;

    @Option(names = "--no-samples", description = "Leave out the built-in samples.")
    boolean noSamples;

    @Option(names = "--threads", defaultValue = "1", description = "CPU threads of both engines. Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(names = "--parallel", defaultValue = "4",
        description = "Sequences our scorer decodes together. Default: ${DEFAULT-VALUE}.")
    int parallel;

    @Option(names = "--flash-attn", defaultValue = "auto", paramLabel = "auto|on|off",
        description = "Ours; llama-server gets what it resolves to for the model. Default: ${DEFAULT-VALUE}.")
    String flashAttention;

    @Override
    public Integer call() throws Exception {
      Path m = model.path();
      if (records < 0) {
        throw new Main.UsageException("--records must be >= 0, got " + records);
      }
      List<io.instructflow.inference.ScoreRequest> reqs = new ArrayList<>();
      if (!noSamples) {
        reqs.addAll(io.instructflow.inference.bench.LogprobCheck.samples());
      }
      if (in != null) {
        if (!Files.exists(in)) {
          throw new Main.UsageException("--in " + in + " does not exist");
        }
        reqs.addAll(io.instructflow.pipelines.bench.IfdPairs.of(in, records));
      }
      if (reqs.isEmpty()) {
        throw new Main.UsageException("nothing to compare: --no-samples and no --in records");
      }
      io.instructflow.inference.bench.LogprobCheck.Plan plan;
      try {
        plan = new io.instructflow.inference.bench.LogprobCheck.Plan(m, against, threads, parallel,
            io.instructflow.inference.llama.LlamaCppModel.FlashAttention.parse(flashAttention));
      } catch (IllegalArgumentException e) {
        throw new Main.UsageException(e.getMessage());
      }
      System.out.printf(Locale.ROOT, "bench logprobs --against %s: %s, %s, %d request(s), %d thread(s), flash attention "
          + "%s%n", against, LocalDate.now(), m.getFileName(), reqs.size(), threads, flashAttention);
      io.instructflow.inference.bench.LogprobCheck.Report r;
      try {
        r = io.instructflow.inference.bench.LogprobCheck.run(plan, reqs, System.err);
      } catch (io.instructflow.inference.InvalidModelException | IllegalArgumentException e) {
        throw new Main.UsageException(e.getMessage());
      }
      io.instructflow.inference.bench.LogprobCheck.print(r, System.out);
      return 0;
    }
  }

  /** A synthetic GGUF of a real model's shape, for measuring the engine without a download. */
  @Command(name = "make-model", mixinStandardHelpOptions = true,
      description = {"Writes a Llama-architecture GGUF (v3) with seeded random weights in the shape of a real model: "
          + "tiny (a toy for tests), 1b (TinyLlama-1.1B: dim 2048, 22 layers, 32 heads, 4 KV heads, FFN 5632) or 8b "
          + "(Llama-3-8B: dim 4096, 32 layers, 32/8 heads, FFN 14336). Matrices as f16, q8_0 or q4_0 blocks, norms as "
          + "f32. The tokenizer (and so the vocabulary size) is copied from a donor GGUF. The text it generates is "
          + "noise; the compute and memory traffic per token are the shape's. Use --ignore-eos style settings (long "
          + "max tokens, no stop) when you measure with it."})
  static final class MakeModel implements Callable<Integer> {
    @Option(names = "--shape", required = true, paramLabel = "tiny|1b|8b", description = "The model shape.")
    String shape;

    @Option(names = "--type", defaultValue = "q4_0", paramLabel = "f16|q8_0|q4_0",
        description = "How the matrices are stored. Default: ${DEFAULT-VALUE}.")
    String type;

    @Option(names = "--seed", defaultValue = "1", description = "Seeds the weights. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--donor", paramLabel = "GGUF", description = "Where the tokenizer comes from. Default: "
        + "../shared/models/stories260K.gguf.")
    Path donor;

    @Option(names = "--out", required = true, paramLabel = "FILE.gguf", description = "The file to write.")
    Path out;

    @Override
    public Integer call() throws Exception {
      io.instructflow.inference.llama.SyntheticGguf.Shape sh;
      io.instructflow.inference.llama.SyntheticGguf.Type ty;
      try {
        sh = io.instructflow.inference.llama.SyntheticGguf.shape(shape);
        ty = io.instructflow.inference.llama.SyntheticGguf.Type.of(type);
      } catch (IllegalArgumentException e) {
        throw new Main.UsageException(e.getMessage());
      }
      Path d = donor != null ? donor : shared(ModelFile.DEFAULT);
      long t0 = System.nanoTime();
      long[] lastReport = {t0};
      io.instructflow.inference.llama.SyntheticGguf.Written w;
      try {
        w = io.instructflow.inference.llama.SyntheticGguf.write(sh, ty, seed, d, out, bytes -> {
          long now = System.nanoTime();
          if (now - lastReport[0] > 3_000_000_000L) {
            lastReport[0] = now;
            System.err.printf(Locale.ROOT, "  make-model: %,d MB written, %.0f s%n", bytes >> 20, (now - t0) / 1e9);
          }
        });
      } catch (io.instructflow.inference.InvalidModelException e) {
        throw new Main.UsageException(e.getMessage());
      }
      System.out.printf(Locale.ROOT, "bench make-model: %s %s seed %d, %,d parameters (vocabulary %,d from %s), %,d bytes "
          + "-> %s in %.1f s%n", sh.name(), ty.name().toLowerCase(Locale.ROOT), seed, w.parameters(), w.vocab(),
          d.getFileName(), w.bytes(), w.file(), (System.nanoTime() - t0) / 1e9);
      return 0;
    }
  }

  /**
   * {@code path} in the shared folder beside the project ({@code ../shared/PATH} from the
   * {@code instructflow.home} system property, else from the working folder): where the benchmarks find
   * their model and data when no option names them.
   */
  static Path shared(String path) {
    Path home = Paths.get(System.getProperty("instructflow.home", ".")).toAbsolutePath().normalize();
    return home.resolve("../shared/" + path).normalize();
  }

  /** The GGUF file a benchmark runs: {@code --model}, else the shared stories260K.gguf; shared by generate and logprobs. */
  static final class ModelFile {
    /** The model when none is named, in the shared folder. */
    static final String DEFAULT = "models/stories260K.gguf";

    @Option(names = "--model", paramLabel = "GGUF", description = "Default: ../shared/models/stories260K.gguf.")
    String model;

    /** The model file named, else the default. */
    Path path() {
      return model != null ? Paths.get(model) : shared(DEFAULT);
    }
  }

  /** The shared data a benchmark reads: {@code --data-dir}, else the shared folder's data/; shared by dedup and filter. */
  static final class DataDir {
    @Option(names = "--data-dir", paramLabel = "DIR", description = "Shared data (default ../shared/data beside the repository).")
    String dataDir;

    /** The folder named, else the default; not checked. */
    Path path() {
      return dataDir != null ? Paths.get(dataDir) : shared("data");
    }

    /** The folder named, else the default; a usage error when it is missing ({@link BenchCommand#sharedData}). */
    Path require() {
      return sharedData(dataDir);
    }
  }

  /** The shared data folder: {@code dataDir}, else ../shared/data beside the project; a usage error when missing. */
  static Path sharedData(String dataDir) {
    Path data = dataDir != null ? Paths.get(dataDir) : shared("data");
    if (!Files.isDirectory(data)) {
      throw new Main.UsageException("shared data not found at " + data + " (pass --data-dir)");
    }
    return data;
  }

  /** A large composed input file for the scale runs of the pipeline commands (docs/memory.md). */
  @Command(name = "compose", mixinStandardHelpOptions = true,
      description = {"Writes N records as JSON Lines: the instructions of the shared T0 and GPTeacher corpora (85,867 "
          + "records) in order, then seeded copies with word edits (as bench dedup --scale composes them), each with "
          + "the input and output of the record it was made from."})
  static final class Compose implements Callable<Integer> {
    @Option(names = "--size", defaultValue = "1000000", description = "Records. Default: ${DEFAULT-VALUE}.")
    int size;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The JSON Lines file to write.")
    Path out;

    @Option(names = "--seed", defaultValue = "20261203", description = "Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--data-dir", description = "Shared data folder. Default: ../shared/data beside the project.")
    String dataDir;

    @Override
    public Integer call() throws Exception {
      Path data = sharedData(dataDir);
      if (size < 1) {
        throw new Main.UsageException("--size must be positive, got " + size);
      }
      long t0 = System.nanoTime();
      DedupBench.composeRecords(List.of(data.resolve("corpora/t0_train_50k"), data.resolve("corpora/gpteacher")), size, seed,
          out);
      System.out.printf(Locale.ROOT, "bench compose: %,d records, %,d bytes -> %s in %.1f s%n", size, Files.size(out), out,
          (System.nanoTime() - t0) / 1e9);
      return 0;
    }
  }

  /** ROUGE-L greedy filter: ours vs the exhaustive loop, and a composed large-scale run. */
  @Command(name = "dedup", mixinStandardHelpOptions = true,
      description = {"ROUGE-L near-duplicate filter: ours (Lucene candidates, sequential and components) vs the "
          + "exhaustive all-pairs loop in the same JVM, with the same tokenizer and LCS; kept sets must be identical.",
          "With --scale N: one run of ours on N instructions composed from the corpora with seeded word edits."})
  static final class Dedup implements Callable<Integer> {
    @Mixin DataDir dataDir;

    @Option(names = "--sizes", defaultValue = "10000,20000,all", split = ",", description = "Sizes per corpus. Default: ${DEFAULT-VALUE}.")
    List<String> sizes;

    @Option(names = "--exhaustive-cap", defaultValue = "120", paramLabel = "SECONDS",
        description = "Time cap of each exhaustive run; beyond it the time is extrapolated. Default: ${DEFAULT-VALUE}.")
    double cap;

    @Option(names = "--threads", defaultValue = "2", description = "Threads of the components form (0 skips it). Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(names = "--threshold", defaultValue = "0.7") double threshold;

    @Option(names = "--scale", paramLabel = "N", description = "Instead: one run of ours on N composed instructions.")
    Integer scale;

    @Option(names = "--corpora", defaultValue = "t0,gpteacher", split = ",", description = "Corpora: t0, gpteacher. Default: ${DEFAULT-VALUE}.")
    List<String> corpora;

    @Override
    public Integer call() throws Exception {
      Path data = dataDir.require();
      Tokenizer tok = Tokenizer.named("rouge", false);
      System.out.printf(Locale.ROOT, "bench dedup: %s, %d cores, max heap %d MiB, Java %s, %s%n", LocalDate.now(),
          Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20,
          System.getProperty("java.version"), System.getProperty("os.arch"));
      if (scale != null) {
        List<String> base = new ArrayList<>();
        base.addAll(DedupBench.texts(data.resolve("corpora/t0_train_50k")));
        base.addAll(DedupBench.texts(data.resolve("corpora/gpteacher")));
        base.addAll(DedupBench.texts(data.resolve("corpora/alpagasus")));
        base.addAll(DedupBench.texts(data.resolve("corpora/code_alpaca")));
        List<String> texts = DedupBench.compose(base, scale, 20261125L);
        System.out.printf(Locale.ROOT, "composed %,d instructions from %,d real ones%n", texts.size(), base.size());
        long t0 = System.nanoTime();
        // tokens are interned: a million texts of separate token strings would not fit a 4 GB heap
        java.util.Map<String, String> pool = new java.util.HashMap<>();
        List<List<String>> tokens = new ArrayList<>(texts.size());
        for (int i = 0; i < texts.size(); i++) {
          List<String> ts = tok.tokens(texts.get(i));
          String[] in = new String[ts.size()];
          for (int k = 0; k < in.length; k++) {
            in[k] = pool.computeIfAbsent(ts.get(k), x -> x);
          }
          tokens.add(java.util.Arrays.asList(in));
          texts.set(i, null);
        }
        pool.clear();
        System.gc();
        DedupBench.resetPeaks();
        long t1 = System.nanoTime();
        long[] decided = {0};
        GreedyRougeFilter.Result r = GreedyRougeFilter.sequential(tokens, threshold, n -> {
          decided[0] += n;
          System.err.printf(Locale.ROOT, "  decided %,d of %,d, %.0f s%n", decided[0], tokens.size(), (System.nanoTime() - t1) / 1e9);
        });
        double s = (System.nanoTime() - t1) / 1e9;
        System.out.printf(Locale.ROOT, "| %,d | %,d | %.0f s (tokenize %.0f s) | %,d | %,d | %,d MiB |%n", tokens.size(), r.kept().size(), s,
            (t1 - t0) / 1e9, r.stats().candidates(), r.stats().verifications(), DedupBench.peakHeapMib());
        return 0;
      }
      System.out.println("| corpus | texts | kept | ours (sequential) | ours (components, threads) | exhaustive | speed-up | LCS ours | LCS exhaustive | peak heap |");
      System.out.println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
      for (String corpus : corpora) {
        List<String> all = switch (corpus) {
          case "t0" -> DedupBench.texts(data.resolve("corpora/t0_train_50k"));
          case "gpteacher" -> DedupBench.texts(data.resolve("corpora/gpteacher"));
          default -> throw new Main.UsageException("unknown corpus " + corpus);
        };
        for (String size : sizes) {
          int n = size.equals("all") ? all.size() : Math.min(all.size(), Integer.parseInt(size));
          DedupBench.Row r = DedupBench.run(corpus, all, n, tok, threshold, cap, threads, System.err);
          System.out.printf(Locale.ROOT, "| %s | %,d | %,d | %.1f s | %s | %s%.0f s | %.0f× | %,d | %,d | %,d MiB |%n", corpus, n, r.kept(),
              r.oursSeconds(), r.componentsSeconds() < 0 ? "-" : String.format(Locale.ROOT, "%.1f s", r.componentsSeconds()),
              r.exhaustiveExtrapolated() ? "~" : "", r.exhaustiveSeconds(), r.exhaustiveSeconds() / r.oursSeconds(),
              r.oursVerifications(), r.exhaustiveComparisons(), r.peakHeapMib());
        }
      }
      return 0;
    }
  }

  /** A filter chain: the Beam pipeline vs a plain single-thread loop with the same filter objects. */
  @Command(name = "filter", mixinStandardHelpOptions = true,
      description = {"A filter chain (default sft-default) over the T0 prompts (default): the pipeline on SparkRunner "
          + "(default local[2]) against a single-thread Java loop applying the same filters, both reading the JSON files "
          + "and writing JSON lines; the kept sets must match."})
  static final class Filter implements Callable<Integer> {
    @Mixin DataDir dataDir;

    @Option(names = "--preset", defaultValue = "sft-default", description = "Default: ${DEFAULT-VALUE}.")
    String preset;

    @Option(names = "--in", paramLabel = "PATH", description = "Input (default DATA/corpora/t0_train_50k).")
    String in;

    @Option(names = "--spark-master", defaultValue = "local[2]", description = "Default: ${DEFAULT-VALUE}.")
    String master;

    @Override
    public Integer call() throws Exception {
      Path input = in != null ? Paths.get(in) : dataDir.path().resolve("corpora/t0_train_50k");
      if (!Files.exists(input)) {
        throw new Main.UsageException("input not found: " + input + " (pass --in or --data-dir)");
      }
      Path work = Files.createTempDirectory("bench-filter");
      System.out.printf(Locale.ROOT, "bench filter: %s, %d cores, preset %s, %s, Spark %s%n", LocalDate.now(),
          Runtime.getRuntime().availableProcessors(), preset, input, master);
      io.instructflow.pipelines.bench.FilterBench.Row r = io.instructflow.pipelines.bench.FilterBench.run(input,
          io.instructflow.filters.chain.FilterChain.preset(preset), new io.instructflow.pipelines.runtime.Runner("spark", master),
          work, System.err);
      System.out.println("| records | kept | plain loop | records/s | pipeline | records/s | pipeline / loop |");
      System.out.println("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
      System.out.printf(Locale.ROOT, "| %,d | %,d | %.1f s | %,.0f | %.1f s | %,.0f | %.2f |%n", r.records(), r.kept(), r.loopSeconds(),
          r.records() / r.loopSeconds(), r.pipelineSeconds(), r.records() / r.pipelineSeconds(),
          r.pipelineSeconds() / r.loopSeconds());
      return 0;
    }
  }
}
