package io.instructflow.pipelines.selfinstruct;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An OpenAI-compatible {@code /v1/completions} endpoint whose answers are a function of the prompt and
 * pass the Self-Instruct rules: new-task lists of random words (ROUGE-distinct), a yes/no
 * classification, instances in the format the parsers read.
 */
final class ScriptedEndpoint implements AutoCloseable {
  private final HttpServer server;
  private final AtomicInteger served = new AtomicInteger();

  private static final String[] WORDS = {"glacier", "violin", "tax", "protein", "volcano", "poetry", "router", "cactus",
      "satellite", "bakery", "chess", "orbit", "vaccine", "harbor", "lantern", "comet", "ledger", "tundra", "opera",
      "quartz", "falcon", "canyon", "pepper", "saddle", "marble", "thunder", "walnut", "compass", "velvet", "tiger"};

  /** Answers from the prompt: a list of new tasks, a classification, instances. */
  static String answer(String prompt) {
    int h = Math.abs(prompt.hashCode());
    if (prompt.endsWith("Classification:")) {
      return h % 3 == 0 ? " Yes" : " No";
    }
    if (prompt.contains("classification task. First")) {
      return "Class label: A\nInput: first " + h + "\nClass label: B\nInput: second " + h;
    }
    if (prompt.contains("Write worked examples")) {
      return "Example 1\nInput: " + WORDS[h % WORDS.length] + "\nOutput: answer " + h + "\nExample 2\nOutput: more " + h;
    }
    java.util.Random r = new java.util.Random(h);
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < 3; i++) {
      b.append(i == 0 ? " Explain" : "\n" + (9 + i) + ". Explain");
      for (int w = 0; w < 7; w++) {
        b.append(' ').append(WORDS[r.nextInt(WORDS.length)]);
      }
      b.append('.');
    }
    return b.toString();
  }

  private ScriptedEndpoint() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/v1/completions", ex -> {
      JsonNode req = Json.mapper().readTree(ex.getRequestBody().readAllBytes());
      served.incrementAndGet();
      String text = answer(req.path("prompt").asText());
      byte[] body = Json.line(Map.of("choices", List.of(Map.of("index", 0, "text", text, "finish_reason", "stop")),
          "usage", Map.of("prompt_tokens", 10, "completion_tokens", 5))).getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "application/json");
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    server.start();
  }

  static ScriptedEndpoint start() throws IOException {
    return new ScriptedEndpoint();
  }

  /** The API root. */
  String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + "/v1";
  }

  /** Requests answered so far. */
  int served() {
    return served.get();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
