package io.instructflow.inference.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.SamplingParams;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The client's retry policy against a scripted HTTP endpoint (status codes, delays); answers from a
 * real model are tested in {@link OpenAiModelIT}.
 */
class OpenAiModelTest {
  private static final String OK = "{\"choices\":[{\"index\":0,\"text\":\"fine\",\"finish_reason\":\"length\"}],"
      + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}";

  /** A server that answers the first {@code failures} requests with {@code status}, then OK. */
  private static HttpServer server(int failures, int status, long delayMillis, AtomicInteger calls) throws Exception {
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    s.createContext("/", ex -> {
      int n = calls.incrementAndGet();
      byte[] body;
      int code;
      if (n <= failures) {
        if (delayMillis > 0) {
          try {
            Thread.sleep(delayMillis);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
        code = status;
        body = ("{\"error\":{\"message\":\"scripted " + status + "\",\"type\":\"x\",\"code\":null}}").getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Retry-After", "0");
      } else {
        code = 200;
        body = OK.getBytes(StandardCharsets.UTF_8);
      }
      ex.sendResponseHeaders(code, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    });
    s.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(4));
    s.start();
    return s;
  }

  private static GenerationResult call(HttpServer s, int retries, Duration timeout) {
    OpenAiModel m = new OpenAiModel(OpenAiModel.Config.of("http://127.0.0.1:" + s.getAddress().getPort() + "/v1", "m")
        .withRetries(retries, Duration.ofMillis(1)).withTimeout(timeout));
    return m.generate(List.of(GenerationRequest.text("a", "hi", SamplingParams.greedy(2), 0))).get(0);
  }

  /** Penalties go out under OpenAI's names (and vLLM's for repetition) only when on. */
  @Test
  void sendsThePenaltiesThatAreOn() throws Exception {
    java.util.List<String> bodies = new java.util.concurrent.CopyOnWriteArrayList<>();
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    s.createContext("/", ex -> {
      bodies.add(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
      byte[] body = OK.getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    });
    s.start();
    try {
      OpenAiModel m = new OpenAiModel(OpenAiModel.Config.of("http://127.0.0.1:" + s.getAddress().getPort() + "/v1", "m"));
      assertTrue(m.generate(List.of(GenerationRequest.text("a", "hi", SamplingParams.greedy(2), 0))).get(0).ok());
      assertTrue(m.generate(List.of(GenerationRequest.text("b", "hi", SamplingParams.greedy(2).withPenalties(2, 0.5, 1.2), 0)))
          .get(0).ok());
    } finally {
      s.stop(0);
    }
    com.fasterxml.jackson.databind.JsonNode plain = io.instructflow.schemas.Json.mapper().readTree(bodies.get(0));
    com.fasterxml.jackson.databind.JsonNode pen = io.instructflow.schemas.Json.mapper().readTree(bodies.get(1));
    assertTrue(!plain.has("presence_penalty") && !plain.has("frequency_penalty") && !plain.has("repetition_penalty"),
        bodies.get(0));
    assertEquals(2.0, pen.path("presence_penalty").asDouble());
    assertEquals(0.5, pen.path("frequency_penalty").asDouble());
    assertEquals(1.2, pen.path("repetition_penalty").asDouble(), 1e-9);
  }

  @Test
  void retriesRateLimitsAndServerErrorsThenSucceeds() throws Exception {
    for (int status : new int[] {429, 500, 503}) {
      AtomicInteger calls = new AtomicInteger();
      HttpServer s = server(2, status, 0, calls);
      try {
        GenerationResult r = call(s, 3, Duration.ofSeconds(5));
        assertTrue(r.ok(), status + ": " + r.error());
        assertEquals("fine", r.choices().get(0).text());
        assertEquals(3, calls.get(), "two failures, then success, for " + status);
      } finally {
        s.stop(0);
      }
    }
  }

  @Test
  void givesUpAfterTheRetriesAndDoesNotRetryOtherClientErrors() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    HttpServer s = server(100, 503, 0, calls);
    try {
      GenerationResult r = call(s, 2, Duration.ofSeconds(5));
      assertFalse(r.ok());
      assertEquals(ErrorKind.UNAVAILABLE, r.errorKind());
      assertEquals(3, calls.get());
      assertTrue(r.error().contains("HTTP 503: scripted 503 (after 3 attempts)"), r.error());
    } finally {
      s.stop(0);
    }
    AtomicInteger calls401 = new AtomicInteger();
    HttpServer s401 = server(100, 401, 0, calls401);
    try {
      GenerationResult r = call(s401, 5, Duration.ofSeconds(5));
      assertEquals(ErrorKind.REJECTED, r.errorKind());
      assertEquals(1, calls401.get(), "a 401 is not retried");
    } finally {
      s401.stop(0);
    }
  }

  @Test
  void retriesTimeouts() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    HttpServer s = server(1, 200, 1500, calls);
    try {
      GenerationResult r = call(s, 2, Duration.ofMillis(300));
      assertTrue(r.ok(), r.error());
      assertEquals(2, calls.get());
    } finally {
      s.stop(0);
    }
  }

  @Test
  void readsTheKeyFromTheNamedVariableOnly() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new OpenAiModel(
        OpenAiModel.Config.of("http://127.0.0.1:1/v1", "m").withApiKeyEnv("INSTRUCTFLOW_TEST_SURELY_UNSET_KEY")));
    assertTrue(e.getMessage().contains("INSTRUCTFLOW_TEST_SURELY_UNSET_KEY"));
    assertThrows(IllegalArgumentException.class, () -> OpenAiModel.Config.of("ftp://x/v1", "m"));
  }
}
