package io.instructflow.inference.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.inference.llama.LlamaCppModel;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Our token log-probabilities against llama.cpp's own computation on the same GGUF file (issue 22, item 1):
 * the embedded engine scores the given continuations ({@link LlamaCppModel#score}, all requests in one
 * call, batched with prefix reuse as the {@code score} command sends them), and llama.cpp's
 * {@code llama-server} from a tools folder is asked for the probability of each of the same tokens.
 *
 * <p>How the server is made to report the probability of <em>our</em> token: this llama-server release
 * has no prompt log-probabilities ({@code echo} is refused: "Only no echo is supported"), and
 * {@code n_probs} reports the top-N of each <em>generated</em> position. So each scored token {@code t_k}
 * is one request: the prompt is the token ids {@code t_0..t_(k-1)} (ours, BOS included, so both engines
 * see the same ids; a token-id prompt is used as is), one token is generated, and {@code n_probs} is the
 * whole vocabulary, so the list of the first generated position holds every token's log-probability
 * given {@code t_0..t_(k-1)}, {@code t_k} among them. {@code post_sampling_probs} stays off: these are
 * the softmax of the raw logits (llama-server's {@code get_token_probabilities}), before any sampler.
 * {@code cache_prompt} is off, so every request evaluates its whole prefix in one batch, as llama-perplexity
 * and our scorer do, rather than one new token on a cached prefix (one-row kernels round differently).
 * The server reports {@code log(p)} of a single-precision {@code p}, so a token of probability below
 * about 1e-38 reads as a large negative number or minus infinity; such tokens are counted apart.
 *
 * <p>The two runs share the thread count and flash-attention setting (ours as resolved for the model,
 * passed to the server's {@code -fa}); the server runs one slot with {@code -b 2048 -ub 512}, our
 * scorer's batch size.
 */
public final class LogprobCheck {
  private static final ObjectMapper JSON = new ObjectMapper();

  private LogprobCheck() {}

  /** Context tokens per sequence of our scorer: longer requests fail here and are listed, not compared. */
  public static final int CONTEXT = 2048;

  /**
   * What to compare.
   *
   * @param model the GGUF file
   * @param tools llama.cpp's tools folder: DIR/bin/llama-server or DIR/llama-server, its libraries in DIR
   * @param threads CPU threads of both engines, at least 1
   * @param parallel sequences our scorer decodes together, 1 to 256
   * @param flashAttention ours; the server gets the setting it resolves to for the model
   */
  public record Plan(Path model, Path tools, int threads, int parallel, LlamaCppModel.FlashAttention flashAttention) {
    public Plan {
      Objects.requireNonNull(model, "model");
      Objects.requireNonNull(tools, "tools");
      Objects.requireNonNull(flashAttention, "flashAttention");
      if (threads < 1) {
        throw new IllegalArgumentException("threads must be >= 1, got " + threads);
      }
      if (parallel < 1 || parallel > 256) {
        throw new IllegalArgumentException("parallel must be in [1, 256], got " + parallel);
      }
    }
  }

  /**
   * One scored token, both engines' log-probabilities (natural log).
   *
   * @param requestId the request it belongs to
   * @param position its index in the request's tokens (BOS is 0)
   * @param token its id
   * @param piece its text (bytes that are not whole UTF-8 characters show as U+FFFD)
   * @param ours our log-probability
   * @param theirs llama-server's; NaN when the server did not list the token
   */
  public record Token(String requestId, int position, int token, String piece, double ours, double theirs) {
    /** |ours − theirs|; NaN when the server did not list the token. */
    public double delta() {
      return Math.abs(ours - theirs);
    }

    /** Whether the server's single-precision probability underflowed (its log below log of 1e-37). */
    public boolean underflow() {
      return theirs < UNDERFLOW;
    }
  }

  /** Server log-probabilities below this are a float probability at the edge of its range (see the class comment). */
  static final double UNDERFLOW = Math.log(1e-37);

  /**
   * The outcome.
   *
   * @param tokens every scored token of every request, in request order
   * @param requests requests compared
   * @param sameTokenization requests whose text llama-server's {@code /tokenize} splits into our tokens
   * @param failed requests our engine failed (with their errors), not compared
   */
  public record Report(List<Token> tokens, int requests, int sameTokenization, List<String> failed) {
    public Report {
      tokens = List.copyOf(tokens);
      failed = List.copyOf(failed);
    }

    /** Tokens the server listed with a probability inside float's range: the ones compared. */
    public List<Token> compared() {
      return tokens.stream().filter(t -> !Double.isNaN(t.theirs()) && !t.underflow()).toList();
    }

    /** Tokens missing from the server's list (should be none: the list is the whole vocabulary). */
    public long missing() {
      return tokens.stream().filter(t -> Double.isNaN(t.theirs())).count();
    }

    /** Tokens whose server probability underflowed single precision. */
    public long underflows() {
      return tokens.stream().filter(Token::underflow).count();
    }

    /** The compared token with the largest |Δ|, if any. */
    public java.util.Optional<Token> worst() {
      return compared().stream().max(java.util.Comparator.comparingDouble(Token::delta));
    }

    /** max |Δ logprob| over the compared tokens (0 for none). */
    public double maxAbsDelta() {
      return worst().map(Token::delta).orElse(0.0);
    }

    /** mean |Δ logprob| over the compared tokens (0 for none). */
    public double meanAbsDelta() {
      return compared().stream().mapToDouble(Token::delta).average().orElse(0);
    }
  }

  /**
   * The built-in texts: English and Chinese prompts with continuations, a continuation alone (after BOS)
   * and a long shared prefix, as IFD and the rubrics score them.
   */
  public static List<ScoreRequest> samples() {
    String story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. "
        + "One day, she saw a big, red ball in the park. She ran to the ball and kicked it. The ball went up high "
        + "in the sky. Lily laughed and clapped her hands. Her friend Tom came to play with her. They played with the "
        + "ball all day long. When the sun went down, Lily and Tom were tired but happy.";
    return List.of(
        ScoreRequest.text("en-story", "Once upon a time, there was a little girl named Lily.",
            " She liked to play in the park with her dog."),
        ScoreRequest.text("en-instruction", "Give three tips for staying healthy.\n\n",
            "1. Eat a balanced diet. 2. Exercise regularly. 3. Get enough sleep."),
        ScoreRequest.text("zh-instruction", "请写一首关于春天的短诗。\n\n", "春风吹绿了柳树，小鸟在枝头歌唱。"),
        ScoreRequest.text("zh-mixed", "Tom had a big red ball.", " 他很高兴。Then he ran home 🏃 fast."),
        ScoreRequest.text("alone", "", "The cat sat on the mat and looked at the sun."),
        ScoreRequest.text("zh-alone", "", "小狗很开心，它在花园里跑来跑去。"),
        ScoreRequest.text("long-prefix", story + "\n\n", "The next day, they went to the park again."));
  }

  /**
   * Scores {@code requests} (text prompts only) with our engine and with llama-server, and reports every
   * token's two log-probabilities. Progress lines go to {@code log}.
   *
   * @throws IllegalArgumentException for a chat request, or a tools folder without llama-server
   * @throws IOException when llama-server fails to start or answers an error
   */
  public static Report run(Plan p, List<ScoreRequest> requests, PrintStream log)
      throws InvalidModelException, IOException, InterruptedException {
    for (ScoreRequest r : requests) {
      if (r.isChat()) {
        throw new IllegalArgumentException("request " + r.id() + ": only text prompts are compared (the server "
            + "would render chat messages with its own template)");
      }
    }
    Path server = PeerBench.tool(p.tools(), "llama-server");
    LlamaCppModel.Config cfg = LlamaCppModel.Config.of(p.model()).withThreads(p.threads()).withParallel(p.parallel())
        .withFlashAttention(p.flashAttention()).withContextPerSlot(CONTEXT);
    try (LlamaCppModel ours = LlamaCppModel.shared(cfg)) {
      long t0 = System.nanoTime();
      List<ScoreResult> results = ours.score(requests);
      log.printf(Locale.ROOT, "  ours: %d requests scored in %.2f s%n", requests.size(), (System.nanoTime() - t0) / 1e9);
      int[][] ids = new int[requests.size()][];
      int longest = 1;
      for (int i = 0; i < requests.size(); i++) {
        ids[i] = ours.scoreTokens(requests.get(i));
        longest = Math.max(longest, ids[i].length);
      }
      String fa = switch (ours.flashAttention()) {
        case ON -> "on";
        case OFF -> "off";
        case AUTO -> "auto";
      };
      List<String> args = List.of("-m", p.model().toString(), "-t", String.valueOf(p.threads()), "-tb",
          String.valueOf(p.threads()), "-c", String.valueOf(Math.max(longest + 8, 256)), "-np", "1", "-b", "2048",
          "-ub", "512", "-fa", fa, "-ngl", "0");
      List<Token> tokens = new ArrayList<>();
      List<String> failed = new ArrayList<>();
      int same = 0;
      try (LlamaServer srv = LlamaServer.start(server, args)) {
        long t1 = System.nanoTime();
        for (int i = 0; i < requests.size(); i++) {
          ScoreRequest r = requests.get(i);
          ScoreResult got = results.get(i);
          if (!got.ok()) {
            failed.add(r.id() + ": " + got.error());
            continue;
          }
          if (Arrays.equals(ids[i], serverTokens(srv, r.prompt() + r.continuation()))) {
            same++;
          }
          int from = got.contextTokens();
          for (int k = 0; k < got.tokens().size(); k++) {
            int pos = from + k;
            JsonNode answer = srv.post("/completion", completionBody(Arrays.copyOf(ids[i], pos), ours.vocabSize()));
            ScoreResult.TokenLogprob t = got.tokens().get(k);
            tokens.add(new Token(r.id(), pos, ids[i][pos], t.token(), t.logprob(), logprobOf(answer, ids[i][pos])));
          }
        }
        log.printf(Locale.ROOT, "  llama-server: %d token positions asked in %.2f s%n", tokens.size(),
            (System.nanoTime() - t1) / 1e9);
      }
      return new Report(tokens, requests.size(), same, failed);
    }
  }

  /** The body of one position's request: the prefix as token ids, one greedy token, the whole vocabulary listed. */
  static ObjectNode completionBody(int[] prefix, int vocab) {
    ObjectNode body = JSON.createObjectNode();
    ArrayNode prompt = body.putArray("prompt");
    for (int t : prefix) {
      prompt.add(t);
    }
    body.put("n_predict", 1);
    body.put("n_probs", vocab);
    body.put("post_sampling_probs", false);
    body.put("temperature", 0);
    body.put("cache_prompt", false);
    return body;
  }

  /**
   * The log-probability of {@code token} at the first generated position of a {@code /completion} answer
   * ({@code completion_probabilities[0].top_logprobs[].{id, logprob}}); NaN when it is not listed.
   *
   * @throws IOException when the answer has no such list (an older or newer server, or probabilities not asked)
   */
  static double logprobOf(JsonNode completion, int token) throws IOException {
    JsonNode first = completion.path("completion_probabilities").path(0);
    JsonNode top = first.path("top_logprobs");
    if (!top.isArray()) {
      throw new IOException("llama-server's answer has no completion_probabilities[0].top_logprobs (pre-sampling "
          + "log-probabilities): " + abbreviate(completion.toString()));
    }
    for (JsonNode alt : top) {
      if (alt.path("id").asInt(-1) == token) {
        JsonNode lp = alt.path("logprob");
        // nlohmann::json writes a float's -inf as null
        return lp.isNumber() ? lp.asDouble() : Double.NEGATIVE_INFINITY;
      }
    }
    return Double.NaN;
  }

  private static int[] serverTokens(LlamaServer srv, String text) throws IOException, InterruptedException {
    ObjectNode body = JSON.createObjectNode();
    body.put("content", text);
    body.put("add_special", true);
    body.put("parse_special", false);
    JsonNode got = srv.post("/tokenize", body).path("tokens");
    int[] out = new int[got.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = got.get(i).asInt();
    }
    return out;
  }

  private static String abbreviate(String s) {
    return s.length() <= 300 ? s : s.substring(0, 300) + "...";
  }

  /** The report as a Markdown table per request, then the totals line. */
  public static void print(Report r, PrintStream out) {
    out.println("| request | tokens | max |Δ logprob| | mean |Δ| | Σ ours | Σ llama-server |");
    out.println("| --- | ---: | ---: | ---: | ---: | ---: |");
    List<String> groups = r.tokens().stream().map(t -> group(t.requestId())).distinct().toList();
    for (String id : groups) {
      List<Token> ts = r.compared().stream().filter(t -> group(t.requestId()).equals(id)).toList();
      out.printf(Locale.ROOT, "| %s | %d | %.3g | %.3g | %.4f | %.4f |%n", id, ts.size(),
          ts.stream().mapToDouble(Token::delta).max().orElse(0), ts.stream().mapToDouble(Token::delta).average().orElse(0),
          ts.stream().mapToDouble(Token::ours).sum(), ts.stream().mapToDouble(Token::theirs).sum());
    }
    out.printf(Locale.ROOT, "max |Δ logprob| over %d tokens of %d requests: %.3g (mean %.3g)", r.compared().size(),
        r.requests(), r.maxAbsDelta(), r.meanAbsDelta());
    r.worst().ifPresent(w -> out.printf(Locale.ROOT, "; largest at %s position %d, token %d '%s': ours %.6f, "
        + "llama-server %.6f", w.requestId(), w.position(), w.token(), printable(w.piece()), w.ours(), w.theirs()));
    out.println();
    out.printf(Locale.ROOT, "same tokenization (llama-server /tokenize): %d of %d; not listed by the server: %d; "
        + "float underflow (not compared): %d; failed here: %d%n", r.sameTokenization(), r.requests() - r.failed().size(),
        r.missing(), r.underflows(), r.failed().size());
    for (String f : r.failed()) {
      out.println("  failed: " + f);
    }
  }

  /** A request's row: its id, or one row for all requests of a kind ({@code <record>/ifd/alone} and the like). */
  static String group(String requestId) {
    int at = requestId.indexOf("/ifd/");
    return at < 0 ? requestId : "records' IFD " + requestId.substring(at + "/ifd/".length());
  }

  private static String printable(String piece) {
    return new String(piece.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8).replace("\n", "\\n");
  }
}
