package io.instructflow.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.instructflow.inference.llama.LlamaCppModel;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** The sealed model spec (issue 20): parsing a model string, the run-summary map, and what the JVM keeps. */
class ModelSpecTest {
  @Test
  void aPathIsALocalModelAndNameAtUrlARemoteOne() {
    ModelSpec local = ModelSpec.parse("models/中文 stories.gguf", "KEY", 3, 512, "/tmp/c");
    ModelSpec.Local l = assertInstanceOf(ModelSpec.Local.class, local);
    assertEquals(Paths.get("models/中文 stories.gguf").toAbsolutePath().toString(), l.path());
    assertEquals(List.of(3, 512, 0, 0), List.of(l.parallel(), l.contextPerSlot(), l.threads(), l.gpuLayers()));
    assertEquals("/tmp/c", l.cacheDir());
    assertFalse(local.isRemote());

    ModelSpec remote = ModelSpec.parse("qwen2.5-7b@https://api.example.com/v1", "KEY", 4, 512, null);
    assertEquals(new ModelSpec.Remote("https://api.example.com/v1", "qwen2.5-7b", "KEY", 4, null), remote);
    assertTrue(remote.isRemote());
    // a slash before the @ makes it a file path, as the candidates' own rule has it
    assertInstanceOf(ModelSpec.Local.class, ModelSpec.parse("dir/a@http://x/v1", null, 1, 0, null));
    assertInstanceOf(ModelSpec.Local.class, ModelSpec.parse("a@b.gguf", null, 1, 0, null));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "' '                | a model is a GGUF file or NAME@URL",
      "@http://h/v1       | needs the served model's name before @",
      "m@ftp://h/v1       | starts with http:// or https://",
      "m@http://          | starts with http:// or https://"})
  void aBadModelStringIsRefusedNamingWhatIsWrong(String text, String message) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ModelSpec.parse(text, null, 1, 0, null));
    assertTrue(e.getMessage().contains(message), e.getMessage());
  }

  @Test
  void badSettingsAreRefusedWhenTheSpecIsMade() {
    assertThrows(IllegalArgumentException.class, () -> ModelSpec.local("m.gguf", 0, 0, 0, 0, false, null));
    assertThrows(IllegalArgumentException.class, () -> ModelSpec.remote("http://h/v1", "m", null, 0, null));
  }

  /** The run summary keeps the keys and order it had before the spec was split (no output byte changes). */
  @Test
  void theRunSummaryMapIsUnchanged() {
    Map<String, Object> local = new LinkedHashMap<>();
    local.put("model", "/m/a.gguf");
    local.put("backend", "llama.cpp");
    local.put("parallel", 2);
    local.put("schedule", "invariant");
    local.put("contextPerSlot", 256);
    local.put("threads", 1);
    local.put("gpuLayers", 0);
    local.put("flashAttention", "auto");
    local.put("prefixReuse", true);
    local.put("prefixCache", 1);
    local.put("cacheDir", "/c");
    Map<String, Object> got = ModelSpec.local("/m/a.gguf", 2, 256, 1, 0, false, "/c").asMap();
    assertEquals(List.copyOf(local.entrySet()), List.copyOf(got.entrySet()));
    assertEquals(LlamaCppModel.FlashAttention.OFF, ModelSpec.local("/m/a.gguf", 2, 256, 1, 0, false, "/c")
        .withEngine(LlamaCppModel.FlashAttention.OFF, true, 1).flashAttention());

    Map<String, Object> remote = new LinkedHashMap<>();
    remote.put("model", "m");
    remote.put("backend", "openai");
    remote.put("endpoint", "http://h/v1");
    remote.put("apiKeyEnv", null);
    remote.put("concurrency", 4);
    remote.put("cacheDir", null);
    assertEquals(List.copyOf(remote.entrySet()),
        List.copyOf(ModelSpec.remote("http://h/v1", "m", null, 4, null).asMap().entrySet()));
  }

  private static final String OK = "{\"choices\":[{\"index\":0,\"text\":\"好的\",\"finish_reason\":\"stop\"}],"
      + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}";

  /**
   * Issue 20: a remote model the server refused stayed the JVM's model for its spec, so every later run
   * in the JVM failed at once without asking the server again. Now the refusal stops its own run, and the
   * next run's check drops the unusable model; a failed identity is not kept either.
   */
  @Test
  void aRefusedRemoteModelIsAskedAgainByTheNextRun() throws Exception {
    AtomicInteger models = new AtomicInteger();
    AtomicInteger completions = new AtomicInteger();
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
    s.createContext("/", ex -> {
      boolean list = ex.getRequestURI().getPath().endsWith("/models");
      int n = (list ? models : completions).incrementAndGet();
      // the first ask of each route is refused, as before a key is fixed
      int code = n == 1 ? 401 : list ? 404 : 200;
      byte[] body = (code == 401 ? "{\"error\":{\"message\":\"bad key\"}}" : code == 200 ? OK : "")
          .getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(code, body.length == 0 ? -1 : body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    });
    s.start();
    try {
      ModelSpec spec = ModelSpec.remote("http://127.0.0.1:" + s.getAddress().getPort() + "/v1", "spec-test", null, 1,
          null);
      ModelUnusableException first = assertThrows(ModelUnusableException.class, spec::check);
      assertTrue(first.getMessage().contains("HTTP 401"), first.getMessage());
      assertEquals(null, spec.check(), "the failed identity was not kept: asked again, now answered");
      assertEquals(2, models.get());

      LanguageModel m = spec.open();
      GenerationRequest r = GenerationRequest.text("a", "你好", SamplingParams.greedy(4), 0);
      assertThrows(ModelUnusableException.class, () -> m.generate(List.of(r)));
      // within the run the refusal stands: the same model, failing at once without another request
      assertSame(m, spec.open());
      assertThrows(ModelUnusableException.class, () -> spec.open().generate(List.of(r)));
      assertEquals(1, completions.get());

      // the next run checks the spec first: a new client asks the server again
      spec.check();
      LanguageModel again = spec.open();
      assertNotSame(m, again);
      assertEquals("好的", again.generate(List.of(r)).get(0).choices().get(0).text());
      assertEquals(2, completions.get());
      // a usable model stays
      spec.check();
      assertSame(again, spec.open());
    } finally {
      s.stop(0);
    }
  }
}
