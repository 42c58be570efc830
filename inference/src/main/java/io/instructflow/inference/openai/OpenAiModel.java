package io.instructflow.inference.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelUnusableException;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;

/**
 * A model behind an OpenAI-compatible HTTP API (vLLM, TGI, SGLang, llama.cpp's server, OpenAI, or
 * instructflow's own {@code serve}): text requests go to {@code /completions}, chat requests to
 * {@code /chat/completions}, where the server applies its model's chat template.
 *
 * <p>At most {@code concurrency} requests are in flight; callers block beyond that. A request that gets
 * 429, a 5xx, a timeout or a connection error is retried up to {@code maxRetries} times with jittered
 * exponential backoff (full jitter, doubling from {@code backoff}, at most 60 s, or the server's
 * {@code Retry-After} when it sends one); any other 4xx fails at once. A request that still fails
 * becomes a failed result ({@code REJECTED} for a 4xx, {@code UNAVAILABLE} otherwise), except 401, 403
 * and 404: those say that no request can succeed (a wrong key, a wrong endpoint or model), so
 * {@link #generate} throws a {@link ModelUnusableException} and every later call fails at once without
 * sending anything. {@code timeout} bounds each attempt as a whole (connecting, waiting, reading the
 * body), and a response body over {@code maxResponseBytes} is refused. A response with fewer choices
 * than the request's {@code n} is a failure (so it is not cached). The API key is read from the
 * environment variable named in the config and is sent only in the {@code Authorization} header:
 * never logged, never part of an error message.
 */
public final class OpenAiModel implements LanguageModel {
  /**
   * Settings.
   *
   * @param baseUrl the API root, e.g. {@code http://127.0.0.1:8080/v1}
   * @param modelName the model name the server knows
   * @param apiKeyEnv name of the environment variable holding the API key, or null for none
   * @param concurrency most requests in flight
   * @param maxRetries retries after the first attempt
   * @param timeout per-attempt timeout, for the whole exchange (body included)
   * @param backoff first backoff delay
   * @param maxResponseBytes the largest response body read
   */
  public record Config(String baseUrl, String modelName, String apiKeyEnv, int concurrency, int maxRetries,
      Duration timeout, Duration backoff, long maxResponseBytes) implements java.io.Serializable {
    /** The default response cap: 32 MiB, far above n completions of any context. */
    public static final long MAX_RESPONSE_BYTES = 32L << 20;

    public Config(String baseUrl, String modelName, String apiKeyEnv, int concurrency, int maxRetries, Duration timeout,
        Duration backoff) {
      this(baseUrl, modelName, apiKeyEnv, concurrency, maxRetries, timeout, backoff, MAX_RESPONSE_BYTES);
    }

    public Config {
      if (maxResponseBytes < 1) {
        throw new IllegalArgumentException("maxResponseBytes must be >= 1, got " + maxResponseBytes);
      }
      Objects.requireNonNull(baseUrl, "baseUrl");
      Objects.requireNonNull(modelName, "modelName");
      Objects.requireNonNull(timeout, "timeout");
      Objects.requireNonNull(backoff, "backoff");
      URI u = URI.create(baseUrl);
      if (u.getScheme() == null || !(u.getScheme().equals("http") || u.getScheme().equals("https"))) {
        throw new IllegalArgumentException("endpoint must be an http(s) URL, got '" + baseUrl + "'");
      }
      baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
      if (concurrency < 1 || maxRetries < 0) {
        throw new IllegalArgumentException("concurrency must be >= 1 and maxRetries >= 0");
      }
    }

    /** Defaults: no key, 8 in flight, 5 retries, 120 s per attempt, backoff from 500 ms. */
    public static Config of(String baseUrl, String modelName) {
      return new Config(baseUrl, modelName, null, 8, 5, Duration.ofSeconds(120), Duration.ofMillis(500));
    }

    public Config withApiKeyEnv(String env) {
      return new Config(baseUrl, modelName, env, concurrency, maxRetries, timeout, backoff, maxResponseBytes);
    }

    public Config withConcurrency(int c) {
      return new Config(baseUrl, modelName, apiKeyEnv, c, maxRetries, timeout, backoff, maxResponseBytes);
    }

    public Config withRetries(int r, Duration first) {
      return new Config(baseUrl, modelName, apiKeyEnv, concurrency, r, timeout, first, maxResponseBytes);
    }

    public Config withTimeout(Duration t) {
      return new Config(baseUrl, modelName, apiKeyEnv, concurrency, maxRetries, t, backoff, maxResponseBytes);
    }

    public Config withMaxResponseBytes(long max) {
      return new Config(baseUrl, modelName, apiKeyEnv, concurrency, maxRetries, timeout, backoff, max);
    }
  }

  private final Config config;
  private final String apiKey;
  private final HttpClient http;
  private final ExecutorService pool;
  private final AtomicInteger attempts = new AtomicInteger();
  /** Set by the first 401, 403 or 404: every later request fails at once with it. */
  private volatile ModelUnusableException unusable;
  private volatile String identity;

  public OpenAiModel(Config config) {
    this.config = config;
    if (config.apiKeyEnv() != null) {
      String k = System.getenv(config.apiKeyEnv());
      if (k == null || k.isBlank()) {
        throw new IllegalArgumentException("environment variable " + config.apiKeyEnv() + " (the API key) is not set");
      }
      this.apiKey = k;
    } else {
      this.apiKey = null;
    }
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();
    AtomicInteger n = new AtomicInteger();
    this.pool = Executors.newFixedThreadPool(config.concurrency(), r -> {
      Thread t = new Thread(r, "openai-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  @Override
  public ModelRef ref() {
    return new ModelRef(config.modelName(), null, "openai");
  }

  /**
   * Whether the model can still serve requests: false once a server answered 401, 403 or 404, after which
   * every request fails at once.
   */
  public boolean usable() {
    return unusable == null;
  }

  /** HTTP attempts made so far (retries included). */
  public int attempts() {
    return attempts.get();
  }

  @Override
  public List<GenerationResult> generate(List<GenerationRequest> batch) {
    return generate(batch, (i, r) -> {});
  }

  @Override
  public List<GenerationResult> generate(List<GenerationRequest> batch, BiConsumer<Integer, GenerationResult> whenDone) {
    List<Future<GenerationResult>> fs = new ArrayList<>();
    for (int i = 0; i < batch.size(); i++) {
      final int index = i;
      fs.add(pool.submit(() -> {
        GenerationResult r = call(batch.get(index));
        whenDone.accept(index, r);
        return r;
      }));
    }
    return results(fs);
  }

  /**
   * The tasks' results in order. A model made unusable (401, 403, 404) is thrown again from the caller's
   * thread; any other task failure becomes an {@link IllegalStateException}.
   */
  private static <T> List<T> results(List<Future<T>> fs) {
    List<T> out = new ArrayList<>();
    try {
      for (Future<T> f : fs) {
        out.add(f.get());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof ModelUnusableException m) {
        throw new ModelUnusableException(m.getMessage());
      }
      throw new IllegalStateException(e.getCause());
    }
    return out;
  }

  /**
   * What the answers depend on: the endpoint, the served name, and the server's own entry for the
   * model in {@code GET /models}, without the fields that change from call to call ({@code created},
   * which vLLM sets to the time of the call, and vLLM's {@code permission} list with its fresh ids). Our
   * {@code serve} puts the model file's SHA-256 and the engine build there, so a model swapped behind
   * the same name gets another identity. The entry is the one whose {@code id} is the served name, else
   * the only one listed (llama.cpp's server lists its file under any name); a server without
   * {@code /models} (404) or without a matching entry is known by endpoint and name alone. Asked once.
   *
   * @throws ModelUnusableException on 401 or 403, or when the server cannot be asked after the retries
   */
  @Override
  public String identity() {
    String id = identity;
    if (id == null) {
      synchronized (this) {
        if (identity == null) {
          identity = fetchIdentity();
        }
        id = identity;
      }
    }
    return id;
  }

  private String fetchIdentity() {
    ObjectNode out = Json.mapper().createObjectNode();
    out.put("backend", "openai");
    out.put("endpoint", config.baseUrl());
    out.put("model", config.modelName());
    String why;
    try {
      Tried t = send(() -> HttpRequest.newBuilder(URI.create(config.baseUrl() + "/models")).GET());
      Response resp = t.response();
      int code = resp == null ? 0 : resp.status();
      if (code == 401 || code == 403) {
        throw unusable(code, resp.body(), "/models");
      }
      if (code == 404) {
        out.put("listed", false);
        return Json.line(out);
      }
      if (code == 200) {
        JsonNode card = card(resp.body());
        if (card == null) {
          out.put("listed", false);
        } else {
          out.set("card", card);
        }
        return Json.line(out);
      }
      why = resp == null ? t.error() : "HTTP " + code + ": " + errorMessage(resp.body());
    } catch (CappedBody.TooLarge e) {
      why = e.getMessage();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while asking " + config.baseUrl() + "/models", e);
    }
    throw new ModelUnusableException("cannot ask " + config.baseUrl() + "/models which model it serves (needed to "
        + "key the response cache and check a resumed run): " + why);
  }

  /** The stable fields of the server's entry for the served name, keys sorted; null when it has none. */
  private JsonNode card(String body) {
    JsonNode data;
    try {
      data = Json.mapper().readTree(body).path("data");
    } catch (IOException e) {
      return null;
    }
    if (!data.isArray()) {
      return null;
    }
    JsonNode pick = null;
    for (JsonNode d : data) {
      if (config.modelName().equals(d.path("id").asText(null))) {
        pick = d;
      }
    }
    if (pick == null && data.size() == 1) {
      pick = data.get(0);
    }
    if (pick == null || !pick.isObject()) {
      return null;
    }
    java.util.TreeMap<String, JsonNode> sorted = new java.util.TreeMap<>();
    pick.fields().forEachRemaining(f -> sorted.put(f.getKey(), f.getValue()));
    sorted.remove("created");
    sorted.remove("permission");
    ObjectNode card = Json.mapper().createObjectNode();
    sorted.forEach(card::set);
    return card;
  }

  private ModelUnusableException unusable(int code, String body, String path) {
    String why = switch (code) {
      case 401 -> "the server refused the API key" + (config.apiKeyEnv() == null
          ? " (none was sent: name the variable holding it with --api-key-env)"
          : " read from " + config.apiKeyEnv());
      case 403 -> "the API key read from " + config.apiKeyEnv() + " may not use this model or endpoint";
      default -> "the server has no such endpoint or model (check --endpoint, which ends in /v1, and --model-name)";
    };
    return new ModelUnusableException(config.baseUrl() + path + " answered HTTP " + code + " (" + errorMessage(body)
        + "): " + why + "; no request can succeed, so the run stops");
  }

  /** A response: status, body (at most maxResponseBytes), Retry-After in seconds or -1. */
  private record Response(int status, String body, long retryAfter) {}

  /**
   * One HTTP exchange under the whole-attempt timeout, the body read into memory up to the cap.
   *
   * @throws IOException for a connection error, a timeout or a body over the cap, with a message for a person
   */
  private Response exchange(HttpRequest.Builder b) throws IOException, InterruptedException {
    b.timeout(config.timeout());
    if (apiKey != null) {
      b.header("Authorization", "Bearer " + apiKey);
    }
    attempts.incrementAndGet();
    CappedBody[] body = new CappedBody[1];
    java.util.concurrent.CompletableFuture<HttpResponse<String>> f = http.sendAsync(b.build(), info -> {
      body[0] = new CappedBody(config.maxResponseBytes());
      return body[0];
    });
    try {
      HttpResponse<String> r = f.get(config.timeout().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
      return new Response(r.statusCode(), r.body(),
          r.headers().firstValue("Retry-After").map(OpenAiModel::seconds).orElse(-1L));
    } catch (java.util.concurrent.TimeoutException e) {
      f.cancel(true);
      if (body[0] != null) {
        body[0].cancel();
      }
      throw new HttpTimeoutException("timed out after " + config.timeout().toMillis() + " ms (the whole exchange)");
    } catch (ExecutionException e) {
      Throwable c = e.getCause();
      if (c instanceof HttpTimeoutException) {
        throw new HttpTimeoutException("timed out after " + config.timeout().toMillis() + " ms");
      }
      if (c instanceof CappedBody.TooLarge t) {
        throw t;
      }
      throw new IOException("connection failed: " + c.getClass().getSimpleName()
          + (c.getMessage() == null ? "" : " " + c.getMessage()), c);
    }
  }

  /** A UTF-8 body read up to a cap; over it the stream is cancelled and the exchange fails. */
  private static final class CappedBody implements HttpResponse.BodySubscriber<String> {
    static final class TooLarge extends IOException {
      TooLarge(String m) {
        super(m);
      }
    }

    private final long max;
    private final java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
    private final java.util.concurrent.CompletableFuture<String> result = new java.util.concurrent.CompletableFuture<>();
    private volatile java.util.concurrent.Flow.Subscription subscription;

    CappedBody(long max) {
      this.max = max;
    }

    void cancel() {
      java.util.concurrent.Flow.Subscription s = subscription;
      if (s != null) {
        s.cancel();
      }
    }

    @Override
    public java.util.concurrent.CompletionStage<String> getBody() {
      return result;
    }

    @Override
    public void onSubscribe(java.util.concurrent.Flow.Subscription s) {
      subscription = s;
      s.request(Long.MAX_VALUE);
    }

    @Override
    public void onNext(List<java.nio.ByteBuffer> items) {
      if (result.isDone()) {
        return;
      }
      for (java.nio.ByteBuffer bb : items) {
        if (buf.size() + (long) bb.remaining() > max) {
          cancel();
          result.completeExceptionally(new TooLarge("response body over the " + max + "-byte limit"));
          return;
        }
        byte[] b = new byte[bb.remaining()];
        bb.get(b);
        buf.write(b, 0, b.length);
      }
    }

    @Override
    public void onError(Throwable t) {
      result.completeExceptionally(t);
    }

    @Override
    public void onComplete() {
      result.complete(buf.toString(java.nio.charset.StandardCharsets.UTF_8));
    }
  }

  /** The JSON body of a request. */
  ObjectNode body(GenerationRequest r) {
    ObjectNode b = Json.mapper().createObjectNode();
    b.put("model", config.modelName());
    if (r.isChat()) {
      ArrayNode msgs = b.putArray("messages");
      for (Message m : r.messages()) {
        msgs.addObject().put("role", m.role()).put("content", m.content());
      }
    } else {
      b.put("prompt", r.prompt());
    }
    b.put("max_tokens", r.params().maxTokens());
    b.put("temperature", r.params().temperature());
    b.put("top_p", r.params().topP());
    if (r.params().topK() > 0) {
      b.put("top_k", r.params().topK());
    }
    b.put("n", r.params().n());
    b.put("seed", r.seed());
    // penalties only when on, so that a server without them is sent what it always was
    r.params().penalties().forEach(b::put);
    if (!r.params().stop().isEmpty()) {
      ArrayNode stop = b.putArray("stop");
      r.params().stop().forEach(stop::add);
    }
    return b;
  }

  private GenerationResult call(GenerationRequest r) {
    if (r.params().grammar() != null) {
      return GenerationResult.failed(r.id(), r.isChat() ? null : r.prompt(), GenerationResult.ErrorKind.REJECTED,
          "grammar-constrained decoding needs the embedded engine (--model GGUF); the OpenAI API has no grammar");
    }
    String path = r.isChat() ? "/chat/completions" : "/completions";
    Posted p = post(path, Json.line(body(r)));
    if (p.ok() == null) {
      return GenerationResult.failed(r.id(), r.prompt(), p.kind(), p.error());
    }
    try {
      return parse(r, Json.mapper().readTree(p.ok().body()));
    } catch (IOException | RuntimeException e) {
      return GenerationResult.failed(r.id(), r.prompt(), ErrorKind.REJECTED, "unreadable response: " + e.getMessage());
    }
  }

  /** The 200 answer to a POST, or the kind of failure and why. */
  private record Posted(Response ok, ErrorKind kind, String error) {}

  /** The outcome of {@link #send}: the first answer that is not retried, or (response null) why none came. */
  private record Tried(Response response, String error) {}

  /**
   * Sends a request under the retry policy every call shares (the identity's GET and every POST):
   * connection errors, timeouts, 429 and 5xx are retried with capped backoff (or as {@code Retry-After}
   * says), at most {@code maxRetries} times; any other answer is returned for the caller to judge. A
   * model found unusable before an attempt (by another request) stops it.
   *
   * @param request a fresh request for each attempt
   * @throws CappedBody.TooLarge for a body over the cap (not retried: it would be as large again)
   * @throws ModelUnusableException when the model was found unusable
   */
  private Tried send(java.util.function.Supplier<HttpRequest.Builder> request) throws CappedBody.TooLarge,
      InterruptedException {
    String lastError = "no attempt";
    long retryAfter = -1;
    for (int attempt = 0; attempt <= config.maxRetries(); attempt++) {
      if (attempt > 0) {
        sleep(attempt, retryAfter);
      }
      retryAfter = -1;
      ModelUnusableException stop = unusable;
      if (stop != null) {
        throw stop;
      }
      Response resp;
      try {
        resp = exchange(request.get());
      } catch (CappedBody.TooLarge e) {
        throw e;
      } catch (IOException e) {
        lastError = e.getMessage();
        continue;
      }
      int code = resp.status();
      if (code == 429 || code >= 500) {
        lastError = "HTTP " + code + ": " + errorMessage(resp.body());
        retryAfter = resp.retryAfter();
        continue;
      }
      return new Tried(resp, null);
    }
    return new Tried(null, lastError + " (after " + (config.maxRetries() + 1) + " attempts)");
  }

  /**
   * POSTs a JSON body with the retry policy of {@link #send}; 401, 403 and 404 make the model unusable
   * (thrown, and every later request fails at once); other 4xx fail the request.
   */
  private Posted post(String path, String body) {
    Tried t;
    try {
      t = send(() -> HttpRequest.newBuilder(URI.create(config.baseUrl() + path))
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(body)));
    } catch (CappedBody.TooLarge e) {
      return new Posted(null, ErrorKind.REJECTED, e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return new Posted(null, ErrorKind.UNAVAILABLE, "interrupted");
    }
    Response resp = t.response();
    if (resp == null) {
      return new Posted(null, ErrorKind.UNAVAILABLE, t.error());
    }
    int code = resp.status();
    if (code == 200) {
      return new Posted(resp, null, null);
    }
    if (code == 401 || code == 403 || code == 404) {
      ModelUnusableException u = unusable(code, resp.body(), path);
      unusable = u;
      throw u;
    }
    String error = "HTTP " + code + ": " + errorMessage(resp.body());
    ErrorKind kind = error.contains("context") && code == 400 ? ErrorKind.PROMPT_TOO_LONG : ErrorKind.REJECTED;
    return new Posted(null, kind, error);
  }

  /**
   * Scores continuations through the legacy completions API (issue 22): the context and continuation as one
   * prompt, {@code max_tokens} 0, {@code echo} and {@code logprobs}, as OpenAI's older models, vLLM and our
   * {@code serve} answer. The continuation's tokens are those that end after the context's last character
   * (by the answer's {@code text_offset}); a server that gives no log-probability for one of them fails the
   * request. Chat contexts need the server's template applied to a prompt, which this API cannot ask for:
   * they fail, as do servers without echo (llama.cpp's own server among them). Known limit: where a
   * tokenizer splits one character into byte tokens (a CJK character outside a small vocabulary), token
   * texts and character offsets no longer line up and the boundary can be misplaced; the embedded engine
   * ({@link io.instructflow.inference.llama.LlamaCppModel#score}) splits by token ids and has no such limit.
   */
  @Override
  public List<ScoreResult> score(List<ScoreRequest> batch) {
    List<Future<ScoreResult>> fs = new ArrayList<>();
    for (ScoreRequest r : batch) {
      fs.add(pool.submit(() -> scoreOne(r)));
    }
    return results(fs);
  }

  private ScoreResult scoreOne(ScoreRequest r) {
    if (r.isChat()) {
      return ScoreResult.failed(r.id(), ErrorKind.REJECTED, "scoring after chat messages needs the embedded engine "
          + "(--model GGUF): the completions API cannot apply a server's chat template");
    }
    ObjectNode b = Json.mapper().createObjectNode();
    b.put("model", config.modelName());
    b.put("prompt", r.prompt() + r.continuation());
    b.put("max_tokens", 0);
    b.put("echo", true);
    b.put("logprobs", r.topLogprobs());
    b.put("temperature", 0);
    Posted p = post("/completions", Json.line(b));
    if (p.ok() == null) {
      return ScoreResult.failed(r.id(), p.kind(), p.error());
    }
    try {
      return parseScore(r, Json.mapper().readTree(p.ok().body()));
    } catch (IOException | RuntimeException e) {
      return ScoreResult.failed(r.id(), ErrorKind.REJECTED, "unreadable response: " + e.getMessage());
    }
  }

  /** The continuation's tokens from an echoed completion's {@code logprobs}. */
  static ScoreResult parseScore(ScoreRequest r, JsonNode resp) {
    JsonNode l = resp.path("choices").path(0).path("logprobs");
    JsonNode tokens = l.path("tokens");
    JsonNode values = l.path("token_logprobs");
    JsonNode offsets = l.path("text_offset");
    JsonNode tops = l.path("top_logprobs");
    if (!tokens.isArray() || !values.isArray() || !offsets.isArray() || tokens.size() != values.size()
        || tokens.size() != offsets.size()) {
      return ScoreResult.failed(r.id(), ErrorKind.REJECTED, "the server sent no prompt log-probabilities (it needs "
          + "echo with logprobs on /v1/completions)");
    }
    int promptChars = r.prompt().codePointCount(0, r.prompt().length());
    String text = resp.path("choices").path(0).path("text").asText(r.prompt() + r.continuation());
    int textChars = text.codePointCount(0, text.length());
    List<ScoreResult.TokenLogprob> out = new ArrayList<>();
    int context = 0;
    for (int i = 0; i < tokens.size(); i++) {
      String t = tokens.get(i).asText();
      // a token ends where the next begins (a prefix space a tokenizer adds has no place in the text)
      int end = i + 1 < tokens.size() ? offsets.get(i + 1).asInt() : textChars;
      if (end <= promptChars) {
        context++;
        continue;
      }
      JsonNode v = values.get(i);
      if (!v.isNumber()) {
        return ScoreResult.failed(r.id(), ErrorKind.REJECTED, "the server gave no log-probability for token " + i
            + " ('" + t + "') of the continuation");
      }
      List<ScoreResult.Alternative> alts = new ArrayList<>();
      JsonNode top = tops.path(i);
      if (top.isObject()) {
        top.fields().forEachRemaining(e -> alts.add(new ScoreResult.Alternative(e.getKey(), e.getValue().asDouble())));
        alts.sort((a, c) -> Double.compare(c.logprob(), a.logprob()));
      }
      out.add(new ScoreResult.TokenLogprob(t, t.getBytes(StandardCharsets.UTF_8), v.asDouble(), alts));
    }
    return ScoreResult.ok(r.id(), context, out);
  }

  private static long seconds(String v) {
    try {
      return Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private void sleep(int attempt, long retryAfterSeconds) {
    long capMillis = 60_000;
    long delay;
    if (retryAfterSeconds >= 0) {
      delay = Math.min(capMillis, retryAfterSeconds * 1000);
    } else {
      long ceiling = Math.min(capMillis, config.backoff().toMillis() << Math.min(20, attempt - 1));
      delay = ThreadLocalRandom.current().nextLong(ceiling + 1);
    }
    try {
      Thread.sleep(delay);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static String errorMessage(String body) {
    try {
      JsonNode n = Json.mapper().readTree(body);
      JsonNode m = n.path("error").path("message");
      if (m.isTextual()) {
        return m.asText();
      }
    } catch (IOException | RuntimeException e) {
      // not JSON: fall through to the raw text
    }
    return body.length() > 300 ? body.substring(0, 300) + "..." : body;
  }

  private static GenerationResult parse(GenerationRequest r, JsonNode resp) {
    JsonNode choices = resp.path("choices");
    int n = choices.size();
    if (n == 0) {
      return GenerationResult.failed(r.id(), r.prompt(), ErrorKind.REJECTED, "response has no choices");
    }
    if (n < r.params().n()) {
      return GenerationResult.failed(r.id(), r.prompt(), ErrorKind.REJECTED, "response has " + n + " choice(s) for n = "
          + r.params().n());
    }
    Completion[] out = new Completion[n];
    int completionTokens = resp.path("usage").path("completion_tokens").asInt(0);
    for (JsonNode c : choices) {
      int i = c.path("index").asInt(0);
      String text = r.isChat() ? c.path("message").path("content").asText("") : c.path("text").asText("");
      String fr = c.path("finish_reason").asText("stop");
      FinishReason reason = "length".equals(fr) ? FinishReason.LENGTH : FinishReason.STOP;
      // usage counts all choices together; per choice it is exact for n = 1, an even share otherwise
      out[Math.max(0, Math.min(n - 1, i))] = new Completion(text, reason, n == 1 ? completionTokens : completionTokens / n);
    }
    return GenerationResult.ok(r.id(), r.prompt(), resp.path("usage").path("prompt_tokens").asInt(0), List.of(out));
  }
}
