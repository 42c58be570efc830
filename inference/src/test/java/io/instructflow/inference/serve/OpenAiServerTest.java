package io.instructflow.inference.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.schemas.Json;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** {@code serve} against hostile and odd requests, on the real engine and model: each gets its status, and serving goes on. */
class OpenAiServerTest {
  private static Path stories() {
    Path p = Paths.get(System.getProperty("instructflow.shared", "../../shared")).resolve("models/stories260K.gguf")
        .toAbsolutePath().normalize();
    Assumptions.assumeTrue(Files.isRegularFile(p), "test model not present: " + p);
    return p;
  }

  private static HttpResponse<String> post(HttpClient c, int port, String type, HttpRequest.BodyPublisher body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
        .timeout(Duration.ofSeconds(30)).POST(body);
    if (type != null) {
      b.header("Content-Type", type);
    }
    return c.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static String code(HttpResponse<String> r) throws Exception {
    JsonNode n = Json.mapper().readTree(r.body());
    return n.path("error").path("code").asText();
  }

  @Test
  void hostileBodiesGetTheirStatusAndServingGoesOn() throws Exception {
    LlamaCppModel engine = LlamaCppModel.shared(LlamaCppModel.Config.of(stories()).withContextPerSlot(256).withThreads(1));
    HttpClient c = HttpClient.newHttpClient();
    String ok = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 8, \"temperature\": 0}";
    try (OpenAiServer s = new OpenAiServer(engine, "stories", "127.0.0.1", 0, 4)) {
      int port = s.port();
      HttpResponse<String> good = post(c, port, "application/json", HttpRequest.BodyPublishers.ofString(ok));
      assertEquals(200, good.statusCode(), good.body());

      HttpResponse<String> plain = post(c, port, "text/plain", HttpRequest.BodyPublishers.ofString(ok));
      assertEquals(415, plain.statusCode(), "a text/plain POST, as a web page can send without a preflight");
      assertEquals("unsupported_media_type", code(plain));
      assertEquals(415, post(c, port, null, HttpRequest.BodyPublishers.ofString(ok)).statusCode(), "no Content-Type");
      assertEquals(200, post(c, port, "application/json; charset=utf-8", HttpRequest.BodyPublishers.ofString(ok))
          .statusCode(), "a charset parameter is fine");

      HttpResponse<String> huge = post(c, port, "application/json",
          HttpRequest.BodyPublishers.ofByteArray(new byte[OpenAiServer.MAX_BODY_BYTES + 1024]));
      assertEquals(413, huge.statusCode());
      assertEquals("request_too_large", code(huge));

      HttpResponse<String> overflow = post(c, port, "application/json", HttpRequest.BodyPublishers.ofString(
          "{\"prompt\": \"Once upon a time\", \"max_tokens\": 2147483647}"));
      assertEquals(400, overflow.statusCode(), overflow.body());
      assertEquals("context_length_exceeded", code(overflow), "max_tokens + prompt in long: no wrap-around");

      HttpResponse<String> notJson = post(c, port, "application/json", HttpRequest.BodyPublishers.ofString("{\"prompt\": "));
      assertEquals(400, notJson.statusCode());

      HttpResponse<String> after = post(c, port, "application/json", HttpRequest.BodyPublishers.ofString(ok));
      assertEquals(200, after.statusCode(), "still serving");
      assertEquals(Json.mapper().readTree(good.body()).path("choices").get(0).path("text"),
          Json.mapper().readTree(after.body()).path("choices").get(0).path("text"), "and answering as before");
      assertTrue(s.served() >= 3);
    }
  }
}
