package io.instructflow.pipelines.tag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.tag.RecordTagger;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.ChatmlModel;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tag end to end on the real stories260K engine (issue 22, item 5): every label from its tag's set (the
 * toy model's choice is noise, the grammar's bound is not), stored with the model's identity and the
 * template hash, a tag step in provenance, rejects with their reasons, counts that reconcile, and the same
 * bytes on a rerun.
 */
class TagPipelineTest {
  static final Runner DIRECT = new Runner("direct", null);

  @TempDir Path tmp;

  static Path input(Path dir) throws Exception {
    Files.createDirectories(dir);
    List<String> lines = new ArrayList<>();
    lines.add(Json.line(Map.of("instruction", "Write a function that adds two numbers.", "input", "", "output", "x")));
    lines.add(Json.line(Map.of("instruction", "讲一个关于小狗的故事。", "input", "小狗", "output", "小狗很开心。")));
    lines.add(Json.line(Map.of("instruction", "Tell a story about a cat.", "input", "", "output", "")));
    lines.add(Json.line(Map.of("instruction", "Once upon a time there was a cat. ".repeat(60), "input", "",
        "output", "The end.")));
    lines.add("{\"instruction\": \"unterminated");
    Files.write(dir.resolve("a-alpaca.jsonl"), lines, StandardCharsets.UTF_8);
    Files.write(dir.resolve("b-chat.jsonl"), List.of(
        Json.line(Map.of("messages", List.of(Map.of("role", "user", "content", "你好，请介绍一下你自己。"),
            Map.of("role", "assistant", "content", "Lily said hello.")))),
        Json.line(Map.of("messages", List.of(Map.of("role", "assistant", "content", "Hello, how can I help?"))))),
        StandardCharsets.UTF_8);
    return dir;
  }

  static RunSummary tag(Path in, Path out, List<RecordTagger.Tag> tags) throws Exception {
    ModelSpec spec = ModelSpec.local(ChatmlModel.stories().toString(), 2, 1024, 1, 0, false,
        out.resolve("cache").toString());
    return TagPipeline.plan(new TagPipeline.Config(ReadOptions.of(in.toString()), out.toString(), spec,
        RecordTagger.Settings.of(tags, false, false, null), PromptFormat.AUTO, 3, 1000, DIRECT),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
        io.instructflow.pipelines.runtime.PipelineRun.Fusion.NONE).runAlone();
  }

  static List<JsonNode> lines(Path out, OutputLayout.Kind kind) throws Exception {
    List<JsonNode> l = new ArrayList<>();
    for (String s : TestFiles.lines(new OutputLayout(out.toString()), kind)) {
      l.add(Json.mapper().readTree(s));
    }
    return l;
  }

  @Test
  void everyLabelIsFromItsSetStoredWithTheModelAndTheSameOnRerun() throws Exception {
    Path in = input(tmp.resolve("in"));
    List<RecordTagger.Tag> all = List.of(RecordTagger.Tag.values());
    RunSummary s = tag(in, tmp.resolve("out"), all);
    assertTrue(s.reconciled());
    // read 7: four tagged (the missing output does not matter); the long one rejected here, the broken
    // line and the chat without a user turn when read
    assertEquals(new RunSummary.Counts(7, 4, 0, 3), s.counts());
    assertEquals(Map.of("invalid_json", 1L, "empty_instruction", 1L, "prompt_too_long", 1L), s.rejected());
    List<JsonNode> kept = lines(tmp.resolve("out"), OutputLayout.Kind.DATA);
    String sha = ChatmlModel.stories().getFileName().toString();
    for (JsonNode k : kept) {
      for (RecordTagger.Tag t : all) {
        JsonNode v = k.path("metadata").path("tags").path(t.code());
        assertTrue(t.labels().contains(v.path("value").asText()), t.code() + ": " + v);
        assertEquals(sha, v.path("model").path("id").asText());
        assertEquals(64, v.path("model").path("sha256").asText().length());
        assertEquals(t.template(), v.path("template").asText());
        assertEquals(64, v.path("templateHash").asText().length());
        assertEquals("text", v.path("format").asText());
      }
      JsonNode steps = k.path("provenance").path("steps");
      JsonNode step = steps.get(steps.size() - 1);
      assertEquals("tag", step.path("name").asText());
      assertEquals(sha, step.path("model").path("id").asText());
      assertEquals(List.of("task_category", "difficulty", "input_quality"),
          Json.mapper().convertValue(step.path("parameters").path("tags"), List.class));
    }
    List<JsonNode> rejects = lines(tmp.resolve("out"), OutputLayout.Kind.REJECTS);
    for (JsonNode r : rejects) {
      if (r.path("reason").asText().equals("prompt_too_long")) {
        assertEquals("tag", r.path("step").asText(), r.toString());
        assertTrue(r.path("message").asText().startsWith("task_category: "), r.toString());
      }
    }

    // a rerun without the cache asks the engine again: greedy under the grammar, the same bytes
    tag(in, tmp.resolve("again"), all);
    assertEquals(TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.DATA),
        TestFiles.lines(new OutputLayout(tmp.resolve("again").toString()), OutputLayout.Kind.DATA));

    // one tag on its own, over tagged data: the new tag joins the old ones, the label is the same
    RunSummary one = tag(tmp.resolve("out/data"), tmp.resolve("one"), List.of(RecordTagger.Tag.DIFFICULTY));
    assertEquals(new RunSummary.Counts(4, 4, 0, 0), one.counts());
    List<JsonNode> again = lines(tmp.resolve("one"), OutputLayout.Kind.DATA);
    for (int i = 0; i < kept.size(); i++) {
      assertEquals(kept.get(i).path("metadata").path("tags"), again.get(i).path("metadata").path("tags"));
    }
  }
}
