package io.instructflow.inference.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.serve.OpenAiServer;
import io.instructflow.schemas.Message;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The OpenAI client against instructflow's own server backed by the embedded engine (no mock). */
class OpenAiModelIT {
  private static final String[] OPENINGS = {"Once upon a time", "The little dog", "One day, Lily", "Tom and his mom",
      "The sun was", "In the park,", "Ben had a red", "There was a big"};

  static Path stories() {
    Path p = Paths.get(System.getProperty("instructflow.shared", "../../shared")).resolve("models/stories260K.gguf");
    org.junit.jupiter.api.Assumptions.assumeTrue(p.toFile().isFile(), "test model not present");
    return p.toAbsolutePath().normalize();
  }

  @Test
  void reproducesTheEmbeddedEnginesGreedyOutputs() throws Exception {
    LlamaCppModel engine = LlamaCppModel.shared(LlamaCppModel.Config.of(stories()).withContextPerSlot(256).withThreads(1));
    try (OpenAiServer server = new OpenAiServer(engine, "stories260K", "127.0.0.1", 0, 8)) {
      OpenAiModel client = new OpenAiModel(OpenAiModel.Config.of("http://127.0.0.1:" + server.port() + "/v1", "stories260K"));
      List<GenerationRequest> reqs = new ArrayList<>();
      for (int i = 0; i < OPENINGS.length; i++) {
        reqs.add(GenerationRequest.text("r" + i, OPENINGS[i], SamplingParams.greedy(40), i));
      }
      List<GenerationResult> embedded = engine.generate(reqs);
      List<GenerationResult> remote = client.generate(reqs);
      for (int i = 0; i < reqs.size(); i++) {
        assertTrue(remote.get(i).ok(), remote.get(i).error());
        assertEquals(embedded.get(i).choices(), remote.get(i).choices(), "request " + i);
        assertEquals(embedded.get(i).promptTokens(), remote.get(i).promptTokens());
      }
      assertEquals(reqs.size(), client.attempts(), "no retries against a healthy server");

      // sampled, with the same seed: the same sample through either path
      SamplingParams sampled = new SamplingParams(30, 0.8, 0.95, 40, List.of(), 1);
      GenerationRequest s = GenerationRequest.text("s", "Once upon a time", sampled, 1234);
      assertEquals(engine.generate(List.of(s)).get(0).choices(), client.generate(List.of(s)).get(0).choices());

      // a prompt longer than the context: 400 context_length_exceeded, not retried
      int before = client.attempts();
      GenerationResult tooLong = client.generate(List.of(GenerationRequest.text("l",
          "Once upon a time there was a cat. ".repeat(60), SamplingParams.greedy(16), 0))).get(0);
      assertFalse(tooLong.ok());
      assertEquals(ErrorKind.PROMPT_TOO_LONG, tooLong.errorKind());
      assertTrue(tooLong.error().startsWith("HTTP 400"), tooLong.error());
      assertEquals(before + 1, client.attempts());

      // chat against a model without a chat template: 400, the engine's message passed on
      GenerationResult chat = client.generate(List.of(GenerationRequest.chat("c",
          List.of(new Message("user", "Hello")), SamplingParams.greedy(8), 0))).get(0);
      assertEquals(ErrorKind.REJECTED, chat.errorKind());
      assertTrue(chat.error().contains("has no chat template"), chat.error());

      HttpClient http = HttpClient.newHttpClient();
      String models = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/models"))
          .build(), HttpResponse.BodyHandlers.ofString()).body();
      assertTrue(models.contains("\"id\":\"stories260K\""), models);
      HttpResponse<String> wrongModel = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port()
          + "/v1/completions")).header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"gpt-4\",\"prompt\":\"hi\"}")).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(404, wrongModel.statusCode());
      assertTrue(wrongModel.body().contains("model_not_found"), wrongModel.body());
    }
  }
}
