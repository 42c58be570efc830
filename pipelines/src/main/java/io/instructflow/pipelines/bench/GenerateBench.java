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
 * time against all requests at once over 1, 2, 4, 8 and 16 slots, on fixed prompts with greedy
 * decoding (so every configuration generates the same text, which the benchmark checks).
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
  public record Row(String mode, int slots, int requests, long tokens, double seconds) {
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

  /** Runs every configuration and prints a Markdown table to {@code out}. */
  public static List<Row> run(Path model, int requests, int maxTokens, int threads, int[] slotCounts, PrintStream out,
      PrintStream log) throws InvalidModelException {
    List<GenerationRequest> reqs = requests(requests, maxTokens);
    LlamaCppModel.Config base = LlamaCppModel.Config.of(model).withThreads(threads)
        .withContextPerSlot(Math.max(256, maxTokens + 64));
    List<Row> rows = new ArrayList<>();
    List<String> reference = null;

    // warm-up: load, and let the JIT and the native allocator settle
    LlamaCppModel one = LlamaCppModel.shared(base.withParallel(1));
    one.generate(requests(2, 16));
    long t0 = System.nanoTime();
    List<GenerationResult> seq = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      seq.addAll(one.generate(List.of(r)));
    }
    rows.add(row("sequential", 1, seq, t0));
    reference = texts(seq);
    log.printf(Locale.ROOT, "  sequential: %s%n", format(rows.get(rows.size() - 1)));
    for (int slots : slotCounts) {
      LlamaCppModel m = LlamaCppModel.shared(base.withParallel(slots));
      m.generate(requests(2, 16));
      t0 = System.nanoTime();
      List<GenerationResult> all = m.generate(reqs);
      Row row = row("all at once", slots, all, t0);
      rows.add(row);
      log.printf(Locale.ROOT, "  %d slots: %s%n", slots, format(row));
      if (!texts(all).equals(reference)) {
        throw new IllegalStateException("greedy outputs differ between sequential and " + slots + " slots");
      }
    }
    double seqRate = rows.get(0).tokensPerSecond();
    out.println("| mode | slots | requests | completion tokens | wall time | tokens/s | vs sequential |");
    out.println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (Row r : rows) {
      out.printf(Locale.ROOT, "| %s | %d | %d | %,d | %.2f s | %,.0f | %.2f× |%n", r.mode(), r.slots(), r.requests(),
          r.tokens(), r.seconds(), r.tokensPerSecond(), r.tokensPerSecond() / seqRate);
    }
    return rows;
  }

  private static Row row(String mode, int slots, List<GenerationResult> results, long t0) {
    double s = (System.nanoTime() - t0) / 1e9;
    long tokens = 0;
    for (GenerationResult r : results) {
      if (!r.ok()) {
        throw new IllegalStateException("request " + r.requestId() + " failed: " + r.error());
      }
      tokens += r.completionTokens();
    }
    return new Row(mode, slots, results.size(), tokens, s);
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
