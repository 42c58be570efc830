package io.instructflow.inference.bench;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.llama.LlamaCppModel.Schedule;
import io.instructflow.inference.llama.NativeLibs;
import java.io.PrintStream;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@code bench generate}: completion throughput of the embedded llama.cpp engine, one request at a
 * time against all requests at once over several sequence counts and schedules, for each thread
 * count, on fixed prompts with greedy decoding. It reports how many outputs differ from the first
 * configuration: none may under {@link Schedule#INVARIANT} or {@link Schedule#CONTEXTS}.
 *
 * <p>Runs from {@code bin/instructflow bench generate}, and on its own (GPU nodes, where only this
 * module's jars travel): {@code java -cp ... io.instructflow.inference.bench.GenerateBench --model F
 * [--requests N] [--max-tokens N] [--threads 1,0] [--parallel 1,2,4,8,16] [--schedules invariant,contexts,batched]
 * [--gpu-layers N]}.
 */
public final class GenerateBench {
  private GenerateBench() {}

  /** Story openings; request i is opening i mod 16 followed by its number, so all prompts differ. */
  private static final String[] OPENINGS = {
    "Once upon a time", "The little dog", "One day, Lily", "Tom and his mom", "The sun was", "In the park,",
    "Ben had a red", "There was a big", "Sue liked to", "The cat and the", "Max found a", "It was a rainy",
    "The bird sang", "Anna wanted to", "A small boy", "The old tree"
  };

  /** What to measure. */
  public record Plan(Path model, int requests, int maxTokens, int[] threads, int[] parallel, List<Schedule> schedules,
      int gpuLayers) {}

  /** One configuration's measurement. */
  public record Row(int threads, String mode, int parallel, int requests, long tokens, double seconds) {
    double tokensPerSecond() {
      return tokens / seconds;
    }
  }

  static List<GenerationRequest> requests(int n, int maxTokens) {
    List<GenerationRequest> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(GenerationRequest.text("b" + i, OPENINGS[i % OPENINGS.length] + " " + (i + 1),
          SamplingParams.greedy(maxTokens), 0));
    }
    return out;
  }

  /**
   * Runs every configuration and prints a Markdown table to {@code out}, progress to {@code log}; the
   * last column compares with one request at a time at the same thread count.
   */
  public static List<Row> run(Plan plan, PrintStream out, PrintStream log) throws InvalidModelException {
    List<GenerationRequest> reqs = requests(plan.requests(), plan.maxTokens());
    List<Row> rows = new ArrayList<>();
    List<String> reference = null;
    List<String> diverged = new ArrayList<>();
    // one instance per thread count stays open to the end: the weights they share are loaded once for the
    // whole run (issue 21); every other configuration's contexts are freed as soon as it is measured
    List<LlamaCppModel> open = new ArrayList<>();
    try {
      for (int asked : plan.threads()) {
        int threads = asked > 0 ? asked : Runtime.getRuntime().availableProcessors();
        LlamaCppModel.Config base = LlamaCppModel.Config.of(plan.model()).withThreads(threads)
            .withContextPerSlot(Math.max(256, plan.maxTokens() + 64)).withGpuLayers(plan.gpuLayers());
        // warm-up: load, and let the JIT and the native allocator settle
        LlamaCppModel one = LlamaCppModel.shared(base.withParallel(1));
        open.add(one);
        one.generate(requests(2, 16));
        long t0 = System.nanoTime();
        List<GenerationResult> seq = new ArrayList<>();
        for (GenerationRequest r : reqs) {
          seq.addAll(one.generate(List.of(r)));
        }
        Row first = row(threads, "one at a time", 1, seq, t0);
        rows.add(first);
        log.printf(Locale.ROOT, "  %d thread(s), one at a time: %s%n", threads, format(first));
        if (reference == null) {
          reference = texts(seq);
        }
        diverged.add(divergence(reference, texts(seq), threads + " thread(s), one at a time"));
        for (Schedule schedule : plan.schedules()) {
          String mode = schedule.name().toLowerCase(Locale.ROOT);
          for (int p : plan.parallel()) {
            LlamaCppModel m = LlamaCppModel.shared(base.withParallel(p).withSchedule(schedule));
            m.generate(requests(2, 16));
            t0 = System.nanoTime();
            List<GenerationResult> all = m.generate(reqs);
            Row row = row(threads, mode, p, all, t0);
            rows.add(row);
            log.printf(Locale.ROOT, "  %d thread(s), %s, %d sequences: %s%n", threads, mode, p, format(row));
            diverged.add(divergence(reference, texts(all), threads + " thread(s), " + mode + ", " + p + " sequences"));
            if (m != one) {
              m.close();
            }
          }
        }
      }
    } finally {
      open.forEach(LlamaCppModel::close);
    }
    out.println("| threads | schedule | sequences | requests | completion tokens | wall time | tokens/s | vs one at a time |");
    out.println("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    double base = 0;
    for (Row r : rows) {
      if (r.mode().equals("one at a time")) {
        base = r.tokensPerSecond();
      }
      out.printf(Locale.ROOT, "| %d | %s | %d | %d | %,d | %.2f s | %,.0f | %.2f× |%n", r.threads(), r.mode(),
          r.parallel(), r.requests(), r.tokens(), r.seconds(), r.tokensPerSecond(), r.tokensPerSecond() / base);
    }
    out.println();
    out.println("Greedy outputs compared with the first configuration (one at a time):");
    diverged.forEach(d -> out.println("- " + d));
    return rows;
  }

  /** How many outputs differ from the reference, and where the first difference of each is. */
  private static String divergence(List<String> reference, List<String> texts, String what) {
    int differ = 0;
    int earliest = Integer.MAX_VALUE;
    for (int i = 0; i < reference.size(); i++) {
      String a = reference.get(i);
      String b = texts.get(i);
      if (!a.equals(b)) {
        differ++;
        int k = 0;
        while (k < Math.min(a.length(), b.length()) && a.charAt(k) == b.charAt(k)) {
          k++;
        }
        earliest = Math.min(earliest, k);
      }
    }
    return differ == 0 ? what + ": all " + reference.size() + " identical"
        : String.format(Locale.ROOT, "%s: %d of %d differ (earliest difference at character %d)", what, differ,
            reference.size(), earliest);
  }

  private static Row row(int threads, String mode, int parallel, List<GenerationResult> results, long t0) {
    double s = (System.nanoTime() - t0) / 1e9;
    long tokens = 0;
    for (GenerationResult r : results) {
      if (!r.ok()) {
        throw new IllegalStateException("request " + r.requestId() + " failed: " + r.error());
      }
      tokens += r.completionTokens();
    }
    return new Row(threads, mode, parallel, results.size(), tokens, s);
  }

  private static List<String> texts(List<GenerationResult> results) {
    List<String> out = new ArrayList<>();
    results.forEach(r -> out.add(r.choices().get(0).text()));
    return out;
  }

  private static String format(Row r) {
    return String.format(Locale.ROOT, "%,d tokens in %.2f s = %,.0f tokens/s", r.tokens(), r.seconds(), r.tokensPerSecond());
  }

  /** The header line both entry points print. */
  public static void header(Plan p, PrintStream out) {
    out.printf(Locale.ROOT, "bench generate: %s, %s, %d cores, %d requests x up to %d tokens, greedy, %s, Java %s%n",
        LocalDate.now(), p.model().getFileName(), Runtime.getRuntime().availableProcessors(), p.requests(), p.maxTokens(),
        p.gpuLayers() > 0 ? p.gpuLayers() + " GPU layers" : "CPU", System.getProperty("java.version"));
  }

  /** Stand-alone entry point (see the class comment). */
  public static void main(String[] args) throws Exception {
    Path model = null;
    int requests = 32;
    int maxTokens = 256;
    int[] threads = {1, 0};
    int[] parallel = {1, 2, 4, 8, 16};
    List<Schedule> schedules = List.of(Schedule.INVARIANT, Schedule.BATCHED);
    int gpuLayers = 0;
    for (int i = 0; i < args.length; i++) {
      String v = i + 1 < args.length ? args[i + 1] : null;
      switch (args[i]) {
        case "--model" -> model = Paths.get(v);
        case "--requests" -> requests = Integer.parseInt(v);
        case "--max-tokens" -> maxTokens = Integer.parseInt(v);
        case "--threads" -> threads = ints(v);
        case "--parallel" -> parallel = ints(v);
        case "--schedules" -> schedules = Arrays.stream(v.split(","))
            .map(Schedule::parse).toList();
        case "--gpu-layers" -> gpuLayers = Integer.parseInt(v);
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
      i++;
    }
    if (model == null) {
      throw new IllegalArgumentException("--model GGUF is required");
    }
    Plan plan = new Plan(model, requests, maxTokens, threads, parallel, schedules, gpuLayers);
    header(plan, System.out);
    run(plan, System.out, System.err);
    System.out.println("llama.cpp libraries: " + NativeLibs.dir() + " (" + NativeLibs.kind() + ")");
    System.exit(0);
  }

  private static int[] ints(String csv) {
    return Arrays.stream(csv.split(",")).mapToInt(s -> Integer.parseInt(s.trim())).toArray();
  }
}
