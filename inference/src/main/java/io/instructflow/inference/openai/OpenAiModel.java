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
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
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
 * becomes a failed result ({@code REJECTED} for a 4xx, {@code UNAVAILABLE} otherwise), never an
 * exception. The API key is read from the environment variable named in the config and is sent only
 * in the {@code Authorization} header: never logged, never part of an error message.
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
   * @param timeout per-attempt timeout
   * @param backoff first backoff delay
   */
  public record Config(String baseUrl, String modelName, String apiKeyEnv, int concurrency, int maxRetries,
      Duration timeout, Duration backoff) implements java.io.Serializable {
    public Config {
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
      return new Config(baseUrl, modelName, env, concurrency, maxRetries, timeout, backoff);
    }

    public Config withConcurrency(int c) {
      return new Config(baseUrl, modelName, apiKeyEnv, c, maxRetries, timeout, backoff);
    }

    public Config withRetries(int r, Duration first) {
      return new Config(baseUrl, modelName, apiKeyEnv, concurrency, r, timeout, first);
    }

    public Config withTimeout(Duration t) {
      return new Config(baseUrl, modelName, apiKeyEnv, concurrency, maxRetries, t, backoff);
    }
  }

  private final Config config;
  private final String apiKey;
  private final HttpClient http;
  private final ExecutorService pool;
  private final AtomicInteger attempts = new AtomicInteger();

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
    List<GenerationResult> out = new ArrayList<>();
    try {
      for (Future<GenerationResult> f : fs) {
        out.add(f.get());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (ExecutionException e) {
      throw new IllegalStateException(e.getCause());
    }
    return out;
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
    String body = Json.line(body(r));
    String lastError = "no attempt";
    long retryAfter = -1;
    for (int attempt = 0; attempt <= config.maxRetries(); attempt++) {
      if (attempt > 0) {
        sleep(attempt, retryAfter);
      }
      retryAfter = -1;
      HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(config.baseUrl() + path))
          .timeout(config.timeout())
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString(body));
      if (apiKey != null) {
        req.header("Authorization", "Bearer " + apiKey);
      }
      attempts.incrementAndGet();
      HttpResponse<String> resp;
      try {
        resp = http.send(req.build(), HttpResponse.BodyHandlers.ofString());
      } catch (HttpTimeoutException e) {
        lastError = "timed out after " + config.timeout().toMillis() + " ms";
        continue;
      } catch (IOException e) {
        lastError = "connection failed: " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : " " + e.getMessage());
        continue;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return GenerationResult.failed(r.id(), r.prompt(), ErrorKind.UNAVAILABLE, "interrupted");
      }
      int code = resp.statusCode();
      if (code == 200) {
        try {
          return parse(r, Json.mapper().readTree(resp.body()));
        } catch (IOException | RuntimeException e) {
          return GenerationResult.failed(r.id(), r.prompt(), ErrorKind.REJECTED, "unreadable response: " + e.getMessage());
        }
      }
      lastError = "HTTP " + code + ": " + errorMessage(resp.body());
      if (code == 429 || code >= 500) {
        retryAfter = resp.headers().firstValue("Retry-After").map(OpenAiModel::seconds).orElse(-1L);
        continue;
      }
      ErrorKind kind = lastError.contains("context") && code == 400 ? ErrorKind.PROMPT_TOO_LONG : ErrorKind.REJECTED;
      return GenerationResult.failed(r.id(), r.prompt(), kind, lastError);
    }
    return GenerationResult.failed(r.id(), r.prompt(), ErrorKind.UNAVAILABLE,
        lastError + " (after " + (config.maxRetries() + 1) + " attempts)");
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
