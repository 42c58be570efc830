package io.instructflow.inference.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.instructflow.inference.Completion;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.SamplingParams;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An OpenAI-compatible HTTP server in front of a {@link LanguageModel}: {@code GET /v1/models},
 * {@code POST /v1/completions} and {@code POST /v1/chat/completions}, non-streaming.
 *
 * <p>Each HTTP request becomes one {@link GenerationRequest}; concurrent HTTP requests reach the model
 * concurrently, so the embedded engine decodes them in parallel. Defaults follow the OpenAI API where it has
 * them ({@code max_tokens} 16 for completions, {@code temperature} 1, {@code top_p} 1, {@code n} 1);
 * {@code seed} defaults to 0 so that an unseeded request is still reproducible; {@code top_k} is
 * accepted as vLLM and llama.cpp's server accept it. Errors use OpenAI's shape
 * {@code {"error": {"message", "type", "code"}}}: 400 for a bad body or a prompt longer than the
 * context ({@code context_length_exceeded}, also for a {@code max_tokens} no context holds), 404 for
 * an unknown path or model, 413 for a body over {@value #MAX_BODY_BYTES} bytes (refused by its
 * Content-Length before it is read, or after that many bytes), 415 for a POST that is not
 * {@code application/json}, 500 when generation fails.
 */
public final class OpenAiServer implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(OpenAiServer.class);

  private final HttpServer server;
  private final LanguageModel model;
  private final String modelName;
  private final ExecutorService pool;
  private final AtomicLong served = new AtomicLong();

  /** The largest request body read (8 MiB, far above any prompt a context holds); larger ones get 413. */
  public static final int MAX_BODY_BYTES = 8 << 20;

  /**
   * Starts serving.
   *
   * @param model the model
   * @param modelName the name clients send as {@code model} (and {@code /v1/models} lists)
   * @param host address to bind, e.g. 127.0.0.1
   * @param port port, 0 for any free one
   * @param threads HTTP worker threads (the most requests handled at once)
   */
  public OpenAiServer(LanguageModel model, String modelName, String host, int port, int threads) throws IOException {
    this.model = model;
    this.modelName = modelName;
    this.server = HttpServer.create(new InetSocketAddress(host, port), 64);
    this.pool = Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, "serve");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(pool);
    server.createContext("/", this::handle);
    server.start();
    LOG.info("serving {} at http://{}:{}/v1", modelName, host, port());
  }

  /** The bound port. */
  public int port() {
    return server.getAddress().getPort();
  }

  /** Requests answered so far. */
  public long served() {
    return served.get();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      String path = ex.getRequestURI().getPath();
      String method = ex.getRequestMethod();
      if (method.equals("GET") && (path.equals("/v1/models") || path.equals("/v1/models/"))) {
        ObjectNode out = Json.mapper().createObjectNode().put("object", "list");
        out.putArray("data").addObject().put("id", modelName).put("object", "model").put("created", 0)
            .put("owned_by", "instructflow");
        send(ex, 200, out);
        return;
      }
      boolean chat = path.equals("/v1/chat/completions");
      if (!method.equals("POST") || !(chat || path.equals("/v1/completions"))) {
        send(ex, 404, error("no route " + method + " " + path, "invalid_request_error", "not_found"));
        return;
      }
      // JSON only: a web page can POST text/plain to 127.0.0.1 without a preflight, but not JSON
      String type = ex.getRequestHeaders().getFirst("Content-Type");
      if (type == null || !type.toLowerCase(java.util.Locale.ROOT).strip().startsWith("application/json")) {
        send(ex, 415, error("Content-Type must be application/json, got " + (type == null ? "none" : "'" + type + "'"),
            "invalid_request_error", "unsupported_media_type"));
        return;
      }
      String length = ex.getRequestHeaders().getFirst("Content-Length");
      if (length != null && length.strip().matches("\\d{1,18}") && Long.parseLong(length.strip()) > MAX_BODY_BYTES) {
        refuseTooLarge(ex, "request body of " + length.strip() + " bytes");
        return;
      }
      JsonNode body;
      try (InputStream in = ex.getRequestBody()) {
        byte[] bytes = in.readNBytes(MAX_BODY_BYTES + 1);
        if (bytes.length > MAX_BODY_BYTES) {
          refuseTooLarge(ex, "request body");
          return;
        }
        body = Json.mapper().readTree(new String(bytes, StandardCharsets.UTF_8));
      } catch (IOException e) {
        send(ex, 400, error("request body is not JSON: " + e.getMessage(), "invalid_request_error", null));
        return;
      }
      GenerationRequest req;
      try {
        req = request(body, chat);
      } catch (IllegalArgumentException e) {
        send(ex, 400, error(e.getMessage(), "invalid_request_error", null));
        return;
      }
      if (body.hasNonNull("model") && !body.get("model").asText().equals(modelName)) {
        send(ex, 404, error("model '" + body.get("model").asText() + "' does not exist; this server has '" + modelName
            + "'", "invalid_request_error", "model_not_found"));
        return;
      }
      GenerationResult r = model.generate(List.of(req)).get(0);
      served.incrementAndGet();
      if (!r.ok()) {
        boolean tooLong = r.errorKind() == GenerationResult.ErrorKind.PROMPT_TOO_LONG;
        boolean bad = tooLong || r.errorKind() == GenerationResult.ErrorKind.NO_CHAT_TEMPLATE;
        send(ex, bad ? 400 : 500, error(r.error(), bad ? "invalid_request_error" : "server_error",
            tooLong ? "context_length_exceeded" : null));
        return;
      }
      send(ex, 200, response(r, chat));
    } catch (RuntimeException e) {
      LOG.warn("request failed: {}", e.toString());
      send(ex, 500, error("internal error: " + e.getMessage(), "server_error", null));
    }
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
    long seed = b.path("seed").asLong(0);
    String id = "req-" + served.get();
    if (chat) {
      JsonNode ms = b.path("messages");
      if (!ms.isArray() || ms.isEmpty()) {
        throw new IllegalArgumentException("'messages' must be a non-empty array");
      }
      List<Message> messages = new ArrayList<>();
      for (JsonNode m : ms) {
        messages.add(new Message(m.path("role").asText(), m.path("content").asText()));
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

  private static ObjectNode error(String message, String type, String code) {
    ObjectNode out = Json.mapper().createObjectNode();
    ObjectNode e = out.putObject("error").put("message", message).put("type", type);
    if (code == null) {
      e.putNull("code");
    } else {
      e.put("code", code);
    }
    return out;
  }

  /** Answers 413 for a body over the limit, after draining what the client is still sending. */
  private static void refuseTooLarge(HttpExchange ex, String what) throws IOException {
    drain(ex);
    send(ex, 413, error(what + " is over the " + MAX_BODY_BYTES + "-byte limit", "invalid_request_error",
        "request_too_large"));
  }

  /** Most bytes of a refused body read and thrown away, so that the client, still sending, gets the answer. */
  static final long DRAIN_BYTES = 8L * MAX_BODY_BYTES;

  /**
   * Reads and discards what is left of a refused body, up to {@value #DRAIN_BYTES} bytes (a small
   * buffer, nothing kept): a client that is still sending when the server answers and closes would
   * see a reset instead of the 413. A longer body is cut off; the connection closes after the answer.
   */
  private static void drain(HttpExchange ex) {
    try {
      InputStream in = ex.getRequestBody();
      byte[] buf = new byte[1 << 16];
      long left = DRAIN_BYTES;
      int k;
      while (left > 0 && (k = in.read(buf, 0, (int) Math.min(buf.length, left))) > 0) {
        left -= k;
      }
    } catch (IOException e) {
      // the client went away: nothing to answer
    }
  }

  private static void send(HttpExchange ex, int status, JsonNode body) throws IOException {
    byte[] b = (Json.line(body) + "\n").getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    if (status == 413) {
      // the body may not have been read to its end (drain stops at DRAIN_BYTES): no further request on it
      ex.getResponseHeaders().set("Connection", "close");
    }
    ex.sendResponseHeaders(status, b.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(b);
    }
  }

  @Override
  public void close() {
    server.stop(0);
    pool.shutdownNow();
  }
}
