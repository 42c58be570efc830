package io.instructflow.pipelines.bench;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.llama.LlamaCppModel;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code bench generate}: completion throughput of the embedded llama.cpp engine, one request at a
 * time against all requests at once over 1, 2, 4, 8 and 16 slots, for each decoding thread count, on
 * fixed prompts with greedy decoding. It reports how many outputs differ from the first configuration
 * (llama.cpp's arithmetic is not batch-invariant, see {@link LlamaCppModel}).
 */
public final class GenerateBench {
  private GenerateBench() {}

  /** Story openings; request i is opening i mod 16 followed by its number, so all prompts differ. */
  private static final String[] OPENINGS = {
    "Once upon a time", "The little dog", "One day, Lily", "Tom and his mom", "The sun was", "In the park,",
    "Ben had a red", "There was a big", "Sue liked to", "The cat and the", "Max found a", "It was a rainy",
    "The bird sang", "Anna wanted to", "A small boy", "The old tree"
  };

  /** One configuration's measurement. */
  public record Row(int threads, String mode, int slots, int requests, long tokens, double seconds) {
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
   * Runs every configuration, for each thread count, and prints a Markdown table to {@code out}; the
   * speed-up column compares with one request at a time at the same thread count.
   */
  public static List<Row> run(Path model, int requests, int maxTokens, int[] threadCounts, int[] slotCounts,
      PrintStream out, PrintStream log) throws InvalidModelException {
    List<GenerationRequest> reqs = requests(requests, maxTokens);
    List<Row> rows = new ArrayList<>();
    List<String> reference = null;
    List<String> diverged = new ArrayList<>();
    for (int asked : threadCounts) {
      int threads = asked > 0 ? asked : Runtime.getRuntime().availableProcessors();
      LlamaCppModel.Config base = LlamaCppModel.Config.of(model).withThreads(threads)
          .withContextPerSlot(Math.max(256, maxTokens + 64));
      // warm-up: load, and let the JIT and the native allocator settle
      LlamaCppModel one = LlamaCppModel.shared(base.withParallel(1));
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
      for (int slots : slotCounts) {
        LlamaCppModel m = LlamaCppModel.shared(base.withParallel(slots));
        m.generate(requests(2, 16));
        t0 = System.nanoTime();
        List<GenerationResult> all = m.generate(reqs);
        Row row = row(threads, "all at once", slots, all, t0);
        rows.add(row);
        log.printf(Locale.ROOT, "  %d thread(s), %d slots: %s%n", threads, slots, format(row));
        diverged.add(divergence(reference, texts(all), threads + " thread(s), " + slots + " slots"));
      }
    }
    out.println("| threads | mode | slots | requests | completion tokens | wall time | tokens/s | vs one at a time |");
    out.println("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    double base = 0;
    for (Row r : rows) {
      if (r.slots() == 1 && r.mode().equals("one at a time")) {
        base = r.tokensPerSecond();
      }
      out.printf(Locale.ROOT, "| %d | %s | %d | %d | %,d | %.2f s | %,.0f | %.2f× |%n", r.threads(), r.mode(), r.slots(),
          r.requests(), r.tokens(), r.seconds(), r.tokensPerSecond(), r.tokensPerSecond() / base);
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

  private static Row row(int threads, String mode, int slots, List<GenerationResult> results, long t0) {
    double s = (System.nanoTime() - t0) / 1e9;
    long tokens = 0;
    for (GenerationResult r : results) {
      if (!r.ok()) {
        throw new IllegalStateException("request " + r.requestId() + " failed: " + r.error());
      }
      tokens += r.completionTokens();
    }
    return new Row(threads, mode, slots, results.size(), tokens, s);
  }

  private static List<String> texts(List<GenerationResult> results) {
    List<String> out = new ArrayList<>();
    results.forEach(r -> out.add(r.choices().get(0).text()));
    return out;
  }

  private static String format(Row r) {
    return String.format(Locale.ROOT, "%,d tokens in %.2f s = %,.0f tokens/s", r.tokens(), r.seconds(), r.tokensPerSecond());
  }
}
