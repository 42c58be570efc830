package io.instructflow.inference.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.llama.LlamaCppModel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * {@code bench generate --against DIR}: our engine and llama.cpp's own tools (built from the same
 * sources by {@code bin/build-llama build SRC DIR --tools}) on the same GGUF, thread count and flash
 * attention setting, in one run:
 * <ul>
 *   <li>prefill tokens/s for each prompt length: ours one sequence with a prompt of that many tokens
 *       and one output token (prefix reuse off), llama-bench's {@code -p N -n 0};
 *   <li>decode tokens/s at each sequence count: ours the batched schedule with as many requests as
 *       sequences, each a short prompt and {@code gen} greedy tokens, timed over its pure decoding
 *       steps ({@link LlamaCppModel#decodeStats}: the steps that carry no prompt token, sampling
 *       included, which llama-batched-bench, decoding fixed tokens, does not pay), and
 *       llama-batched-bench's {@code speed_tg} for the same prompt and output lengths, which also times
 *       its decoding steps only. The log also gives ours over whole requests, prompts included. llama-batched-bench never stops early; a random-weight model may sample an
 *       end-of-generation token, so ours counts the tokens it really produced.
 * </ul>
 */
public final class PeerBench {
  private PeerBench() {}

  /** What to compare. */
  public record Plan(Path model, Path tools, int threads, int[] promptLengths, int[] sequences, int prompt, int gen,
      LlamaCppModel.FlashAttention flashAttention, int gpuLayers, int repetitions, int mixRequests, int mixSlots,
      long mixSeed) {}

  /** Prompt families of the realistic mix. */
  static final int MIX_FAMILIES = 4;

  /** One comparison: ours and llama.cpp's tokens per second. */
  public record Row(String what, double ours, double theirs) {
    double ratio() {
      return ours / theirs;
    }
  }

  /** Runs both and prints a Markdown table of the ratios to {@code out}, progress to {@code log}. */
  public static List<Row> run(Plan p, PrintStream out, PrintStream log) throws InvalidModelException, IOException,
      InterruptedException {
    Path bench = tool(p.tools(), "llama-bench");
    Path batched = tool(p.tools(), "llama-batched-bench");
    List<Row> rows = new ArrayList<>();
    int maxPrompt = 0;
    for (int n : p.promptLengths()) {
      maxPrompt = Math.max(maxPrompt, n);
    }
    LlamaCppModel.Config base = LlamaCppModel.Config.of(p.model()).withThreads(p.threads()).withGpuLayers(p.gpuLayers())
        .withFlashAttention(p.flashAttention());
    LlamaCppModel one = LlamaCppModel.shared(base.withContextPerSlot(maxPrompt + 16).withPrefixReuse(false, 0));
    // the setting ours resolved (auto is off on the CPU for narrow heads), so that both run the same kernels
    String fa = one.flashAttention().name().toLowerCase(Locale.ROOT);
    log.printf(Locale.ROOT, "  flash attention for both: %s%n", fa);
    for (int n : p.promptLengths()) {
      String text = promptOf(one, n);
      int tokens = one.countTokens(text) + 1;
      one.generate(List.of(GenerationRequest.text("warm", text, SamplingParams.greedy(1), 0)));
      double sum = 0;
      for (int r = 0; r < p.repetitions(); r++) {
        long t0 = System.nanoTime();
        GenerationResult g = one.generate(List.of(GenerationRequest.text("p" + r, text, SamplingParams.greedy(1), 0)))
            .get(0);
        check(g);
        double s = (System.nanoTime() - t0) / 1e9;
        sum += tokens / s;
      }
      double ours = sum / p.repetitions();
      String theirs = runTool(List.of(bench.toString(), "-m", p.model().toString(), "-t", String.valueOf(p.threads()),
          "-p", String.valueOf(n), "-n", "0", "-fa", fa, "-ngl", String.valueOf(p.gpuLayers()),
          "-r", String.valueOf(p.repetitions()), "-o", "json"), p.tools());
      double ts = avgTs(theirs);
      Row row = new Row("prefill tokens/s, " + n + "-token prompt (ours " + tokens + ")", ours, ts);
      rows.add(row);
      log.printf(Locale.ROOT, "  %s: ours %.1f tokens/s, llama-bench %.1f tokens/s%n", row.what(), ours, ts);
    }
    StringBuilder npl = new StringBuilder();
    for (int s : p.sequences()) {
      npl.append(npl.length() == 0 ? "" : ",").append(s);
    }
    int ctx = p.prompt() + p.gen() + 16;
    String batchedOut = runTool(List.of(batched.toString(), "-m", p.model().toString(), "-t", String.valueOf(p.threads()),
        "-tb", String.valueOf(p.threads()), "-c", String.valueOf(ctx * max(p.sequences())), "-b", "512", "-ub", "512",
        "-npp", String.valueOf(p.prompt()), "-ntg", String.valueOf(p.gen()), "-npl", npl.toString(), "-fa", fa,
        "-ngl", String.valueOf(p.gpuLayers()), "--output-format", "jsonl"), p.tools());
    for (int s : p.sequences()) {
      double theirs = speedTg(batchedOut, s);
      LlamaCppModel m = LlamaCppModel.shared(base.withContextPerSlot(ctx).withParallel(s)
          .withSchedule(LlamaCppModel.Schedule.BATCHED).withPrefixReuse(false, 0));
      String text = promptOf(m, p.prompt());
      List<GenerationRequest> reqs = new ArrayList<>();
      for (int i = 0; i < s; i++) {
        // each prompt differs in its first token, so nothing could be shared even with reuse on
        reqs.add(GenerationRequest.text("d" + i, (char) ('A' + i % 26) + text.substring(1), SamplingParams.greedy(p.gen()),
            0));
      }
      m.generate(reqs.subList(0, 1));
      LlamaCppModel.DecodeStats before = m.decodeStats();
      long t0 = System.nanoTime();
      List<GenerationResult> done = m.generate(reqs);
      double sec = (System.nanoTime() - t0) / 1e9;
      LlamaCppModel.DecodeStats steps = m.decodeStats().since(before);
      long produced = 0;
      for (GenerationResult g : done) {
        check(g);
        produced += g.completionTokens();
      }
      Row row = new Row(String.format(Locale.ROOT, "decode tokens/s, %d sequence(s) (ours %,d of %,d tokens)", s, produced,
          (long) s * p.gen()), steps.tokensPerSecond(), theirs);
      rows.add(row);
      log.printf(Locale.ROOT, "  %s: ours %.1f tokens/s over %,d decoding steps (%.1f over whole requests, prompts "
              + "included), llama-batched-bench %.1f tokens/s%n", row.what(), row.ours(), steps.steps(), produced / sec,
          theirs);
    }
    if (p.mixRequests() > 0) {
      rows.add(mix(p, base, fa, log));
    }
    out.println("| measurement | ours | llama.cpp | ours / llama.cpp |");
    out.println("| --- | ---: | ---: | ---: |");
    for (Row r : rows) {
      out.printf(Locale.ROOT, "| %s | %s | %s | %.2f |%n", r.what(), rate(r.ours()), rate(r.theirs()), r.ratio());
    }
    return rows;
  }

  /**
   * Requests/s for the realistic mix ({@link RequestMix}): all requests at once into our batched schedule
   * (prefix reuse on, as by default) and into llama-server (continuous batching and its prompt cache, as
   * by default) with the same slots, greedy, end-of-generation ignored so that every request decodes
   * its full output length.
   */
  private static Row mix(Plan p, LlamaCppModel.Config base, String fa, PrintStream log) throws InvalidModelException,
      IOException, InterruptedException {
    LlamaCppModel m = LlamaCppModel.shared(base.withSchedule(LlamaCppModel.Schedule.BATCHED)
        .withParallel(p.mixSlots()).withContextPerSlot(RequestMix.CONTEXT).withIgnoreEos(true));
    long trained = m.metadata().contextLength().orElse((long) RequestMix.CONTEXT);
    int maxPrompt = RequestMix.maxPrompt(trained);
    if (maxPrompt < RequestMix.MAX_PREFIX + RequestMix.MAX_TAIL) {
      log.printf(Locale.ROOT, "  realistic mix: the model was trained on %,d tokens of context, which llama-server "
          + "does not exceed per slot: prompts of at most %,d tokens%n", trained, maxPrompt);
    }
    List<RequestMix.Item> items = RequestMix.build(m, p.mixRequests(), MIX_FAMILIES, p.mixSeed(), maxPrompt);
    long promptTokens = 0;
    long outputTokens = 0;
    List<GenerationRequest> reqs = new ArrayList<>();
    for (RequestMix.Item it : items) {
      promptTokens += it.promptTokens();
      outputTokens += it.maxTokens();
      reqs.add(GenerationRequest.text(it.id(), it.prompt(), SamplingParams.greedy(it.maxTokens()), 0));
    }
    log.printf(Locale.ROOT, "  realistic mix: %d requests in %d prompt families, %,d prompt tokens, %,d output tokens, "
        + "%d slots%n", items.size(), MIX_FAMILIES, promptTokens, outputTokens, p.mixSlots());
    long t0 = System.nanoTime();
    List<GenerationResult> done = m.generate(reqs);
    double ours = items.size() / ((System.nanoTime() - t0) / 1e9);
    for (int i = 0; i < done.size(); i++) {
      check(done.get(i));
      if (done.get(i).completionTokens() != items.get(i).maxTokens()) {
        throw new IllegalStateException(items.get(i).id() + ": " + done.get(i).completionTokens() + " of "
            + items.get(i).maxTokens() + " tokens with end-of-generation ignored");
      }
    }
    log.printf(Locale.ROOT, "  realistic mix, ours: %.3f requests/s (%,d of %,d prompt tokens reused)%n", ours,
        m.prefixStats().reusedTokens(), m.prefixStats().promptTokens());
    double theirs = LlamaServer.mix(tool(p.tools(), "llama-server"), p, fa, items, log);
    Row row = new Row(String.format(Locale.ROOT, "realistic mix requests/s, %d requests, %d slots", items.size(),
        p.mixSlots()), ours, theirs);
    log.printf(Locale.ROOT, "  %s: ours %.3f, llama-server %.3f%n", row.what(), ours, theirs);
    return row;
  }

  /** A rate with three decimals below 10 (requests/s), one above (tokens/s). */
  static String rate(double x) {
    return String.format(Locale.ROOT, x < 10 ? "%.3f" : "%,.1f", x);
  }

  private static int max(int[] xs) {
    int m = 1;
    for (int x : xs) {
      m = Math.max(m, x);
    }
    return m;
  }

  private static void check(GenerationResult g) {
    if (!g.ok()) {
      throw new IllegalStateException("request " + g.requestId() + " failed: " + g.error());
    }
  }

  /** A text that the model's tokenizer cuts into {@code tokens} tokens with its BOS (or as near as words allow). */
  static String promptOf(LlamaCppModel m, int tokens) {
    String[] words = {"the", "little", "dog", "ran", "to", "a", "big", "red", "ball", "and", "then", "sat", "down"};
    StringBuilder b = new StringBuilder("Once");
    int i = 0;
    while (m.countTokens(b.toString()) + 1 < tokens) {
      b.append(' ').append(words[i++ % words.length]);
    }
    return b.toString();
  }

  static Path tool(Path dir, String name) {
    for (Path p : List.of(dir.resolve("bin").resolve(name), dir.resolve(name))) {
      if (Files.isExecutable(p)) {
        return p;
      }
    }
    throw new IllegalArgumentException("no " + name + " in " + dir + " or " + dir.resolve("bin")
        + ": build it with bin/build-llama build SRC " + dir + " --tools");
  }

  /** llama-bench's mean tokens/s from its {@code -o json} output (one test). */
  static double avgTs(String out) throws IOException {
    int at = out.indexOf('[');
    if (at < 0) {
      throw new IOException("llama-bench printed no JSON: " + out);
    }
    JsonNode tests = new ObjectMapper().readTree(out.substring(at));
    if (tests.size() != 1 || !tests.get(0).has("avg_ts")) {
      throw new IOException("expected one llama-bench test with avg_ts, got: " + tests);
    }
    return tests.get(0).get("avg_ts").asDouble();
  }

  /** llama-batched-bench's decode tokens/s at {@code pl} sequences from its {@code --output-format jsonl} lines. */
  static double speedTg(String out, int pl) throws IOException {
    for (String line : out.split("\n")) {
      if (line.startsWith("{")) {
        JsonNode j = new ObjectMapper().readTree(line);
        if (j.path("pl").asInt() == pl) {
          return j.get("speed_tg").asDouble();
        }
      }
    }
    throw new IOException("llama-batched-bench printed no result for " + pl + " sequences: " + out);
  }

  /** Runs a tool with its libraries beside it; its standard output, or an exception with its error output. */
  private static String runTool(List<String> cmd, Path libs) throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(cmd);
    String ld = System.getenv("LD_LIBRARY_PATH");
    pb.environment().put("LD_LIBRARY_PATH", libs.toAbsolutePath() + (ld == null ? "" : ":" + ld));
    Path err = Files.createTempFile("peer-bench", ".log");
    pb.redirectError(err.toFile());
    Process proc = pb.start();
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    try (InputStream in = proc.getInputStream()) {
      in.transferTo(buf);
    }
    if (!proc.waitFor(2, TimeUnit.HOURS) || proc.exitValue() != 0) {
      String tail = Files.readString(err, StandardCharsets.UTF_8);
      Files.deleteIfExists(err);
      throw new IOException(String.join(" ", cmd) + " failed: "
          + tail.substring(Math.max(0, tail.length() - 2000)));
    }
    Files.deleteIfExists(err);
    return buf.toString(StandardCharsets.UTF_8);
  }
}
