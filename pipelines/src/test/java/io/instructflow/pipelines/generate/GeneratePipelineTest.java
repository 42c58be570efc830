package io.instructflow.pipelines.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Schemas;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** generate end to end on the real stories260K model: outputs, rejects, provenance, cache, determinism. */
class GeneratePipelineTest {
  static final Runner DIRECT = new Runner("direct", null);

  @TempDir Path tmp;

  static Path model() {
    Path p = TestFiles.sharedData().resolve("../models/stories260K.gguf").normalize();
    assumeTrue(Files.isRegularFile(p), "test model not present: " + p);
    return p;
  }

  static final String[] OPENINGS = {
    "Once upon a time", "The little dog", "One day, Lily", "Tom and his mom", "The sun was", "In the park,",
    "Ben had a red", "There was a big", "Sue liked to", "The cat and the"
  };

  /**
   * A folder of three files (read in name order): an alpaca record with an input, a chat record, and
   * prompts followed by one too long for the context and a broken line.
   */
  static Path input(Path dir, int prompts) throws Exception {
    Files.createDirectories(dir);
    Files.write(dir.resolve("a-alpaca.jsonl"), List.of(Json.line(Map.of("instruction", "Tell a story about",
        "input", "a dog and a ball", "output", ""))), StandardCharsets.UTF_8);
    Files.write(dir.resolve("b-chat.jsonl"), List.of(Json.line(Map.of("messages",
        List.of(Map.of("role", "user", "content", "Tell me a story."))))), StandardCharsets.UTF_8);
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < prompts; i++) {
      lines.add(Json.line(Map.of("prompt", OPENINGS[i % OPENINGS.length] + (i >= OPENINGS.length ? " " + i : ""))));
    }
    lines.add(Json.line(Map.of("prompt", "Once upon a time there was a cat. ".repeat(60))));
    lines.add("{\"prompt\": \"unterminated");
    Files.write(dir.resolve("c-prompts.jsonl"), lines, StandardCharsets.UTF_8);
    return dir;
  }

  static RunSummary generate(Path in, Path out, int parallel, int batch, String cache, Runner runner) throws Exception {
    ModelSpec spec = ModelSpec.local(model().toString(), parallel, 256, 1, 0, false, cache);
    return GeneratePipeline.run(new GeneratePipeline.Config(ReadOptions.of(in.toString()), out.toString(), spec,
        SamplingParams.greedy(24), 7, batch, 1000, runner), new PrintStream(new ByteArrayOutputStream(), true,
        StandardCharsets.UTF_8));
  }

  static List<String> data(Path out) throws Exception {
    return TestFiles.lines(new OutputLayout(out.toString()), OutputLayout.Kind.DATA);
  }

  static long cacheEntries(Path dir) throws Exception {
    try (var walk = Files.walk(dir)) {
      return walk.filter(p -> p.toString().endsWith(".json") && !p.getFileName().toString().startsWith(".tmp-")).count();
    }
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> metrics(RunSummary s) {
    return (Map<String, Object>) s.metrics().get("generate");
  }

  @Test
  void completesRecordsRejectsWhatItCannotAndRecordsProvenance() throws Exception {
    Path in = input(tmp.resolve("in"), 6);
    RunSummary s = generate(in, tmp.resolve("out"), 8, 4, null, DIRECT);
    assertEquals("ok", s.status());
    assertEquals(new RunSummary.Counts(10, 7, 0, 3), s.counts(), s.rejected().toString());
    assertEquals(Map.of("invalid_json", 1L, "no_chat_template", 1L, "prompt_too_long", 1L), s.rejected());
    assertEquals(9L, metrics(s).get("requests"));
    assertEquals(2L, metrics(s).get("failures"));
    assertEquals(0L, metrics(s).get("cache_hits"));
    assertEquals(7L * 24, metrics(s).get("completion_tokens"));

    List<String> lines = data(tmp.resolve("out"));
    JsonNode first = Json.mapper().readTree(lines.get(1));
    assertEquals("Once upon a time", first.get("instruction").asText());
    assertTrue(first.get("output").asText().startsWith(", there was a little girl named Lily"), lines.get(0));
    JsonNode step = first.get("provenance").get("steps").get(1);
    assertEquals("generate", step.get("name").asText());
    assertEquals("270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d",
        step.get("model").get("sha256").asText());
    assertEquals("llama.cpp", step.get("model").get("backend").asText());
    assertEquals(24, step.get("parameters").get("max_tokens").asInt());
    assertEquals("length", step.get("parameters").get("finish_reason").asText());
    assertTrue(step.get("seed").asLong() >= 0);
    assertEquals(1, step.get("parents").size());
    assertTrue(step.get("prompt") == null || step.get("prompt").isNull(), "a prompt record is sent unchanged");
    JsonNode alpaca = Json.mapper().readTree(lines.get(0));
    assertEquals("instructflow/instruction-input@1",
        alpaca.get("provenance").get("steps").get(1).get("prompt").get("templateId").asText());
    for (String line : lines) {
      assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, Json.mapper().readTree(line)), line);
    }
    List<String> rejects = TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.REJECTS);
    String tooLong = rejects.stream().filter(l -> l.contains("prompt_too_long")).findFirst().orElseThrow();
    JsonNode r = Json.mapper().readTree(tooLong);
    assertEquals("c-prompts.jsonl:7", r.get("location").asText());
    assertEquals(in.resolve("c-prompts.jsonl").toString(), r.get("source").asText());
    assertEquals("generate", r.get("step").asText());
    assertTrue(r.get("message").asText().contains("exceeds the 256-token context"), tooLong);
  }

  @Test
  void theSummaryCountsEveryRequestOnEveryRun() throws Exception {
    // regression: counters updated where a bundle's last partial batch runs (FinishBundle) were lost by
    // the DirectRunner in 2 of 40 runs; they are now counted downstream
    Path in = input(tmp.resolve("in"), 4);
    StringBuilder wrong = new StringBuilder();
    for (int i = 0; i < 20; i++) {
      RunSummary s = generate(in, tmp.resolve("o" + i), 1, 4, null, DIRECT);
      if (!Long.valueOf(7).equals(metrics(s).get("requests")) || !Long.valueOf(5L * 24).equals(metrics(s).get("completion_tokens"))) {
        wrong.append("run ").append(i).append(": ").append(metrics(s)).append('\n');
      }
    }
    assertEquals("", wrong.toString());
  }

  @Test
  void withOneSlotTheOutputDoesNotDependOnBatchSize() throws Exception {
    Path in = input(tmp.resolve("in"), 10);
    generate(in, tmp.resolve("a"), 1, 16, null, DIRECT);
    generate(in, tmp.resolve("b"), 1, 1, null, DIRECT);
    generate(in, tmp.resolve("c"), 1, 3, null, DIRECT);
    assertEquals(data(tmp.resolve("a")), data(tmp.resolve("b")));
    assertEquals(data(tmp.resolve("a")), data(tmp.resolve("c")));
  }

  @Test
  void aRerunIsServedFromTheCacheAndWritesTheSameOutput() throws Exception {
    Path full = input(tmp.resolve("in"), 10);
    String cache = tmp.resolve("cache").toString();
    // a run that stopped after some requests: the cache holds just those
    Path part = tmp.resolve("part");
    Files.createDirectories(part);
    Files.write(part.resolve("c-prompts.jsonl"), Files.readAllLines(full.resolve("c-prompts.jsonl")).subList(0, 4),
        StandardCharsets.UTF_8);
    // exact counts of what reached the model, from the JVM's shared caching model (the summary's
    // figures come from runner metrics, checked in the first test)
    io.instructflow.inference.CachingModel shared = (io.instructflow.inference.CachingModel)
        ModelSpec.local(model().toString(), 1, 256, 1, 0, false, cache).open();
    long misses0 = shared.misses();
    RunSummary first = generate(part, tmp.resolve("out1"), 1, 4, cache, DIRECT);
    assertEquals(new RunSummary.Counts(4, 4, 0, 0), first.counts(), first.notes().toString());
    assertEquals(4, shared.misses() - misses0);
    assertEquals(4, cacheEntries(tmp.resolve("cache")));

    long misses1 = shared.misses();
    long hits1 = shared.hits();
    RunSummary resumed = generate(full, tmp.resolve("out2"), 1, 4, cache, DIRECT);
    assertEquals(new RunSummary.Counts(14, 11, 0, 3), resumed.counts());
    assertEquals(9, shared.misses() - misses1, "the 4 finished requests are not sent again");
    assertEquals(4, shared.hits() - hits1);
    RunSummary uninterrupted = generate(full, tmp.resolve("out3"), 1, 4, null, DIRECT);
    assertEquals(data(tmp.resolve("out3")), data(tmp.resolve("out2")));
    assertEquals(0L, metrics(uninterrupted).get("cache_hits"));

    long misses2 = shared.misses();
    RunSummary again = generate(full, tmp.resolve("out2"), 1, 4, cache, DIRECT);
    assertEquals(resumed.counts(), again.counts());
    assertEquals(2, shared.misses() - misses2, "only the two failed requests are tried again");
    assertEquals(data(tmp.resolve("out3")), data(tmp.resolve("out2")));
  }

  @Test
  void throughAnOpenAiEndpointTheCompletionsAreTheEmbeddedOnes() throws Exception {
    Path in = input(tmp.resolve("in"), 6);
    generate(in, tmp.resolve("embedded"), 1, 4, null, DIRECT);
    io.instructflow.inference.llama.LlamaCppModel engine = io.instructflow.inference.llama.LlamaCppModel.shared(
        io.instructflow.inference.llama.LlamaCppModel.Config.of(model()).withContextPerSlot(256).withThreads(1));
    try (io.instructflow.inference.serve.OpenAiServer server =
        new io.instructflow.inference.serve.OpenAiServer(engine, "stories", "127.0.0.1", 0, 8)) {
      ModelSpec remote = ModelSpec.remote("http://127.0.0.1:" + server.port() + "/v1", "stories", null, 4, null);
      RunSummary s = GeneratePipeline.run(new GeneratePipeline.Config(ReadOptions.of(in.toString()),
          tmp.resolve("remote").toString(), remote, SamplingParams.greedy(24), 7, 4, 1000, DIRECT),
          new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
      assertEquals(new RunSummary.Counts(10, 7, 0, 3), s.counts(), s.rejected().toString());
      assertEquals(Map.of("invalid_json", 1L, "generation_failed", 1L, "prompt_too_long", 1L), s.rejected(),
          "the server's 400 for chat without a template arrives as a refused request");
    }
    List<String> a = data(tmp.resolve("embedded"));
    List<String> b = data(tmp.resolve("remote"));
    assertEquals(a.size(), b.size());
    for (int i = 0; i < a.size(); i++) {
      JsonNode x = Json.mapper().readTree(a.get(i));
      JsonNode y = Json.mapper().readTree(b.get(i));
      assertEquals(x.get("output"), y.get("output"));
      assertEquals("openai", y.get("provenance").get("steps").get(1).get("model").get("backend").asText());
    }
  }

  /**
   * Issue 21: a key the server refuses stops the run with one message instead of a reject per record:
   * before the run when {@code /v1/models} refuses it (the real {@code serve} with a key), and at the
   * first refused request when only the completions route does (a stub).
   */
  @Test
  void aRefusedKeyStopsTheRunWithOneMessage() throws Exception {
    Path in = input(tmp.resolve("in"), 6);
    io.instructflow.inference.llama.LlamaCppModel engine = io.instructflow.inference.llama.LlamaCppModel.shared(
        io.instructflow.inference.llama.LlamaCppModel.Config.of(model()).withContextPerSlot(256).withThreads(1));
    io.instructflow.inference.serve.OpenAiServer.Settings keyed =
        io.instructflow.inference.serve.OpenAiServer.Settings.defaults(4).withApiKey("not-the-key-in-PATH");
    try (io.instructflow.inference.serve.OpenAiServer server =
        new io.instructflow.inference.serve.OpenAiServer(engine, "keyed-stories", "127.0.0.1", 0, keyed)) {
      // PATH is set and is not the key: a wrong key from a variable that exists. The served names here are
      // this test's own: ModelSpec keeps a JVM's remote models by endpoint and name, and a port of an
      // earlier test's stub may come round again in this JVM
      ModelSpec remote = ModelSpec.remote("http://127.0.0.1:" + server.port() + "/v1", "keyed-stories", "PATH", 4,
          null);
      io.instructflow.inference.ModelUnusableException e = org.junit.jupiter.api.Assertions.assertThrows(
          io.instructflow.inference.ModelUnusableException.class, () -> GeneratePipeline.run(new GeneratePipeline.Config(
              ReadOptions.of(in.toString()), tmp.resolve("keyed").toString(), remote, SamplingParams.greedy(8), 7, 4,
              1000, DIRECT), new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)));
      assertTrue(e.getMessage().contains("HTTP 401") && e.getMessage().contains("read from PATH"), e.getMessage());
      assertTrue(!e.getMessage().contains(System.getenv("PATH")), "the key is never in a message");
      assertEquals(0, server.served());
    }

    java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
    com.sun.net.httpserver.HttpServer stub = com.sun.net.httpserver.HttpServer.create(
        new java.net.InetSocketAddress("127.0.0.1", 0), 16);
    // every completion route refuses the key (the input mixes text and chat records, sent in any order);
    // /v1/models is absent, as on servers without it
    stub.createContext("/v1/", ex -> {
      if (ex.getRequestURI().getPath().endsWith("/models")) {
        ex.sendResponseHeaders(404, -1);
        ex.close();
        return;
      }
      calls.incrementAndGet();
      byte[] b = "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":\"invalid_request_error\"}}"
          .getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(401, b.length);
      try (java.io.OutputStream o = ex.getResponseBody()) {
        o.write(b);
      }
    });
    stub.start();
    try {
      ModelSpec remote = ModelSpec.remote("http://127.0.0.1:" + stub.getAddress().getPort() + "/v1", "stub-stories", null,
          1, null);
      Exception e = org.junit.jupiter.api.Assertions.assertThrows(Exception.class, () -> GeneratePipeline.run(
          new GeneratePipeline.Config(ReadOptions.of(in.toString()), tmp.resolve("stub").toString(), remote,
              SamplingParams.greedy(8), 7, 4, 1000, DIRECT), new PrintStream(new ByteArrayOutputStream(), true,
              StandardCharsets.UTF_8)));
      String message = io.instructflow.pipelines.cli.Main.modelUnusable(e);
      assertTrue(message != null && message.contains("HTTP 401") && message.contains("Incorrect API key provided"),
          String.valueOf(e));
      assertEquals(1, calls.get(), "the first 401 stops the run: one request sent for 10 records");
    } finally {
      stub.stop(0);
    }
  }

  @Test
  void aFileThatIsNotAModelFailsBeforeTheRun() throws Exception {
    Path bogus = Files.writeString(tmp.resolve("bogus.gguf"), "not a model");
    ModelSpec spec = ModelSpec.local(bogus.toString(), 8, 0, 0, 0, false, null);
    Path in = input(tmp.resolve("in"), 2);
    InvalidModelException e = org.junit.jupiter.api.Assertions.assertThrows(InvalidModelException.class,
        () -> GeneratePipeline.run(new GeneratePipeline.Config(ReadOptions.of(in.toString()),
            tmp.resolve("out").toString(), spec, SamplingParams.greedy(8), 0, 4, 1000, DIRECT), System.out));
    assertTrue(e.getMessage().contains("not a GGUF model file"), e.getMessage());
    assertTrue(!Files.exists(Paths.get(tmp.resolve("out").toString(), "run-summary.json")));
  }
}
