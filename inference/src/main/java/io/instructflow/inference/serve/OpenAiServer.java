package io.instructflow.inference.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.inference.Seeds;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import java.io.IOException;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OpenAI-compatible HTTP server in front of a {@link LanguageModel}: {@code GET /v1/models},
 * {@code POST /v1/completions} and {@code POST /v1/chat/completions}, as whole JSON answers or, with
 * {@code "stream": true}, as server-sent events.
 *
 * <p>Each HTTP request becomes one {@link GenerationRequest}; concurrent HTTP requests reach the model
 * concurrently, so the embedded engine decodes them in parallel. Defaults follow the OpenAI API where it has
 * them ({@code max_tokens} 16 for completions, {@code temperature} 1, {@code top_p} 1, {@code n} 1);
 * {@code seed} defaults to 0 so that an unseeded request is still reproducible; {@code top_k} is
 * accepted as vLLM and llama.cpp's server accept it. Errors use OpenAI's shape
 * {@code {"error": {"message", "type", "code"}}}: 400 for a bad body or a prompt longer than the
 * context ({@code context_length_exceeded}, also for a {@code max_tokens} no context holds), 401 without
 * the API key when there is one, 404 for an unknown path or model, 408 for headers or a body that do
 * not arrive in time, 413 for a body over {@value #MAX_BODY_BYTES} bytes (refused by its Content-Length
 * before it is read, or after that many bytes), 415 for a POST that is not {@code application/json},
 * 429 for a client over its share of connections, 431 for headers over 64 KiB, 503 when the queue is
 * full (both with {@code Retry-After}), 500 when generation fails. See {@link HttpListener} for the
 * connection limits and {@link Settings} for the numbers.
 */
public final class OpenAiServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(OpenAiServer.class);

  /**
   * How the server admits requests.
   *
   * @param apiKey the key clients must send as {@code Authorization: Bearer KEY}, or null for none (then
   *     only a loopback address may be bound)
   * @param workers requests handed to the model at once
   * @param queue requests that wait for a worker; one more gets 503 with {@code Retry-After}
   * @param perClient connections (each carries one request) open at once from one remote address; one
   *     more gets 429 with {@code Retry-After}
   * @param maxConnections connections open at once, slow readers included; one more gets 503
   * @param headerTimeout time a client has to send its request line and headers (then 408)
   * @param bodyTimeout time a client has to send its body after the headers (then 408)
   */
  public record Settings(String apiKey, int workers, int queue, int perClient, int maxConnections,
      Duration headerTimeout, Duration bodyTimeout) {
    public Settings {
      Objects.requireNonNull(headerTimeout, "headerTimeout");
      Objects.requireNonNull(bodyTimeout, "bodyTimeout");
      if (workers < 1 || queue < 0 || perClient < 1 || maxConnections < 1) {
        throw new IllegalArgumentException("serve limits: workers, per-client and max-connections must be >= 1 and "
            + "queue >= 0, got workers " + workers + ", queue " + queue + ", per-client " + perClient
            + ", max-connections " + maxConnections);
      }
      if (apiKey != null && apiKey.isBlank()) {
        throw new IllegalArgumentException("the API key is empty");
      }
    }

    /** No key; 64 queued, 32 connections per client, 128 in all, headers in 10 s, body in 60 s. */
    public static Settings defaults(int workers) {
      return new Settings(null, workers, 64, 32, 128, Duration.ofSeconds(10), Duration.ofSeconds(60));
    }

    public Settings withApiKey(String key) {
      return new Settings(key, workers, queue, perClient, maxConnections, headerTimeout, bodyTimeout);
    }

    public Settings withQueue(int q) {
      return new Settings(apiKey, workers, q, perClient, maxConnections, headerTimeout, bodyTimeout);
    }

    public Settings withConnections(int perClientMax, int max) {
      return new Settings(apiKey, workers, queue, perClientMax, max, headerTimeout, bodyTimeout);
    }

    public Settings withTimeouts(Duration header, Duration body) {
      return new Settings(apiKey, workers, queue, perClient, maxConnections, header, body);
    }
  }

  private final HttpListener listener;
  private final LanguageModel model;
  private final String modelName;
  private final Settings settings;
  private final byte[] keyDigest;
  private final Semaphore workers;
  private final AtomicInteger admitted = new AtomicInteger();
  private final AtomicLong served = new AtomicLong();
  private final AtomicLong refusedQueue = new AtomicLong();

  /** The largest request body read (8 MiB, far above any prompt a context holds); larger ones get 413. */
  public static final int MAX_BODY_BYTES = 8 << 20;

  /**
   * Starts serving with the default limits and no key.
   *
   * @param model the model
   * @param modelName the name clients send as {@code model} (and {@code /v1/models} lists)
   * @param host address to bind, e.g. 127.0.0.1 (a loopback address: there is no key)
   * @param port port, 0 for any free one
   * @param threads requests handed to the model at once
   */
  public OpenAiServer(LanguageModel model, String modelName, String host, int port, int threads) throws IOException {
    this(model, modelName, host, port, Settings.defaults(threads));
  }

  /**
   * Starts serving.
   *
   * @throws IllegalArgumentException when {@code host} is not a loopback address and there is no key:
   *     anyone who can reach the port could use the model (and its compute)
   */
  public OpenAiServer(LanguageModel model, String modelName, String host, int port, Settings settings)
      throws IOException {
    this.model = model;
    this.modelName = modelName;
    this.settings = settings;
    if (settings.apiKey() == null) {
      InetAddress a = InetAddress.getByName(host);
      if (!a.isLoopbackAddress()) {
        throw new IllegalArgumentException("refusing to serve on " + host + " without an API key: any machine that "
            + "can reach it could use the model; give --api-key-env VAR (clients then send 'Authorization: Bearer "
            + "<key>'), or bind a loopback address such as 127.0.0.1");
      }
    }
    this.keyDigest = settings.apiKey() == null ? null : sha256(settings.apiKey());
    this.workers = new Semaphore(settings.workers());
    this.listener = new HttpListener(host, port, new HttpListener.Limits(settings.maxConnections(),
        settings.perClient(), settings.headerTimeout(), settings.bodyTimeout()), this::handle);
    LOG.info("serving {} at http://{}:{}/v1{}", modelName, host, port(), keyDigest == null ? "" : " (API key required)");
  }

  /** The bound port. */
  public int port() {
    return listener.port();
  }

  /** Requests admitted and not yet answered: running or waiting for a worker. */
  int admitted() {
    return admitted.get();
  }

  /** Requests answered by the model so far. */
  public long served() {
    return served.get();
  }

  /**
   * Refusals so far, by reason: {@code queue_full} (503), {@code server_busy} (503, connections),
   * {@code per_client} (429), {@code timeout} (408).
   */
  public Map<String, Long> refusals() {
    Map<String, Long> m = new LinkedHashMap<>();
    m.put("queue_full", refusedQueue.get());
    m.put("server_busy", listener.refusedBusy());
    m.put("per_client", listener.refusedClient());
    m.put("timeout", listener.timedOut());
    return m;
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Whether the request carries the key; compares digests in constant time (MessageDigest.isEqual). */
  private boolean authorized(HttpListener.Exchange ex) {
    if (keyDigest == null) {
      return true;
    }
    String h = ex.header("Authorization");
    if (h == null || h.length() < 7 || !h.substring(0, 7).equalsIgnoreCase("Bearer ")) {
      return false;
    }
    return MessageDigest.isEqual(keyDigest, sha256(h.substring(7).strip()));
  }

  /** The {@code /v1/models} entry: OpenAI's fields, plus the model's identity (see {@link LanguageModel#identity}). */
  ObjectNode card() {
    ObjectNode card = Json.mapper().createObjectNode().put("id", modelName).put("object", "model").put("created", 0)
        .put("owned_by", "instructflow");
    ModelRef ref = model.ref();
    if (ref.sha256() != null) {
      card.put("sha256", ref.sha256());
    }
    card.put("backend", ref.backend());
    card.put("identity", model.identity());
    return card;
  }

  private void handle(HttpListener.Exchange ex) throws IOException {
    try {
      String path = ex.path();
      String method = ex.method();
      if (!authorized(ex)) {
        ex.sendError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'", "invalid_request_error",
            "invalid_api_key");
        return;
      }
      if (method.equals("GET") && (path.equals("/v1/models") || path.equals("/v1/models/"))) {
        ObjectNode out = Json.mapper().createObjectNode().put("object", "list");
        out.putArray("data").add(card());
        send(ex, 200, out);
        return;
      }
      boolean chat = path.equals("/v1/chat/completions");
      if (!method.equals("POST") || !(chat || path.equals("/v1/completions"))) {
        ex.sendError(404, "no route " + method + " " + path, "invalid_request_error", "not_found");
        return;
      }
      // JSON only: a web page can POST text/plain to 127.0.0.1 without a preflight, but not JSON
      String type = ex.header("Content-Type");
      if (type == null || !type.toLowerCase(java.util.Locale.ROOT).strip().startsWith("application/json")) {
        ex.sendError(415, "Content-Type must be application/json, got " + (type == null ? "none" : "'" + type + "'"),
            "invalid_request_error", "unsupported_media_type");
        return;
      }
      byte[] bytes;
      try {
        bytes = ex.body(MAX_BODY_BYTES, DRAIN_BYTES);
      } catch (HttpListener.Exchange.TooLarge e) {
        ex.sendError(413, e.getMessage() + " is over the " + MAX_BODY_BYTES + "-byte limit", "invalid_request_error",
            "request_too_large");
        return;
      } catch (HttpListener.Exchange.BadRequest e) {
        ex.sendError(e.status, e.getMessage(), "invalid_request_error", e.code);
        return;
      }
      JsonNode body;
      try {
        body = Json.mapper().readTree(new String(bytes, StandardCharsets.UTF_8));
      } catch (IOException e) {
        ex.sendError(400, "request body is not JSON: " + e.getMessage(), "invalid_request_error", null);
        return;
      }
      GenerationRequest req;
      boolean stream;
      Logprobs lp;
      try {
        lp = Logprobs.of(body, chat);
        stream = stream(body);
        if (lp.any() && stream) {
          throw new IllegalArgumentException("'logprobs' and 'echo' are not supported with 'stream' here");
        }
        req = lp.promptOnly() ? null : request(body, chat);
      } catch (IllegalArgumentException e) {
        ex.sendError(400, e.getMessage(), "invalid_request_error", null);
        return;
      }
      if (body.hasNonNull("model") && !body.get("model").asText().equals(modelName)) {
        ex.sendError(404, "model '" + body.get("model").asText() + "' does not exist; this server has '" + modelName
            + "'", "invalid_request_error", "model_not_found");
        return;
      }
      if (admitted.incrementAndGet() > settings.workers() + settings.queue()) {
        admitted.decrementAndGet();
        refusedQueue.incrementAndGet();
        ex.sendError(503, "server busy: " + settings.workers() + " requests running and " + settings.queue()
            + " waiting; retry later", "server_error", "queue_full");
        return;
      }
      GenerationResult r;
      List<ScoreResult> scores = List.of();
      String promptText = lp.promptOnly() ? promptText(body) : req.prompt();
      try {
        workers.acquireUninterruptibly();
        try {
          r = lp.promptOnly() ? GenerationResult.ok("req-" + served.get(), promptText, 0,
              List.of(new Completion("", FinishReason.LENGTH, 0))) : model.generate(List.of(req)).get(0);
          if (r.ok() && lp.any()) {
            scores = model.score(lp.requests(r, req, promptText));
          }
        } finally {
          workers.release();
        }
      } finally {
        admitted.decrementAndGet();
      }
      served.incrementAndGet();
      for (ScoreResult sr : scores) {
        if (r.ok() && !sr.ok()) {
          r = GenerationResult.failed(r.requestId(), r.renderedPrompt(), sr.errorKind(), "logprobs: " + sr.error());
        }
      }
      if (!r.ok()) {
        boolean tooLong = r.errorKind() == GenerationResult.ErrorKind.PROMPT_TOO_LONG;
        boolean bad = tooLong || r.errorKind() == GenerationResult.ErrorKind.NO_CHAT_TEMPLATE;
        ex.sendError(bad ? 400 : 500, r.error(), bad ? "invalid_request_error" : "server_error",
            tooLong ? "context_length_exceeded" : null);
        return;
      }
      if (stream) {
        stream(ex, r, chat, body.path("stream_options").path("include_usage").asBoolean(false));
      } else {
        ObjectNode answer = response(r, chat);
        if (lp.any()) {
          lp.attach(answer, r, scores, promptText);
        }
        send(ex, 200, answer);
      }
    } catch (java.net.SocketTimeoutException e) {
      throw e;
    } catch (RuntimeException e) {
      LOG.warn("request failed: {}", e.toString());
      if (!ex.responded()) {
        ex.sendError(500, "internal error: " + e.getMessage(), "server_error", null);
      }
    }
  }

  private static boolean stream(JsonNode b) {
    JsonNode s = b.path("stream");
    if (s.isMissingNode() || s.isNull()) {
      return false;
    }
    if (!s.isBoolean()) {
      throw new IllegalArgumentException("'stream' must be true or false, got " + s);
    }
    return s.asBoolean();
  }

  /**
   * The seed a request's {@code seed} names. OpenAI's seed is a 64-bit integer; the engine takes
   * seeds in [0, {@link Seeds#MAX}] (llama.cpp's sampler seed is 32 bits, and completion i of n uses
   * seed + i). A seed in that range is used as is; any other integer in [-2^63, 2^64 - 1] is mapped
   * onto it by a fixed mix of its 64 bits (SplitMix64's finalizer) modulo {@code MAX + 1}, so the same
   * seed always gives the same text. A missing or null seed is 0.
   */
  static long seed(JsonNode s) {
    if (s.isMissingNode() || s.isNull()) {
      return 0;
    }
    if (!s.isIntegralNumber()) {
      throw new IllegalArgumentException("'seed' must be an integer, got " + s);
    }
    BigInteger v = s.bigIntegerValue();
    if (v.bitLength() > 64 || (v.signum() < 0 && v.bitLength() > 63)) {
      throw new IllegalArgumentException("'seed' must fit in 64 bits, got " + v);
    }
    long bits = v.longValue();
    if (v.signum() >= 0 && v.compareTo(BigInteger.valueOf(Seeds.MAX)) <= 0) {
      return bits;
    }
    long z = bits;
    z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
    z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
    z = z ^ (z >>> 31);
    return Math.floorMod(z, Seeds.MAX + 1);
  }

  /**
   * A message's text. {@code content} is a string, or an array of content parts whose text parts
   * ({@code {"type": "text", "text": ...}}) are joined with a newline (as vLLM does); a part of another
   * type (an image, audio) is refused. A missing or null content is empty for an assistant turn (one
   * that only called tools) and refused for other roles, as OpenAI does.
   */
  static String content(JsonNode m, int index) {
    JsonNode c = m.path("content");
    String role = m.path("role").asText();
    if (c.isMissingNode() || c.isNull()) {
      if (role.equals("assistant")) {
        return "";
      }
      throw new IllegalArgumentException("messages[" + index + "]: 'content' is required for role '" + role + "'");
    }
    if (c.isTextual()) {
      return c.asText();
    }
    if (c.isArray()) {
      List<String> texts = new ArrayList<>();
      for (int i = 0; i < c.size(); i++) {
        JsonNode part = c.get(i);
        String type = part.path("type").asText("");
        if (!type.equals("text")) {
          throw new IllegalArgumentException("messages[" + index + "].content[" + i + "]: only text parts are "
              + "supported, got type '" + type + "'");
        }
        if (!part.path("text").isTextual()) {
          throw new IllegalArgumentException("messages[" + index + "].content[" + i + "]: 'text' must be a string");
        }
        texts.add(part.get("text").asText());
      }
      return String.join("\n", texts);
    }
    throw new IllegalArgumentException("messages[" + index + "]: 'content' must be a string, an array of text parts "
        + "or null, got " + c.getNodeType().name().toLowerCase(java.util.Locale.ROOT));
  }

  private GenerationRequest request(JsonNode b, boolean chat) {
    if (!b.isObject()) {
      throw new IllegalArgumentException("request body must be a JSON object");
    }
    List<String> stop = new ArrayList<>();
    JsonNode s = b.path("stop");
    if (s.isTextual()) {
      stop.add(s.asText());
    } else if (s.isArray()) {
      s.forEach(x -> stop.add(x.asText()));
    }
    SamplingParams p = new SamplingParams(b.path("max_tokens").asInt(chat ? 256 : 16), b.path("temperature").asDouble(1.0),
        b.path("top_p").asDouble(1.0), b.path("top_k").asInt(0), stop, b.path("n").asInt(1), null,
        b.path("presence_penalty").asDouble(0), b.path("frequency_penalty").asDouble(0),
        b.path("repetition_penalty").asDouble(b.path("repeat_penalty").asDouble(1)));
    long seed = seed(b.path("seed"));
    String id = "req-" + served.get();
    if (chat) {
      JsonNode ms = b.path("messages");
      if (!ms.isArray() || ms.isEmpty()) {
        throw new IllegalArgumentException("'messages' must be a non-empty array");
      }
      List<Message> messages = new ArrayList<>();
      for (int i = 0; i < ms.size(); i++) {
        JsonNode m = ms.get(i);
        if (!m.path("role").isTextual()) {
          throw new IllegalArgumentException("messages[" + i + "]: 'role' must be a string");
        }
        messages.add(new Message(m.get("role").asText(), content(m, i)));
      }
      return GenerationRequest.chat(id, messages, p, seed);
    }
    JsonNode prompt = b.path("prompt");
    if (prompt.isArray() && prompt.size() == 1) {
      prompt = prompt.get(0);
    }
    if (!prompt.isTextual()) {
      throw new IllegalArgumentException("'prompt' must be a string (or an array of one string)");
    }
    return GenerationRequest.text(id, prompt.asText(), p, seed);
  }

  private static String promptText(JsonNode b) {
    JsonNode prompt = b.path("prompt");
    if (prompt.isArray() && prompt.size() == 1) {
      prompt = prompt.get(0);
    }
    if (!prompt.isTextual()) {
      throw new IllegalArgumentException("'prompt' must be a string (or an array of one string)");
    }
    return prompt.asText();
  }

  /**
   * What a request asks of token log-probabilities (issue 22), answered by scoring ({@link LanguageModel#score}):
   * completions take {@code logprobs} (alternatives per token, 0 to {@value ScoreRequest#MAX_TOP}) and
   * {@code echo} (the prompt's tokens first; with {@code max_tokens} 0 nothing is generated), chat takes
   * {@code logprobs: true} and {@code top_logprobs}. A completion's log-probabilities are those of its text
   * as the tokenizer splits it after the prompt, which are the sampled tokens' own unless the text splits
   * differently than it was sampled (rare: a token boundary the sampler chose that the tokenizer would not).
   */
  record Logprobs(boolean chat, boolean on, int top, boolean echo, boolean promptOnly) {
    static Logprobs of(JsonNode b, boolean chat) {
      if (!b.isObject()) {
        return new Logprobs(chat, false, 0, false, false);
      }
      JsonNode l = b.path("logprobs");
      boolean on;
      int top;
      if (chat) {
        if (!l.isMissingNode() && !l.isNull() && !l.isBoolean()) {
          throw new IllegalArgumentException("'logprobs' must be true or false, got " + l);
        }
        on = l.asBoolean(false);
        JsonNode t = b.path("top_logprobs");
        top = t.isMissingNode() || t.isNull() ? 0 : t.asInt(-1);
        if (!t.isMissingNode() && !t.isNull() && (!t.isIntegralNumber() || top < 0 || top > ScoreRequest.MAX_TOP)) {
          throw new IllegalArgumentException("'top_logprobs' must be an integer in [0, " + ScoreRequest.MAX_TOP
              + "], got " + t);
        }
        if (top > 0 && !on) {
          throw new IllegalArgumentException("'top_logprobs' needs 'logprobs': true");
        }
        return new Logprobs(true, on, top, false, false);
      }
      if (!l.isMissingNode() && !l.isNull() && (!l.isIntegralNumber() || l.asInt() < 0
          || l.asInt() > ScoreRequest.MAX_TOP)) {
        throw new IllegalArgumentException("'logprobs' must be an integer in [0, " + ScoreRequest.MAX_TOP + "], got " + l);
      }
      on = !l.isMissingNode() && !l.isNull();
      top = on ? l.asInt() : 0;
      JsonNode e = b.path("echo");
      if (!e.isMissingNode() && !e.isNull() && !e.isBoolean()) {
        throw new IllegalArgumentException("'echo' must be true or false, got " + e);
      }
      boolean echo = e.asBoolean(false);
      JsonNode mt = b.path("max_tokens");
      boolean none = mt.isIntegralNumber() && mt.asInt() == 0;
      if (none && !echo) {
        throw new IllegalArgumentException("'max_tokens' 0 needs 'echo': true (the prompt's log-probabilities)");
      }
      return new Logprobs(false, on, top, echo, none);
    }

    boolean any() {
      return on || echo;
    }

    /** The score requests: with echo, the prompt alone first; with logprobs, each choice after the prompt. */
    List<ScoreRequest> requests(GenerationResult r, GenerationRequest req, String prompt) {
      List<ScoreRequest> out = new ArrayList<>();
      if (echo && on) {
        out.add(ScoreRequest.text("prompt", "", prompt).withTopLogprobs(top));
      }
      if (on && !promptOnly) {
        for (int i = 0; i < r.choices().size(); i++) {
          String text = r.choices().get(i).text();
          out.add((chat ? ScoreRequest.chat("choice-" + i, req.messages(), text)
              : ScoreRequest.text("choice-" + i, prompt, text)).withTopLogprobs(top));
        }
      }
      return out;
    }

    /** Puts the log-probabilities (and echoed prompt) into each choice of an answer. */
    void attach(ObjectNode answer, GenerationResult r, List<ScoreResult> scores, String prompt) {
      int k = echo && on ? 1 : 0;
      ScoreResult promptScore = k == 1 ? scores.get(0) : null;
      ArrayNode choices = (ArrayNode) answer.get("choices");
      for (int i = 0; i < choices.size(); i++) {
        ObjectNode ch = (ObjectNode) choices.get(i);
        ScoreResult own = on && !promptOnly ? scores.get(k + i) : null;
        if (chat) {
          if (on) {
            ArrayNode content = ch.putObject("logprobs").putArray("content");
            for (ScoreResult.TokenLogprob t : own.tokens()) {
              ObjectNode o = content.addObject().put("token", t.token()).put("logprob", t.logprob());
              bytes(o.putArray("bytes"), t.bytes());
              ArrayNode alts = o.putArray("top_logprobs");
              for (ScoreResult.Alternative a : t.top()) {
                ObjectNode ao = alts.addObject().put("token", a.token()).put("logprob", a.logprob());
                bytes(ao.putArray("bytes"), a.token().getBytes(StandardCharsets.UTF_8));
              }
            }
          }
          continue;
        }
        String text = ch.get("text").asText();
        if (echo) {
          ch.put("text", prompt + text);
        }
        if (!on) {
          continue;
        }
        ObjectNode l = ch.putObject("logprobs");
        ArrayNode tokens = l.putArray("tokens");
        ArrayNode values = l.putArray("token_logprobs");
        ArrayNode tops = l.putArray("top_logprobs");
        ArrayNode offsets = l.putArray("text_offset");
        List<ScoreResult.TokenLogprob> all = new ArrayList<>();
        if (promptScore != null) {
          all.addAll(promptScore.tokens());
        }
        if (own != null) {
          all.addAll(own.tokens());
        }
        // offsets in the returned text, counted back from its end: a first token's space that the
        // tokenizer put before the text (SentencePiece's prefix space) does not shift the others
        int offset = cp(ch.get("text").asText()) - joinedLength(all);
        for (ScoreResult.TokenLogprob t : all) {
          tokens.add(t.token());
          values.add(t.logprob());
          offsets.add(Math.max(0, offset));
          offset += cp(t.token());
          if (top > 0) {
            ObjectNode m = tops.addObject();
            for (ScoreResult.Alternative a : t.top()) {
              if (!m.has(a.token())) {
                m.put(a.token(), a.logprob());
              }
            }
          } else {
            tops.addNull();
          }
        }
      }
    }

    private static int joinedLength(List<ScoreResult.TokenLogprob> ts) {
      int n = 0;
      for (ScoreResult.TokenLogprob t : ts) {
        n += cp(t.token());
      }
      return n;
    }

    /** Characters as OpenAI's offsets count them (code points). */
    private static int cp(String s) {
      return s.codePointCount(0, s.length());
    }

    private static void bytes(ArrayNode a, byte[] b) {
      for (byte x : b) {
        a.add(x & 0xff);
      }
    }
  }

  private ObjectNode response(GenerationResult r, boolean chat) {
    ObjectNode out = Json.mapper().createObjectNode();
    out.put("id", (chat ? "chatcmpl-" : "cmpl-") + Long.toHexString(System.nanoTime()));
    out.put("object", chat ? "chat.completion" : "text_completion");
    out.put("created", Instant.now().getEpochSecond());
    out.put("model", modelName);
    ArrayNode choices = out.putArray("choices");
    for (int i = 0; i < r.choices().size(); i++) {
      Completion c = r.choices().get(i);
      ObjectNode ch = choices.addObject().put("index", i);
      if (chat) {
        ch.putObject("message").put("role", "assistant").put("content", c.text());
      } else {
        ch.put("text", c.text());
        ch.putNull("logprobs");
      }
      ch.put("finish_reason", c.finishReason().json());
    }
    out.putObject("usage").put("prompt_tokens", r.promptTokens()).put("completion_tokens", r.completionTokens())
        .put("total_tokens", r.promptTokens() + r.completionTokens());
    return out;
  }

  /**
   * Sends the result as server-sent events, OpenAI's streaming shape: for each choice a chunk with its
   * text and then one with its finish reason, a usage chunk when {@code stream_options.include_usage}
   * asks for it, and {@code data: [DONE]}. The engine reports a completion when it is finished, so each
   * choice's text comes as one chunk rather than token by token.
   */
  private void stream(HttpListener.Exchange ex, GenerationResult r, boolean chat, boolean usage) throws IOException {
    String id = (chat ? "chatcmpl-" : "cmpl-") + Long.toHexString(System.nanoTime());
    long created = Instant.now().getEpochSecond();
    Map<String, String> extra = new LinkedHashMap<>();
    extra.put("Cache-Control", "no-cache");
    try (OutputStream out = ex.stream(200, "text/event-stream; charset=utf-8", extra)) {
      for (int i = 0; i < r.choices().size(); i++) {
        Completion c = r.choices().get(i);
        ObjectNode text = chunk(id, created, chat);
        ObjectNode ch = text.putArray("choices").addObject().put("index", i);
        if (chat) {
          ch.putObject("delta").put("role", "assistant").put("content", c.text());
        } else {
          ch.put("text", c.text());
          ch.putNull("logprobs");
        }
        ch.putNull("finish_reason");
        event(out, Json.line(text));
        ObjectNode end = chunk(id, created, chat);
        ObjectNode ech = end.putArray("choices").addObject().put("index", i);
        if (chat) {
          ech.putObject("delta");
        } else {
          ech.put("text", "");
          ech.putNull("logprobs");
        }
        ech.put("finish_reason", c.finishReason().json());
        event(out, Json.line(end));
      }
      if (usage) {
        ObjectNode u = chunk(id, created, chat);
        u.putArray("choices");
        u.putObject("usage").put("prompt_tokens", r.promptTokens()).put("completion_tokens", r.completionTokens())
            .put("total_tokens", r.promptTokens() + r.completionTokens());
        event(out, Json.line(u));
      }
      event(out, "[DONE]");
    }
  }

  private ObjectNode chunk(String id, long created, boolean chat) {
    return Json.mapper().createObjectNode().put("id", id).put("object", chat ? "chat.completion.chunk"
        : "text_completion").put("created", created).put("model", modelName);
  }

  private static void event(OutputStream out, String data) throws IOException {
    out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
  }

  static byte[] errorBytes(String message, String type, String code) {
    ObjectNode out = Json.mapper().createObjectNode();
    ObjectNode e = out.putObject("error").put("message", message).put("type", type);
    if (code == null) {
      e.putNull("code");
    } else {
      e.put("code", code);
    }
    return (Json.line(out) + "\n").getBytes(StandardCharsets.UTF_8);
  }

  /** Most bytes of a refused body read and thrown away, so that the client, still sending, gets the answer. */
  static final long DRAIN_BYTES = 8L * MAX_BODY_BYTES;

  private static void send(HttpListener.Exchange ex, int status, JsonNode body) throws IOException {
    ex.send(status, "application/json", (Json.line(body) + "\n").getBytes(StandardCharsets.UTF_8), Map.of());
  }

  @Override
  public void close() {
    listener.close();
  }
}
