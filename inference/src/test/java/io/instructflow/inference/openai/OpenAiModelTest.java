package io.instructflow.inference.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.ModelUnusableException;
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
    AtomicInteger calls400 = new AtomicInteger();
    HttpServer s400 = server(100, 400, 0, calls400);
    try {
      GenerationResult r = call(s400, 5, Duration.ofSeconds(5));
      assertEquals(ErrorKind.REJECTED, r.errorKind());
      assertEquals(1, calls400.get(), "a 400 is not retried");
    } finally {
      s400.stop(0);
    }
  }

  /**
   * Issue 20: the identity's {@code GET /models} goes through the same retry policy as every POST (it had a
   * loop of its own): 503s are retried, the answer after them is used, and a 400 is not retried.
   */
  @Test
  void theIdentityRequestSharesTheRetryPolicy() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    HttpServer s = server(2, 503, 0, calls);
    try {
      OpenAiModel m = new OpenAiModel(OpenAiModel.Config.of("http://127.0.0.1:" + s.getAddress().getPort() + "/v1", "m")
          .withRetries(3, Duration.ofMillis(1)));
      // the scripted OK is not a model list: the model is known by endpoint and name alone
      assertTrue(m.identity().contains("\"listed\":false"), m.identity());
      assertEquals(3, calls.get());
      assertEquals(3, m.attempts());
    } finally {
      s.stop(0);
    }
    AtomicInteger calls503 = new AtomicInteger();
    HttpServer always = server(100, 503, 0, calls503);
    try {
      OpenAiModel m = new OpenAiModel(OpenAiModel.Config.of(
          "http://127.0.0.1:" + always.getAddress().getPort() + "/v1", "m").withRetries(2, Duration.ofMillis(1)));
      ModelUnusableException e = assertThrows(ModelUnusableException.class, m::identity);
      assertTrue(e.getMessage().contains("HTTP 503: scripted 503 (after 3 attempts)"), e.getMessage());
      assertEquals(3, calls503.get());
    } finally {
      always.stop(0);
    }
    AtomicInteger calls400 = new AtomicInteger();
    HttpServer s400 = server(100, 400, 0, calls400);
    try {
      OpenAiModel m = new OpenAiModel(OpenAiModel.Config.of(
          "http://127.0.0.1:" + s400.getAddress().getPort() + "/v1", "m").withRetries(5, Duration.ofMillis(1)));
      ModelUnusableException e = assertThrows(ModelUnusableException.class, m::identity);
      assertTrue(e.getMessage().contains("HTTP 400: scripted 400"), e.getMessage());
      assertEquals(1, calls400.get(), "a 400 is not retried");
      assertTrue(m.usable(), "an identity that cannot be asked does not make the model unusable");
    } finally {
      s400.stop(0);
    }
  }

  /** Issue 21: a refused key, a forbidden model or a wrong endpoint stop the run, not one reject per record. */
  @Test
  void unauthorizedForbiddenAndNotFoundStopAtOnce() throws Exception {
    for (int status : new int[] {401, 403, 404}) {
      AtomicInteger calls = new AtomicInteger();
      HttpServer s = server(100, status, 0, calls);
      try {
        OpenAiModel m = new OpenAiModel(OpenAiModel.Config.of("http://127.0.0.1:" + s.getAddress().getPort() + "/v1", "m")
            .withRetries(5, Duration.ofMillis(1)).withConcurrency(1));
        List<GenerationRequest> batch = new java.util.ArrayList<>();
        for (int i = 0; i < 10; i++) {
          batch.add(GenerationRequest.text("r" + i, "hi", SamplingParams.greedy(2), i));
        }
        ModelUnusableException e = assertThrows(ModelUnusableException.class, () -> m.generate(batch));
        assertTrue(e.getMessage().contains("HTTP " + status) && e.getMessage().contains("the run stops"), e.getMessage());
        assertEquals(1, calls.get(), status + ": one request sent, not one per record, none retried");
        assertThrows(ModelUnusableException.class, () -> m.generate(batch.subList(0, 1)));
        assertEquals(1, calls.get(), "later calls fail without sending");
      } finally {
        s.stop(0);
      }
    }
  }

  /** A scripted endpoint answering every POST with {@code body} (after writing {@code head} and waiting on {@code hold}). */
  private static HttpServer answering(String body, AtomicInteger calls, java.util.concurrent.CountDownLatch hold)
      throws Exception {
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    s.createContext("/", ex -> {
      calls.incrementAndGet();
      byte[] b = body.getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, hold == null ? b.length : 0);
      try (OutputStream out = ex.getResponseBody()) {
        if (hold != null) {
          out.write(b, 0, 10);
          out.flush();
          try {
            hold.await(20, java.util.concurrent.TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
          out.write(b, 10, b.length - 10);
        } else {
          out.write(b);
        }
      } catch (java.io.IOException e) {
        // the client gave up
      }
    });
    s.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(4));
    s.start();
    return s;
  }

  @Test
  void fewerChoicesThanNIsAFailureAndIsNotCached(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    AtomicInteger calls = new AtomicInteger();
    HttpServer s = answering(OK, calls, null);
    try {
      OpenAiModel m = new OpenAiModel(OpenAiModel.Config.of("http://127.0.0.1:" + s.getAddress().getPort() + "/v1", "m"));
      io.instructflow.inference.CachingModel cached = new io.instructflow.inference.CachingModel(m.ref(), () -> m,
          new io.instructflow.inference.ResponseCache(dir));
      GenerationRequest two = GenerationRequest.text("a", "hi", new SamplingParams(2, 0.7, 1, 0, List.of(), 2), 0);
      GenerationResult r = cached.generate(List.of(two)).get(0);
      assertFalse(r.ok());
      assertTrue(r.error().contains("1 choice(s) for n = 2"), r.error());
      cached.generate(List.of(two));
      assertEquals(2, calls.get(), "the short answer was not cached");
      GenerationRequest one = GenerationRequest.text("b", "hi", SamplingParams.greedy(2), 0);
      assertTrue(cached.generate(List.of(one)).get(0).ok());
      assertTrue(cached.generate(List.of(one)).get(0).cached(), "a full answer is");
      assertEquals(3, calls.get());
    } finally {
      s.stop(0);
    }
  }

  @Test
  void aResponseOverTheCapIsRefused() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    String big = "{\"choices\":[{\"index\":0,\"text\":\"" + "x".repeat(3 << 20) + "\"}]}";
    HttpServer s = answering(big, calls, null);
    try {
      OpenAiModel m = new OpenAiModel(OpenAiModel.Config.of("http://127.0.0.1:" + s.getAddress().getPort() + "/v1", "m")
          .withMaxResponseBytes(1 << 20));
      GenerationResult r = m.generate(List.of(GenerationRequest.text("a", "hi", SamplingParams.greedy(2), 0))).get(0);
      assertFalse(r.ok());
      assertEquals(ErrorKind.REJECTED, r.errorKind());
      assertTrue(r.error().contains("over the 1048576-byte limit"), r.error());
      assertTrue(new OpenAiModel(OpenAiModel.Config.of("http://127.0.0.1:" + s.getAddress().getPort() + "/v1", "m"))
          .generate(List.of(GenerationRequest.text("a", "hi", SamplingParams.greedy(2), 0))).get(0).ok(),
          "under the default 32 MiB cap the same answer is read");
    } finally {
      s.stop(0);
    }
  }

  /** The timeout bounds the whole exchange: a server that sends its headers and then stalls in the body is cut off. */
  @Test
  void theTimeoutCoversTheBody() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    java.util.concurrent.CountDownLatch hold = new java.util.concurrent.CountDownLatch(1);
    HttpServer s = answering(OK, calls, hold);
    try {
      long t0 = System.nanoTime();
      GenerationResult r = call(s, 1, Duration.ofMillis(500));
      long ms = (System.nanoTime() - t0) / 1_000_000;
      assertFalse(r.ok());
      assertEquals(ErrorKind.UNAVAILABLE, r.errorKind());
      assertTrue(r.error().contains("timed out after 500 ms"), r.error());
      assertEquals(2, calls.get(), "timed out, retried once, timed out again");
      assertTrue(ms < 10_000, "cut off at the deadline, not when the body ends (20 s): " + ms + " ms");
    } finally {
      hold.countDown();
      s.stop(0);
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
