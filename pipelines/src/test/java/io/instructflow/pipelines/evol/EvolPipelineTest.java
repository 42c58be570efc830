package io.instructflow.pipelines.evol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.evol.EvolRules;
import io.instructflow.generators.evol.Evol;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.ScriptedEndpoint;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The evol command end to end: with a scripted endpoint (every rule fires, lineage, resume after a
 * stop = an uninterrupted run) and with the real engine on the toy model (plumbing, determinism).
 */
class EvolPipelineTest {
  private static ScriptedEndpoint server;

  /** Rewrites add a clause; the judge calls every 5th rewrite equal; some responses apologize. */
  static String answer(String prompt) {
    int h = Math.abs(prompt.hashCode());
    if (prompt.endsWith("Answer:")) {
      return h % 5 == 0 ? " Equal" : " Different";
    }
    int at = prompt.indexOf("#Original Task#\n");
    if (at >= 0) {
      String task = prompt.substring(at + 16, prompt.indexOf("\n\n#New Task#"));
      return " " + task + " Also explain case " + (h % 97) + ".";
    }
    return h % 7 == 0 ? "Sorry, I cannot." : "Here is a careful answer with facts number " + h + ".";
  }

  @BeforeAll
  static void start() throws Exception {
    server = ScriptedEndpoint.start(EvolPipelineTest::answer);
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  static Path input(Path dir, int n) throws Exception {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append(Json.line(Map.of("instruction", "Describe item number " + i + " in a few words.", "output", "ok"))).append('\n');
    }
    b.append("{broken\n");
    Path f = dir.resolve("in.jsonl");
    Files.writeString(f, b.toString());
    return f;
  }

  static EvolPipeline.Config scripted(Path in, Path out, int epochs, boolean keep, int stopAfter) {
    ModelSpec spec = ModelSpec.remote(server.url(), "scripted", null, 2, out.resolve("cache").toString());
    return new EvolPipeline.Config(ReadOptions.of(in.toString()), out.toString(), spec, Evol.Settings.defaults(3).withFormat(PromptFormat.TEXT), null,
        epochs, keep, 4, 7, new Runner("direct", null), stopAfter);
  }

  static RunSummary run(EvolPipeline.Config c) throws Exception {
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    RunSummary s = EvolPipeline.run(c, new PrintStream(console, true, StandardCharsets.UTF_8));
    assertTrue(console.toString(StandardCharsets.UTF_8).contains("== evol: ok"), console.toString(StandardCharsets.UTF_8));
    return s;
  }

  static List<JsonNode> records(Path out, String kind) throws Exception {
    List<JsonNode> rs = new ArrayList<>();
    Path dir = out.resolve(kind);
    if (Files.isDirectory(dir)) {
      try (var files = Files.list(dir)) {
        for (Path f : files.sorted().toList()) {
          for (String l : Files.readAllLines(f)) {
            rs.add(Json.mapper().readTree(l));
          }
        }
      }
    }
    return rs;
  }

  static String bytes(Path out) throws Exception {
    StringBuilder b = new StringBuilder();
    for (String kind : List.of("data", "filtered", "rejects")) {
      for (JsonNode n : records(out, kind)) {
        b.append(kind).append(' ').append(n).append('\n');
      }
    }
    return b.toString();
  }

  @SuppressWarnings("unchecked")
  static long metric(RunSummary s, String key) {
    return ((Number) ((Map<String, Object>) s.metrics().get("evol")).get(key)).longValue();
  }

  @Test
  void epochsEliminateWithEvidenceKeepLineageAndResume(@TempDir Path dir) throws Exception {
    Path in = input(dir, 24);
    Path whole = dir.resolve("whole");
    RunSummary a = run(scripted(in, whole, 3, true, 0));
    assertTrue(a.reconciled());
    assertEquals(1, a.counts().rejected(), "the broken input line");
    assertEquals(3L, metric(a, "epochs"));
    assertTrue(a.filtered().get(Evol.STEP_ELIMINATE).containsKey(EvolRules.JUDGED_EQUAL), a.filtered().toString());
    assertTrue(a.filtered().get(Evol.STEP_ELIMINATE).containsKey(EvolRules.SORRY_SHORT), a.filtered().toString());
    List<JsonNode> data = records(whole, "data");
    assertEquals(24 + metric(a, "evolved"), data.size(), "originals first, then the evolutions");
    Map<String, JsonNode> byId = new HashMap<>();
    data.forEach(n -> byId.put(n.path("id").asText(), n));
    Set<String> roots = new HashSet<>();
    data.subList(0, 24).forEach(n -> roots.add(n.path("id").asText()));
    int deepest = 0;
    for (JsonNode n : data.subList(24, data.size())) {
      int hops = 0;
      JsonNode at = n;
      while (at.path("metadata").has("evol_parent_id")) {
        assertEquals(n.path("metadata").path("evol_root_id").asText(), at.path("metadata").path("evol_root_id").asText());
        at = byId.get(at.path("metadata").path("evol_parent_id").asText());
        hops++;
      }
      assertTrue(roots.contains(at.path("id").asText()), "walks back to an input record");
      assertEquals(n.path("metadata").path("evol_root_id").asText(), at.path("id").asText());
      deepest = Math.max(deepest, hops);
    }
    assertEquals(3, deepest, "some lineage survived all three epochs");
    for (JsonNode f : records(whole, "filtered")) {
      JsonNode steps = f.path("provenance").path("steps");
      JsonNode last = steps.get(steps.size() - 1);
      assertEquals(Evol.STEP_ELIMINATE, last.path("name").asText());
      assertEquals("dropped", last.path("verdict").path("outcome").asText());
      assertTrue(f.path("metadata").has("evol_parent_id") && f.path("metadata").has("evol_operation"));
    }

    Path resumed = dir.resolve("resumed");
    run(scripted(in, resumed, 3, true, 1));
    int before = server.served();
    RunSummary b = run(scripted(in, resumed, 3, true, 0));
    assertEquals(bytes(whole), bytes(resumed));
    assertEquals(a.counts(), b.counts());
    long epoch1 = Json.mapper().readTree(whole.resolve("epochs/epoch-0001/done.json").toFile()).path("requests").asLong();
    assertEquals(metric(a, "requests") - epoch1, server.served() - before, "epoch 1 was not sent again");

    EvolPipeline.Config other = scripted(in, resumed, 3, true, 0);
    EvolPipeline.Config changed = new EvolPipeline.Config(other.read(), other.out(), other.model(),
        Evol.Settings.defaults(4).withFormat(PromptFormat.TEXT), null, 3, true, 4, 7, other.runner(), 0);
    assertThrows(IllegalStateException.class, () -> EvolPipeline.run(changed, new PrintStream(new ByteArrayOutputStream())));
  }

  /**
   * Issue 19 acceptance: an evol run against instructflow's own server on the ChatML copy of the toy
   * model. The auto format picks chat for an endpoint, so every request reaches the engine as chat
   * messages rendered with the model's template (system message first); rewrites and responses that hit
   * their token limit land in filtered/ with the truncation reason, and nothing else does.
   */
  @Test
  void chatRequestsThroughServeAndTruncatedRecordsFiltered(@TempDir Path dir) throws Exception {
    Path gguf = io.instructflow.pipelines.ChatmlModel.write(dir.resolve("stories-chatml.gguf"));
    io.instructflow.inference.llama.LlamaCppModel engine = io.instructflow.inference.llama.LlamaCppModel.shared(
        io.instructflow.inference.llama.LlamaCppModel.Config.of(gguf).withContextPerSlot(1024).withThreads(2)
            .withParallel(2));
    List<io.instructflow.inference.GenerationRequest> seen = java.util.Collections.synchronizedList(new ArrayList<>());
    List<String> rendered = java.util.Collections.synchronizedList(new ArrayList<>());
    io.instructflow.inference.LanguageModel recording = new io.instructflow.inference.LanguageModel() {
      @Override
      public io.instructflow.schemas.ModelRef ref() {
        return engine.ref();
      }

      @Override
      public List<io.instructflow.inference.GenerationResult> generate(List<io.instructflow.inference.GenerationRequest> b) {
        seen.addAll(b);
        List<io.instructflow.inference.GenerationResult> out = engine.generate(b);
        out.forEach(r -> rendered.add(r.renderedPrompt()));
        return out;
      }
    };
    Path in = input(dir, 6);
    Evol.Settings d = Evol.Settings.defaults(11);
    // small limits for the toy: the story-writing model runs into them, which is what this checks
    Evol.Settings s = d.withParams(new SamplingParams(40, 1.0, 0.95, 0, List.of(), 1), d.judgeParams(),
        new SamplingParams(12, 1.0, 0.95, 0, List.of(), 1));
    try (io.instructflow.inference.serve.OpenAiServer server = new io.instructflow.inference.serve.OpenAiServer(
        recording, "stories-chatml", "127.0.0.1", 0, 4)) {
      Path out = dir.resolve("out");
      ModelSpec spec = ModelSpec.remote("http://127.0.0.1:" + server.port() + "/v1", "stories-chatml", null, 2, null);
      RunSummary r = run(new EvolPipeline.Config(ReadOptions.of(in.toString()), out.toString(), spec, s, null, 2, false, 3,
          1000, new Runner("direct", null), 0));
      assertTrue(r.reconciled());
      assertEquals(1, r.counts().rejected(), "the broken input line, and no failed request");
      assertEquals(12, r.counts().kept() + r.counts().filtered(), "6 lineages x 2 epochs");
      assertTrue(seen.size() >= 12, "at least one rewrite per lineage and epoch: " + seen.size());
      assertTrue(seen.stream().allMatch(io.instructflow.inference.GenerationRequest::isChat), "every request is chat");
      assertTrue(seen.stream().allMatch(q -> q.messages().get(0).role().equals("system")));
      assertTrue(rendered.stream().allMatch(p -> p.startsWith("<|im_start|>system\n") && p.endsWith("<|im_start|>assistant\n")),
          rendered.get(0));
      int truncated = 0;
      for (String kind : List.of("data", "filtered")) {
        for (JsonNode n : records(out, kind)) {
          JsonNode steps = n.path("provenance").path("steps");
          String rewriteFinish = null;
          String responseFinish = null;
          for (JsonNode st : steps) {
            if (st.path("name").asText().equals(Evol.STEP_EVOLVE)) {
              assertEquals("chat", st.path("parameters").path("prompt_format").asText());
              rewriteFinish = st.path("parameters").path("finish_reason").asText();
            } else if (st.path("name").asText().equals(Evol.STEP_RESPOND)) {
              responseFinish = st.path("parameters").path("finish_reason").asText();
            }
          }
          JsonNode verdict = steps.get(steps.size() - 1).path("verdict");
          boolean cut = "length".equals(rewriteFinish) || "length".equals(responseFinish);
          if (cut) {
            truncated++;
            assertEquals("filtered", kind, n.toString());
            assertEquals(Evol.TRUNCATED, verdict.path("filter").asText());
            assertEquals("length".equals(rewriteFinish) ? Evol.TRUNCATED_REWRITE : Evol.TRUNCATED_RESPONSE,
                verdict.path("reason").asText(), n.toString());
          } else {
            assertTrue(!verdict.path("filter").asText().equals(Evol.TRUNCATED), n.toString());
          }
        }
      }
      assertTrue(truncated > 0, "the toy runs into its token limits");
      assertTrue(r.filtered().get(Evol.STEP_ELIMINATE).containsKey(Evol.TRUNCATED_REWRITE), r.filtered().toString());
    }
  }

  /** Issue 19: --mix wizardlm is the input records plus every epoch's evolutions, in one seeded shuffle. */
  @Test
  void wizardlmMixShufflesTheOriginalsAndEveryEpochSeeded(@TempDir Path dir) throws Exception {
    Path in = input(dir, 24);
    Path epochs = dir.resolve("epochs");
    RunSummary e = run(scripted(in, epochs, 2, true, 0));
    Path mixed = dir.resolve("mixed");
    RunSummary m = run(scripted(in, mixed, 2, false, 0).withMix(EvolPipeline.Mix.WIZARDLM));
    assertTrue(m.reconciled());
    assertEquals(e.counts(), m.counts(), "the same records, kept, filtered and rejected");
    List<String> ordered = records(epochs, "data").stream().map(JsonNode::toString).toList();
    List<String> shuffled = records(mixed, "data").stream().map(JsonNode::toString).toList();
    assertEquals(24 + metric(m, "evolved"), shuffled.size(), "the originals and every epoch's evolutions");
    assertEquals(new java.util.TreeSet<>(ordered).size(), ordered.size());
    assertEquals(new java.util.TreeSet<>(ordered), new java.util.TreeSet<>(shuffled));
    assertTrue(!ordered.equals(shuffled), "shuffled");
    long originalsInFirstHalf = shuffled.subList(0, shuffled.size() / 2).stream()
        .filter(l -> !l.contains("evol_root_id")).count();
    assertTrue(originalsInFirstHalf > 0 && originalsInFirstHalf < 24, "originals spread: " + originalsInFirstHalf);
    assertEquals(bytes(epochs).replaceAll("(?m)^data .*\n", ""), bytes(mixed).replaceAll("(?m)^data .*\n", ""),
        "filtered/ and rejects/ as without the mix");
    Path again = dir.resolve("again");
    run(scripted(in, again, 2, false, 0).withMix(EvolPipeline.Mix.WIZARDLM));
    assertEquals(bytes(mixed), bytes(again), "the same seed gives the same shuffle");
    assertTrue(Files.readString(mixed.resolve("run-summary.json")).contains("WizardLM's mix"));
    assertThrows(IllegalArgumentException.class, () -> EvolPipeline.Mix.parse("random"));
  }

  /** Issue 19: the reference's 2,048-token limits do not fit the embedded engine's default context; say so first. */
  @Test
  void tokenLimitsThatCannotFitTheContextFailBeforeTheRun(@TempDir Path dir) throws Exception {
    Path model = io.instructflow.pipelines.ChatmlModel.stories();
    Path in = input(dir, 2);
    ModelSpec spec = ModelSpec.local(model.toString(), 1, 0, 1, 0, false, null);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EvolPipeline.run(
        new EvolPipeline.Config(ReadOptions.of(in.toString()), dir.resolve("out").toString(), spec,
            Evol.Settings.defaults(1), null, 1, false, 4, 1000, new Runner("direct", null), 0),
        new PrintStream(new ByteArrayOutputStream())));
    assertTrue(e.getMessage().contains("2048-token context") && e.getMessage().contains("--ctx-per-slot"), e.getMessage());
    assertTrue(!Files.exists(dir.resolve("out/epochs")), "nothing ran");
  }

  @Test
  void realEngineOnTheToyModel(@TempDir Path dir) throws Exception {
    Path model = Paths.get(System.getProperty("instructflow.shared", "../../shared")).resolve("models/stories260K.gguf");
    assumeTrue(Files.isRegularFile(model), "no test model");
    Path in = input(dir, 6);
    Evol.Settings s = Evol.Settings.defaults(2).withParams(new SamplingParams(32, 0.7, 0.95, 0, List.of(), 1),
        Evol.Settings.defaults(2).judgeParams(), SamplingParams.greedy(32));
    List<String> outs = new ArrayList<>();
    for (String name : List.of("a", "b")) {
      Path out = dir.resolve(name);
      ModelSpec spec = ModelSpec.local(model.toAbsolutePath().toString(), 1, 0, 1, 0, false, null);
      RunSummary r = run(new EvolPipeline.Config(ReadOptions.of(in.toString()), out.toString(), spec, s, null, 2, false, 4,
          1000, new Runner("direct", null), 0));
      assertTrue(r.reconciled());
      assertEquals(12, r.counts().kept() + r.counts().filtered(), "6 lineages x 2 epochs, each attempt recorded");
      for (JsonNode n : records(out, "data")) {
        JsonNode steps = n.path("provenance").path("steps");
        JsonNode evolve = steps.get(1);
        assertEquals(Evol.STEP_EVOLVE, evolve.path("name").asText());
        assertEquals(64, evolve.path("model").path("sha256").asText().length());
        assertTrue(evolve.path("prompt").path("templateId").asText().startsWith("evol/"));
        assertTrue(evolve.path("seed").isNumber());
        assertTrue(n.path("metadata").has("evol_root_id"));
      }
      outs.add(bytes(out));
    }
    assertEquals(outs.get(0), outs.get(1), "same input, model and seed: same bytes (no cache)");
  }
}
