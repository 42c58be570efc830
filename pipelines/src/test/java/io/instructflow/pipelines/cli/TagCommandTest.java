package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.generators.tag.RecordTagger;
import io.instructflow.pipelines.ChatmlModel;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.schemas.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code instructflow tag} from the command line (issue 22): bad options exit 2 before any run; a run tags. */
class TagCommandTest {
  @Test
  void tagFromTheCommandLine(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("in.jsonl");
    Files.write(in, List.of(Json.line(Map.of("instruction", "用 Python 写一个排序函数。", "output", "def f(): pass")),
        Json.line(Map.of("instruction", "Plan a trip to the sea.", "output", "Go by train."))));
    String model = ChatmlModel.stories().toString();
    String out = tmp.resolve("o").toString();
    assertTrue(MainTest.cli(2, "tag", "--in", in.toString(), "--out", out, "--model", model, "--tags", "topic")[1]
        .contains("--tags: expected task_category, difficulty or input_quality, got 'topic'"));
    assertTrue(MainTest.cli(2, "tag", "--in", in.toString(), "--out", out, "--model", model, "--tags",
        "difficulty,difficulty")[1].contains("--tags: a tag is named twice"));
    assertTrue(MainTest.cli(0, "tag", "--help")[0].contains("input_quality"));
    MainTest.cli(0, "tag", "--in", in.toString(), "--out", out, "--model", model, "--tags", "difficulty",
        "--ctx-per-slot", "1024", "--threads", "1", "--runner", "direct");
    List<String> lines = TestFiles.lines(new OutputLayout(out), OutputLayout.Kind.DATA);
    assertEquals(2, lines.size());
    for (String l : lines) {
      JsonNode tags = Json.mapper().readTree(l).path("metadata").path("tags");
      assertEquals(1, tags.size(), tags.toString());
      assertTrue(RecordTagger.Tag.DIFFICULTY.labels().contains(tags.path("difficulty").path("value").asText()), l);
    }
  }
}
