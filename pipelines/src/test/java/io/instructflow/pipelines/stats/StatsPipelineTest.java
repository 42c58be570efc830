package io.instructflow.pipelines.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.RunSummary;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StatsPipelineTest {
  @Test
  void quantilesAreExactNearestRank() {
    FieldStats f = new FieldStats();
    for (long v = 1; v <= 100; v++) {
      f.add(v);
    }
    assertEquals(50, f.quantile(0.5));
    assertEquals(90, f.quantile(0.9));
    assertEquals(99, f.quantile(0.99));
    assertEquals(100, f.quantile(1.0));
    assertEquals(Map.of("count", 100L, "min", 1L, "p50", 50L, "p90", 90L, "p99", 99L, "max", 100L, "mean", 50.5), f.summary());
    FieldStats g = new FieldStats();
    g.add(1000);
    f.merge(g);
    assertEquals(101, f.count());
    assertEquals(1000, f.quantile(1.0));
    assertEquals(0, new FieldStats().quantile(0.5));
  }

  @Test
  void countsCodePointsNotUtf16UnitsAndSeparatesChat() {
    Provenance p = new Provenance(new Origin("zh", "MIT", "f:1", null, "alpaca", null), List.of());
    DatasetStats s = new DatasetStats();
    s.add(Example.single("写诗𠀀", null, "春风 十里", Map.of(), p));
    s.add(Example.chat(List.of(new Message("user", "hi"), new Message("assistant", "hello there")), Map.of(), p));
    Map<String, Object> m = s.toMap();
    assertEquals(2L, m.get("records"));
    assertEquals(1L, m.get("chatRecords"));
    @SuppressWarnings("unchecked")
    Map<String, Map<String, Map<String, Object>>> fields = (Map<String, Map<String, Map<String, Object>>>) m.get("fields");
    assertEquals(3L, fields.get("instruction").get("chars").get("max"), "a supplementary character counts once");
    assertEquals(2L, fields.get("output").get("words").get("max"));
    assertEquals(3L, fields.get("messages").get("words").get("max"));
  }

  @Test
  void statsOfAFileWithRejects(@TempDir Path tmp) throws Exception {
    Path in = TestFiles.mixedFile(tmp);
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    RunSummary s = StatsPipeline.run(new StatsPipeline.Config(new io.instructflow.pipelines.io.ReadOptions(in.toString(),
        null, "mix", "MIT", 256), tmp.resolve("out").toString(), new Runner("direct", null)),
        new PrintStream(console, true, StandardCharsets.UTF_8));
    assertEquals(new RunSummary.Counts(14, 5, 0, 9), s.counts());
    JsonNode stats = Json.mapper().readTree(Files.readString(tmp.resolve("out/stats.json")));
    assertEquals(5, stats.path("records").asLong());
    assertEquals(5, stats.path("byDataset").path("mix").asLong());
    assertEquals(5, stats.path("byLicense").path("MIT").asLong());
    assertEquals(4, stats.path("fields").path("output").path("present").asLong());
    assertEquals(8, stats.path("fields").path("instruction").path("chars").path("min").asLong(), "'用中文写一首短诗' is 8 characters");
    String text = console.toString(StandardCharsets.UTF_8);
    assertEquals(true, text.contains("records: 5"), text);
  }
}
