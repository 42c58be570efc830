package io.instructflow.pipelines.evol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.evol.EvolRules;
import io.instructflow.generators.evol.Evol;
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
    return new EvolPipeline.Config(ReadOptions.of(in.toString()), out.toString(), spec, Evol.Settings.defaults(3), null,
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
        Evol.Settings.defaults(4), null, 3, true, 4, 7, other.runner(), 0);
    assertThrows(IllegalStateException.class, () -> EvolPipeline.run(changed, new PrintStream(new ByteArrayOutputStream())));
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
      ModelSpec spec = new ModelSpec(model.toAbsolutePath().toString(), 1, 0, 1, 0, false, null);
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
