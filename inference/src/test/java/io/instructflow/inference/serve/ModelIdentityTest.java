package io.instructflow.inference.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.inference.CachingModel;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.ResponseCache;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.llama.TestModels;
import io.instructflow.inference.openai.OpenAiModel;
import io.instructflow.schemas.Json;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 21: a model swapped behind the same served name and endpoint is never answered from the
 * response cache. Real {@code serve} on stories260K and on a copy of it with a chat template (another
 * file, the same name), a real client and cache.
 */
class ModelIdentityTest {
  @TempDir Path tmp;

  private static List<GenerationRequest> requests() {
    List<GenerationRequest> out = new ArrayList<>();
    String[] prompts = {"Once upon a time", "The little dog", "One day, Lily"};
    for (int i = 0; i < prompts.length; i++) {
      out.add(GenerationRequest.text("r" + i, prompts[i], SamplingParams.greedy(16), i));
    }
    return out;
  }

  /** A fresh client and cache over {@code cacheDir}, as a new run makes them (ModelSpec.open does the same). */
  private static CachingModel client(int port, Path cacheDir) {
    OpenAiModel remote = new OpenAiModel(OpenAiModel.Config.of("http://127.0.0.1:" + port + "/v1", "m"));
    return new CachingModel(remote.ref(), remote::identity, () -> remote, new ResponseCache(cacheDir));
  }

  private static List<String> texts(List<GenerationResult> rs) {
    List<String> out = new ArrayList<>();
    for (GenerationResult r : rs) {
      assertTrue(r.ok(), r.error());
      out.add(r.choices().get(0).text());
    }
    return out;
  }

  @Test
  void aSwappedModelBehindTheSameNameIsNeverAnsweredFromTheCache() throws Exception {
    LlamaCppModel q4 = LlamaCppModel.shared(LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(256)
        .withThreads(1));
    Path other = TestModels.withStringKey(TestModels.stories(), "tokenizer.chat_template", TestModels.CHATML,
        tmp.resolve("other.gguf"));
    LlamaCppModel q8 = LlamaCppModel.shared(LlamaCppModel.Config.of(other).withContextPerSlot(256).withThreads(1));
    Path cache = tmp.resolve("cache");
    int port;
    List<String> first;
    String identityA;
    try (OpenAiServer a = new OpenAiServer(q4, "m", "127.0.0.1", 0, 4)) {
      port = a.port();
      JsonNode card = Json.mapper().readTree(HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
          "http://127.0.0.1:" + port + "/v1/models")).build(), HttpResponse.BodyHandlers.ofString()).body())
          .path("data").get(0);
      assertEquals(q4.ref().sha256(), card.path("sha256").asText(), "serve names the file it serves");
      assertEquals(q4.identity(), card.path("identity").asText());
      assertTrue(card.path("identity").asText().contains("\"llama_cpp\":\"sha256:"), card.toString());
      CachingModel c = client(port, cache);
      first = texts(c.generate(requests()));
      assertEquals(3, c.misses());
      identityA = c.identity();
      assertTrue(identityA.contains(q4.ref().sha256()) && identityA.contains("127.0.0.1:" + port), identityA);
    }
    try (OpenAiServer b = new OpenAiServer(q8, "m", "127.0.0.1", port, 4)) {
      CachingModel c = client(port, cache);
      List<String> swapped = texts(c.generate(requests()));
      assertEquals(0, c.hits(), "another file behind the same name and URL: nothing from the cache");
      assertEquals(3, c.misses());
      assertNotEquals(identityA, c.identity());
      assertEquals(texts(q8.generate(requests())), swapped, "the answers are the new model's own");
    }
    try (OpenAiServer again = new OpenAiServer(q4, "m", "127.0.0.1", port, 4)) {
      CachingModel c = client(port, cache);
      assertEquals(first, texts(c.generate(requests())));
      assertEquals(3, c.hits(), "the first model back: its answers come from the cache");
      assertEquals(identityA, c.identity(), "the identity is stable across restarts");
    }
  }
}
