package io.instructflow.pipelines.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.InputFiles;
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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The import command end to end on the DirectRunner. */
class ImportPipelineTest {
  static final Runner DIRECT = new Runner("direct", null);

  static RunSummary run(Path in, Path out, int maxLineBytes, long shardSize, Double maxRejectRatio, Runner runner)
      throws Exception {
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    RunSummary s = ImportPipeline.run(
        new ImportPipeline.Config(new ReadOptions(in.toString(), null, null, "CC-BY-4.0", maxLineBytes), out.toString(),
            shardSize, maxRejectRatio, runner),
        new PrintStream(console, true, StandardCharsets.UTF_8));
    String text = console.toString(StandardCharsets.UTF_8);
    assertTrue(text.contains("== import: "), "console ends with a summary: " + text);
    return s;
  }

  @Test
  void badLinesGoToRejectsWithTheirLineAndGoodLinesToData(@TempDir Path tmp) throws Exception {
    Path in = TestFiles.mixedFile(tmp);
    Path out = tmp.resolve("out");
    RunSummary s = run(in, out, 256, 50_000, null, DIRECT);
    OutputLayout layout = new OutputLayout(out.toString());

    List<String> kept = new ArrayList<>();
    for (String line : TestFiles.lines(layout, OutputLayout.Kind.DATA)) {
      JsonNode n = Json.mapper().readTree(line);
      kept.add(n.path("provenance").path("origin").path("location").asText());
      assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, n), line);
      assertEquals("CC-BY-4.0", n.path("provenance").path("origin").path("license").asText());
      assertEquals("mixed", n.path("provenance").path("origin").path("dataset").asText());
    }
    assertEquals(List.of("mixed.jsonl:1", "mixed.jsonl:4", "mixed.jsonl:9", "mixed.jsonl:12", "mixed.jsonl:15"), kept);

    List<String> rejects = new ArrayList<>();
    for (String line : TestFiles.lines(layout, OutputLayout.Kind.REJECTS)) {
      JsonNode n = Json.mapper().readTree(line);
      assertEquals(List.of(), Schemas.errors(Schemas.Kind.REJECT, n), line);
      assertEquals(in.toString(), n.path("source").asText());
      assertFalse(n.path("message").asText().isBlank());
      rejects.add(n.path("location").asText() + " " + n.path("reason").asText());
    }
    assertEquals(List.of(
        "mixed.jsonl:2 invalid_json", "mixed.jsonl:3 not_an_object", "mixed.jsonl:5 missing_field",
        "mixed.jsonl:6 wrong_type", "mixed.jsonl:7 empty_instruction", "mixed.jsonl:8 invalid_utf8",
        "mixed.jsonl:10 line_too_long", "mixed.jsonl:11 wrong_type", "mixed.jsonl:14 invalid_json"), rejects);

    assertEquals(new RunSummary.Counts(14, 5, 0, 9), s.counts());
    assertTrue(s.reconciled());
    assertEquals("ok", s.status());
    assertEquals(1, s.blankLines());
    assertEquals(Map.of("invalid_json", 2L, "not_an_object", 1L, "missing_field", 1L, "wrong_type", 2L,
        "empty_instruction", 1L, "invalid_utf8", 1L, "line_too_long", 1L), s.rejected());
    JsonNode onDisk = Json.mapper().readTree(Files.readString(out.resolve("run-summary.json")));
    assertEquals(List.of(), Schemas.errors(Schemas.Kind.RUN_SUMMARY, onDisk));
    assertEquals(Json.line(s), Json.line(onDisk), "the file holds the returned summary");
    assertTrue(Files.isDirectory(out.resolve("filtered")));
    assertFalse(Files.exists(out.resolve(".staging")), "staging removed after publish");
  }

  @Test
  void rerunsAreByteIdenticalAndShardsKeepInputOrder(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("in");
    Files.createDirectories(in.resolve("sub"));
    for (int f = 0; f < 3; f++) {
      StringBuilder sb = new StringBuilder();
      for (int i = 0; i < 5; i++) {
        sb.append("{\"prompt\": \"file ").append(f).append(" row ").append(i).append("\", \"completion\": \"ok\"}\n");
      }
      Files.writeString(in.resolve(f == 1 ? "sub/b.jsonl" : "f" + f + ".jsonl"), sb.toString());
    }
    Files.writeString(in.resolve("notes.txt"), "not data");
    Path a = tmp.resolve("a");
    Path b = tmp.resolve("b");
    run(in, a, 1 << 20, 4, null, DIRECT);
    run(in, b, 1 << 20, 4, null, DIRECT);
    OutputLayout la = new OutputLayout(a.toString());
    OutputLayout lb = new OutputLayout(b.toString());
    assertEquals(TestFiles.fingerprint(la, OutputLayout.Kind.DATA), TestFiles.fingerprint(lb, OutputLayout.Kind.DATA));
    List<String> order = new ArrayList<>();
    for (String line : TestFiles.lines(la, OutputLayout.Kind.DATA)) {
      order.add(Json.mapper().readTree(line).path("instruction").asText());
    }
    // files sorted by path: f0.jsonl, f2.jsonl, sub/b.jsonl (file 1)
    List<String> want = new ArrayList<>();
    for (int f : new int[] {0, 2, 1}) {
      for (int i = 0; i < 5; i++) {
        want.add("file " + f + " row " + i);
      }
    }
    assertEquals(want, order);
    assertEquals(List.of("f0.jsonl:1", "sub/b.jsonl:5"),
        List.of(Json.mapper().readTree(TestFiles.lines(la, OutputLayout.Kind.DATA).get(0)).path("provenance").path("origin").path("location").asText(),
            Json.mapper().readTree(TestFiles.lines(la, OutputLayout.Kind.DATA).get(14)).path("provenance").path("origin").path("location").asText()));
    // 5-line files never fit a 4-line shard with another: one shard per file
    assertEquals(3, la.shardFiles(OutputLayout.Kind.DATA).size());

    // a rerun into the same folder replaces the old shards, leaving no stale ones behind
    run(in.resolve("f0.jsonl"), a, 1 << 20, 4, null, DIRECT);
    assertEquals(1, la.shardFiles(OutputLayout.Kind.DATA).size());
    assertEquals(5, la.countLines(OutputLayout.Kind.DATA));
  }

  @Test
  void relativeFolderPathsKeepNestedNamesApart(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("corpus");
    Files.createDirectories(in.resolve("a"));
    Files.createDirectories(in.resolve("b"));
    Files.writeString(in.resolve("a/train.json"), "[{\"instruction\": \"from a\"}]");
    Files.writeString(in.resolve("b/train.json"), "[{\"instruction\": \"from b\"}]");
    Path relative = Path.of("").toAbsolutePath().relativize(in.resolve("a/../."));
    run(relative, tmp.resolve("out"), 1 << 20, 10, null, DIRECT);
    List<String> locs = new ArrayList<>();
    for (String line : TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.DATA)) {
      JsonNode n = Json.mapper().readTree(line);
      locs.add(n.path("provenance").path("origin").path("location").asText() + " " + n.path("provenance").path("origin").path("dataset").asText());
    }
    assertEquals(List.of("a/train.json#0 corpus", "b/train.json#0 corpus"), locs);
  }

  @Test
  void rejectRatioOverTheLimitIsReportedAfterWritingEverything(@TempDir Path tmp) throws Exception {
    Path in = TestFiles.mixedFile(tmp);
    RunSummary s = run(in, tmp.resolve("out"), 256, 50_000, 0.5, DIRECT);
    assertEquals("reject_ratio_exceeded", s.status());
    assertEquals(5, new OutputLayout(tmp.resolve("out").toString()).countLines(OutputLayout.Kind.DATA));
    assertEquals("ok", run(in, tmp.resolve("out2"), 256, 50_000, 0.7, DIRECT).status());
  }

  @Test
  void missingInputIsAnErrorBeforeTheRun(@TempDir Path tmp) {
    InputFiles.InputException e = assertThrows(InputFiles.InputException.class,
        () -> run(tmp.resolve("nope.jsonl"), tmp.resolve("out"), 1 << 20, 10, null, DIRECT));
    assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
    assertFalse(Files.exists(tmp.resolve("out")), "nothing written");
  }

  @Test
  void jsonArrayFilesUseElementIndexes(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("arr.json");
    Files.writeString(in, "[{\"instruction\": \"a\", \"output\": \"1\"}, {\"instruction\": \"\"}, {\"instruction\": \"c\"}]");
    run(in, tmp.resolve("out"), 1 << 20, 10, null, DIRECT);
    OutputLayout l = new OutputLayout(tmp.resolve("out").toString());
    List<String> locs = new ArrayList<>();
    for (String line : TestFiles.lines(l, OutputLayout.Kind.DATA)) {
      locs.add(Json.mapper().readTree(line).path("provenance").path("origin").path("location").asText());
    }
    assertEquals(List.of("arr.json#0", "arr.json#2"), locs);
    assertEquals("arr.json#1", Json.mapper().readTree(TestFiles.lines(l, OutputLayout.Kind.REJECTS).get(0)).path("location").asText());
  }

}
