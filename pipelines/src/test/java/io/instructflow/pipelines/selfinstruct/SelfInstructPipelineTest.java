package io.instructflow.pipelines.selfinstruct;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.generators.selfinstruct.InstanceRules;
import io.instructflow.generators.selfinstruct.SelfInstruct;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.ScriptedEndpoint;
import io.instructflow.pipelines.TestFiles;
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
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The self-instruct command end to end: with the real engine on the shared toy model (plumbing,
 * provenance, reconciling counts, determinism), and with a scripted OpenAI-compatible server whose
 * answers pass the rules (pool growth over rounds, resume after a stop = an uninterrupted run).
 */
class SelfInstructPipelineTest {
  private static ScriptedEndpoint server;

  @BeforeAll
  static void startServer() throws Exception {
    server = ScriptedEndpoint.start(SelfInstructAnswers::answer);
  }

  @AfterAll
  static void stopServer() {
    server.close();
  }

  static Path seeds() {
    Path p = TestFiles.sharedData().resolve("seed/self-instruct_seed_tasks.jsonl");
    assumeTrue(Files.isRegularFile(p), "no seed file");
    return p.toAbsolutePath();
  }

  static Path model() {
    Path p = Paths.get(System.getProperty("instructflow.shared", "../../shared")).resolve("models/stories260K.gguf");
    assumeTrue(Files.isRegularFile(p), "no test model");
    return p.toAbsolutePath();
  }

  static SelfInstructPipeline.Config scripted(Path out, int target, int stopAfter) {
    return scripted(server, out, target, stopAfter, new Runner("direct", null));
  }

  static SelfInstructPipeline.Config scripted(ScriptedEndpoint server, Path out, int target, int stopAfter, Runner runner) {
    ModelSpec spec = ModelSpec.remote(server.url(), "scripted", null, 2,
        out.resolve("cache").toString());
    SelfInstruct.Settings s = SelfInstruct.Settings.defaults(SelfInstruct.Preset.SELF_INSTRUCT, 11).withPromptsPerRound(2);
    return new SelfInstructPipeline.Config(seeds(), out.toString(), spec, s, null, target, 20, 3, 4, runner, stopAfter);
  }

  static RunSummary run(SelfInstructPipeline.Config c) throws Exception {
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    RunSummary s = SelfInstructPipeline.run(c, new PrintStream(console, true, StandardCharsets.UTF_8));
    assertTrue(console.toString(StandardCharsets.UTF_8).contains("== self-instruct: ok"), console.toString(StandardCharsets.UTF_8));
    return s;
  }

  @SuppressWarnings("unchecked")
  static long metric(RunSummary s, String key) {
    return ((Number) ((Map<String, Object>) s.metrics().get("self_instruct")).get(key)).longValue();
  }

  static String folder(Path out, String kind) throws Exception {
    StringBuilder b = new StringBuilder();
    Path dir = out.resolve(kind);
    if (Files.isDirectory(dir)) {
      try (var files = Files.list(dir)) {
        for (Path f : files.sorted().toList()) {
          b.append(f.getFileName()).append('\n').append(Files.readString(f));
        }
      }
    }
    return b.toString();
  }

  @Test
  void poolGrowsOverRoundsAndAResumedRunEqualsAnUninterruptedOne(@TempDir Path dir) throws Exception {
    Path whole = dir.resolve("whole");
    RunSummary a = run(scripted(whole, 8, 0));
    assertTrue(a.reconciled());
    assertEquals("ok", a.status());
    long tasks = metric(a, "tasks_kept");
    long rounds = metric(a, "rounds");
    assertTrue(tasks >= 8, "target reached: " + tasks);
    assertTrue(rounds >= 2, "several rounds: " + rounds);
    assertTrue(a.counts().kept() >= tasks);
    // later rounds show machine instructions in their prompts
    boolean machineParent = false;
    for (String line : folder(whole, "data").split("\n")) {
      if (line.startsWith("{")) {
        JsonNode n = Json.mapper().readTree(line);
        if (n.path("metadata").path("round").asInt() > 1) {
          machineParent |= n.path("provenance").path("steps").get(0).path("parameters").path("examples").asInt() == 8;
        }
        assertEquals(4, n.path("provenance").path("steps").size());
      }
    }
    assertTrue(machineParent);

    Path resumed = dir.resolve("resumed");
    RunSummary first = run(scripted(resumed, 8, 1));
    assertEquals(1L, metric(first, "rounds"));
    int before = server.served();
    RunSummary second = run(scripted(resumed, 8, 0));
    assertEquals(rounds, metric(second, "rounds"));
    for (String kind : List.of("data", "filtered", "rejects")) {
      assertEquals(folder(whole, kind), folder(resumed, kind), kind);
    }
    assertEquals(a.counts(), second.counts());
    // round 1 was not run again: the rerun sent exactly the requests of rounds 2 and later
    long round1 = Json.mapper().readTree(whole.resolve("rounds/round-0001/done.json").toFile()).path("requests").asLong();
    assertTrue(round1 > 0);
    assertEquals(metric(a, "requests") - round1, server.served() - before);

    // a different configuration in the same folder is refused
    SelfInstructPipeline.Config other = scripted(resumed, 8, 0);
    SelfInstructPipeline.Config changed = new SelfInstructPipeline.Config(other.seeds(), other.out(), other.model(),
        other.settings().withPromptsPerRound(3), null, 8, 20, 3, 4, other.runner(), 0);
    assertThrows(IllegalStateException.class, () -> SelfInstructPipeline.run(changed, new PrintStream(new ByteArrayOutputStream())));

    // issue 21: the same settings against another server (another model identity) are refused, saying so
    try (ScriptedEndpoint moved = ScriptedEndpoint.start(SelfInstructAnswers::answer)) {
      SelfInstructPipeline.Config swapped = scripted(moved, resumed, 8, 0, new Runner("direct", null));
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> SelfInstructPipeline.run(swapped, new PrintStream(new ByteArrayOutputStream())));
      assertTrue(e.getMessage().contains("made with another model") && e.getMessage().contains(moved.url()),
          e.getMessage());
      assertEquals(0, moved.served(), "refused before any request");
    }
  }

  /**
   * Issue 19: a task joins the pool when it passes the ROUGE-L gate, so tasks whose instances all fail
   * still count toward the target; and seeds without is_classification get a warning saying what the
   * classification check and the output-first prompt lack.
   */
  @Test
  void tasksJoinThePoolWithoutInstancesAndUnlabeledSeedsAreWarnedAbout(@TempDir Path dir) throws Exception {
    Path seeds = dir.resolve("seeds.jsonl");
    List<String> lines = new ArrayList<>();
    for (String l : Files.readAllLines(seeds())) {
      lines.add(l.replaceAll(", \"is_classification\": (true|false)", ""));
    }
    Files.write(seeds, lines);
    try (ScriptedEndpoint noInstances = ScriptedEndpoint.start(p -> p.contains("Write worked examples")
        || p.contains("classification task. First") ? "I would rather not." : SelfInstructAnswers.answer(p))) {
      SelfInstructPipeline.Config base = scripted(noInstances, dir.resolve("out"), 5, 0, new Runner("direct", null));
      ByteArrayOutputStream console = new ByteArrayOutputStream();
      RunSummary r = SelfInstructPipeline.run(new SelfInstructPipeline.Config(seeds, base.out(), base.model(),
          base.settings(), null, 5, 20, 3, 4, base.runner(), 0), new PrintStream(console, true, StandardCharsets.UTF_8));
      String text = console.toString(StandardCharsets.UTF_8);
      assertTrue(r.reconciled());
      assertEquals(0, r.counts().kept(), "no instance survived");
      assertTrue(metric(r, "tasks_kept") >= 5, "the target counts the pool: " + metric(r, "tasks_kept"));
      assertTrue(r.filtered().get(SelfInstruct.STEP_INSTANCES).containsKey(InstanceRules.NONE_PARSED), r.filtered().toString());
      List<String> added = Files.readAllLines(dir.resolve("out/rounds/round-0001/added/data/part-00000.jsonl"));
      assertTrue(added.size() > 0 && added.get(0).contains("\"round\":1"), added.toString());
      assertTrue(text.contains("warning: 175 of 175 seed task(s) have no is_classification"), text);
      assertTrue(text.contains("shows 0 of its 12 classification examples"), text);
      assertTrue(r.notes().stream().anyMatch(n -> n.contains("no is_classification")), r.notes().toString());
    }
  }

  @Test
  void badSeedLinesAreRejectedWithTheirLocationAndTheRunGoesOn(@TempDir Path dir) throws Exception {
    Path seeds = dir.resolve("seeds.jsonl");
    List<String> lines = new ArrayList<>(Files.readAllLines(seeds()));
    lines.add(3, "{broken");
    lines.add(10, "{\"input\": \"no instruction\"}");
    Files.write(seeds, lines);
    SelfInstructPipeline.Config base = scripted(dir.resolve("out"), 2, 0);
    RunSummary r = run(new SelfInstructPipeline.Config(seeds, base.out(), base.model(), base.settings(), null, 2, 20, 3, 4,
        base.runner(), 0));
    assertTrue(r.reconciled());
    assertEquals(Map.of("invalid_json", 1L, "missing_field", 1L), r.rejected());
    assertEquals(175L + 2, metric(r, "seeds_read"));
    String rejects = folder(dir.resolve("out"), "rejects");
    assertTrue(rejects.contains("\"seeds.jsonl:4\"") && rejects.contains("\"seeds.jsonl:11\""), rejects);
    assertTrue(r.counts().kept() > 0);
  }

  @Test
  void realEngineOnTheToyModel(@TempDir Path dir) throws Exception {
    Path model = model();
    SelfInstruct.Settings s = SelfInstruct.Settings.defaults(SelfInstruct.Preset.SELF_INSTRUCT, 5).withPromptsPerRound(2);
    SamplingParams g = new SamplingParams(48, 0.7, 0.5, 0, List.of("."), 1);
    s = s.withParams(g, s.classifyParams(), new SamplingParams(32, 0, 1, 0, s.instanceParams().stop(), 1));
    List<String> outs = new ArrayList<>();
    for (String name : List.of("a", "b")) {
      Path out = dir.resolve(name);
      ModelSpec spec = ModelSpec.local(model.toString(), 1, 4096, 1, 0, false, null);
      RunSummary r = run(new SelfInstructPipeline.Config(seeds(), out.toString(), spec, s, null, 50, 2, 4, 1000,
          new Runner("direct", null), 0));
      assertTrue(r.reconciled());
      assertEquals(4L, metric(r, "prompts"));
      assertEquals(r.counts().read(), r.counts().kept() + r.counts().filtered() + r.counts().rejected());
      assertTrue(r.counts().filtered() > 0, "the toy model's stories are filtered");
      assertTrue(r.notes().stream().anyMatch(n -> n.contains("of 50 target")));
      for (String line : folder(out, "filtered").split("\n")) {
        if (!line.startsWith("{")) {
          continue;
        }
        JsonNode n = Json.mapper().readTree(line);
        JsonNode gen = n.path("provenance").path("steps").get(0);
        assertEquals(SelfInstruct.STEP_GENERATE, gen.path("name").asText());
        assertEquals(64, gen.path("model").path("sha256").asText().length());
        assertEquals("llama.cpp", gen.path("model").path("backend").asText());
        assertEquals(SelfInstruct.T_INSTRUCTIONS, gen.path("prompt").path("templateId").asText());
        assertEquals(8, gen.path("parents").size());
        assertTrue(gen.path("seed").isNumber());
        assertEquals(0.7, gen.path("parameters").path("sampling").path("temperature").asDouble());
        JsonNode last = n.path("provenance").path("steps").get(n.path("provenance").path("steps").size() - 1);
        assertEquals("dropped", last.path("verdict").path("outcome").asText());
        assertNotNull(last.path("verdict").path("reason").asText(null));
        assertTrue(last.path("verdict").path("reason").asText().startsWith(last.path("verdict").path("filter").asText() + "."));
      }
      outs.add(folder(out, "data") + folder(out, "filtered") + folder(out, "rejects"));
    }
    assertEquals(outs.get(0), outs.get(1), "same seeds, model and seed: same bytes (no cache in either run)");
  }
}
