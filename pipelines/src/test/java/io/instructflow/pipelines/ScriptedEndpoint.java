package io.instructflow.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * An OpenAI-compatible {@code /v1/completions} and {@code /v1/chat/completions} endpoint whose answers
 * are a function of the prompt, for pipeline tests that need a model whose outputs pass the rules (the
 * toy model's do not). A chat request's prompt is its messages' contents joined by blank lines.
 */
public final class ScriptedEndpoint implements AutoCloseable {
  private final HttpServer server;
  private final AtomicInteger served = new AtomicInteger();
  private final AtomicInteger chatServed = new AtomicInteger();
  private final Function<String, String> answer;

  private ScriptedEndpoint(Function<String, String> answer) throws IOException {
    this.answer = answer;
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/v1/completions", ex -> {
      JsonNode req = Json.mapper().readTree(ex.getRequestBody().readAllBytes());
      served.incrementAndGet();
      String text = answer.apply(req.path("prompt").asText());
      byte[] body = Json.line(Map.of("choices", List.of(Map.of("index", 0, "text", text, "finish_reason", "stop")),
          "usage", Map.of("prompt_tokens", 10, "completion_tokens", 5))).getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    server.createContext("/v1/chat/completions", ex -> {
      JsonNode req = Json.mapper().readTree(ex.getRequestBody().readAllBytes());
      served.incrementAndGet();
      chatServed.incrementAndGet();
      StringBuilder prompt = new StringBuilder();
      for (JsonNode m : req.path("messages")) {
        prompt.append(prompt.length() == 0 ? "" : "\n\n").append(m.path("content").asText());
      }
      String text = answer.apply(prompt.toString());
      byte[] body = Json.line(Map.of("choices", List.of(Map.of("index", 0, "message", Map.of("role", "assistant", "content", text),
          "finish_reason", "stop")), "usage", Map.of("prompt_tokens", 10, "completion_tokens", 5)))
          .getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    server.start();
  }

  /** Starts an endpoint on a free local port answering each prompt with {@code answer}. */
  public static ScriptedEndpoint start(Function<String, String> answer) throws IOException {
    return new ScriptedEndpoint(answer);
  }

  /** The API root. */
  public String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + "/v1";
  }

  /** Requests answered so far. */
  public int served() {
    return served.get();
  }

  /** Chat requests answered so far. */
  public int chatServed() {
    return chatServed.get();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
