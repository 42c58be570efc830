package io.instructflow.pipelines.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.ParquetFixtures;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.importer.ImportPipeline;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Schemas;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * What {@code --in} reads besides plain JSON (issue 20): compressed JSON and JSON Lines ({@code .gz},
 * {@code .zst}), read whole as a stream with the plain file's line numbers, a Hugging Face Hub
 * layout folder, whose files give their split to their records' origin, and an output folder of ours,
 * read as its {@code data/}.
 */
class InputFilesTest {
  static final Runner DIRECT = new Runner("direct", null);

  static RunSummary importTo(Path in, Path out, int maxLineBytes) throws Exception {
    return ImportPipeline.run(new ImportPipeline.Config(new ReadOptions(in.toString(), null, null, "MIT", maxLineBytes),
        out.toString(), 50_000, null, DIRECT), new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
  }

  static Path gzip(Path plain, Path to) throws Exception {
    try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(to))) {
      Files.copy(plain, out);
    }
    return to;
  }

  static Path zstd(Path plain, Path to) throws Exception {
    try (OutputStream out = new com.github.luben.zstd.ZstdOutputStream(Files.newOutputStream(to))) {
      Files.copy(plain, out);
    }
    return to;
  }

  @ParameterizedTest
  @CsvSource({"data/train-00000-of-00002.parquet, train", "/hub/x/data/test-00000-of-00001-5f4f1f0c.parquet, test",
      "data/validation-00003-of-00010.jsonl.gz, validation", "data/train_sft-00000-of-00001.parquet, train_sft",
      "hdfs://nn/ds/data/train-00000-of-00001.parquet, train"})
  void hubLayoutFilesNameTheirSplit(String path, String split) {
    assertEquals(split, InputFiles.hubSplit(path));
  }

  @ParameterizedTest
  @CsvSource({"out/data/part-00000.jsonl", "data/train.parquet", "train-00000-of-00002.parquet",
      "x/train/train-00000-of-00002.parquet", "data/my-notes.jsonl"})
  void otherFilesHaveNoSplit(String path) {
    assertNull(InputFiles.hubSplit(path));
  }

  @Test
  void compressedTwinsReadAsThePlainFileLineForLine(@TempDir Path tmp) throws Exception {
    Files.createDirectories(tmp.resolve("plain"));
    Path plain = TestFiles.mixedFile(tmp.resolve("plain"));
    Files.createDirectories(tmp.resolve("gz"));
    Files.createDirectories(tmp.resolve("zst"));
    Path gz = gzip(plain, tmp.resolve("gz/mixed.jsonl.gz"));
    Path zst = zstd(plain, tmp.resolve("zst/mixed.jsonl.zst"));
    RunSummary p = importTo(plain, tmp.resolve("out-plain"), 256);
    assertEquals(new RunSummary.Counts(14, 5, 0, 9), p.counts());
    for (Path c : List.of(gz, zst)) {
      String name = c.getFileName().toString();
      Path out = tmp.resolve("out-" + name);
      RunSummary s = importTo(c, out, 256);
      assertEquals(p.counts(), s.counts(), name);
      assertEquals(p.rejected(), s.rejected(), name);
      assertEquals(p.blankLines(), s.blankLines(), name);
      for (OutputLayout.Kind k : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.REJECTS)) {
        String want = String.join("\n", TestFiles.lines(new OutputLayout(tmp.resolve("out-plain").toString()), k))
            .replace("\"mixed.jsonl:", "\"" + name + ":").replace("\"source\":\"" + plain + "\"", "\"source\":\"" + c + "\"");
        assertEquals(want, String.join("\n", TestFiles.lines(new OutputLayout(out.toString()), k)), name + " " + k.dir());
      }
    }
    // the dataset name is the base name, compression suffix and all set aside
    JsonNode first = Json.mapper().readTree(TestFiles.lines(new OutputLayout(tmp.resolve("out-mixed.jsonl.zst").toString()),
        OutputLayout.Kind.DATA).get(0));
    assertEquals("mixed", first.path("provenance").path("origin").path("dataset").asText());
    assertEquals("mixed.jsonl.zst:1", first.path("provenance").path("origin").path("location").asText());
  }

  @Test
  void aCompressedJsonArrayKeepsItsElementIndexes(@TempDir Path tmp) throws Exception {
    Path plain = tmp.resolve("arr.json");
    Files.writeString(plain, "[{\"instruction\": \"a\", \"output\": \"1\"}, {\"instruction\": \"\"}, {\"instruction\": \"写\"}]");
    Path gz = gzip(plain, tmp.resolve("arr.json.gz"));
    Files.delete(plain);
    RunSummary s = importTo(gz, tmp.resolve("out"), 1 << 20);
    assertEquals(new RunSummary.Counts(3, 2, 0, 1), s.counts());
    List<String> locs = new ArrayList<>();
    for (String line : TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.DATA)) {
      locs.add(Json.mapper().readTree(line).path("provenance").path("origin").path("location").asText());
    }
    assertEquals(List.of("arr.json.gz#0", "arr.json.gz#2"), locs);
  }

  @Test
  void aTruncatedStreamKeepsTheLinesBeforeTheDamageAndRejectsTheRest(@TempDir Path tmp) throws Exception {
    Path plain = tmp.resolve("many.jsonl");
    StringBuilder sb = new StringBuilder();
    for (int i = 1; i <= 2000; i++) {
      sb.append("{\"instruction\": \"第").append(i).append("条 instruction number ").append(i * 7919 % 10007).append("\"}\n");
    }
    Files.writeString(plain, sb.toString());
    byte[] whole = Files.readAllBytes(gzip(plain, tmp.resolve("whole.gz")));
    Files.createDirectories(tmp.resolve("in"));
    Path cut = tmp.resolve("in/many.jsonl.gz");
    Files.write(cut, Arrays.copyOf(whole, whole.length / 2));
    RunSummary s = importTo(cut, tmp.resolve("out"), 1 << 20);
    assertTrue(s.reconciled());
    long kept = s.counts().kept();
    assertTrue(kept > 100 && kept < 2000, "some lines before the damage: " + kept);
    assertEquals(1L, s.rejected().get("unreadable_file"), s.rejected().toString());
    List<String> rejects = TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.REJECTS);
    JsonNode last = Json.mapper().readTree(rejects.get(rejects.size() - 1));
    assertEquals(List.of(), Schemas.errors(Schemas.Kind.REJECT, last));
    assertEquals("unreadable_file", last.path("reason").asText());
    assertTrue(last.path("message").asText().startsWith("the compressed stream is damaged or truncated"), last.toString());
    // the kept records are exactly the first lines of the file, numbered as there
    List<String> data = TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.DATA);
    for (int i = 0; i < data.size(); i++) {
      assertEquals("many.jsonl.gz:" + (i + 1), Json.mapper().readTree(data.get(i)).path("provenance").path("origin")
          .path("location").asText());
    }
  }

  @Test
  void aHubLayoutFolderReadsItsSplitsInOrderAndRecordsEachSplit(@TempDir Path tmp) throws Exception {
    Path hub = tmp.resolve("tiny-hub");
    List<Map<String, Object>> rows = ParquetFixtures.alpacaRows();
    ParquetFixtures.writeParquet(hub.resolve("data/train-00000-of-00002.parquet"), ParquetFixtures.ALPACA, rows.subList(0, 3), 0);
    ParquetFixtures.writeParquet(hub.resolve("data/train-00001-of-00002.parquet"), ParquetFixtures.ALPACA, rows.subList(3, 6), 0);
    ParquetFixtures.writeParquet(hub.resolve("data/test-00000-of-00001.parquet"), ParquetFixtures.ALPACA, rows.subList(0, 2), 0);
    Files.writeString(hub.resolve("README.md"), "---\nconfigs: []\n---\n# a dataset card, not data\n");
    List<InputFile> files = InputFiles.expand(hub.toString(), null);
    assertEquals(List.of("data/test-00000-of-00001.parquet test", "data/train-00000-of-00002.parquet train",
        "data/train-00001-of-00002.parquet train"), files.stream().map(f -> f.name() + " " + f.split()).toList());

    RunSummary s = importTo(hub, tmp.resolve("out"), 1 << 20);
    assertEquals(new RunSummary.Counts(8, 6, 0, 2), s.counts());
    List<String> got = new ArrayList<>();
    for (String line : TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.DATA)) {
      JsonNode n = Json.mapper().readTree(line);
      assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, n), line);
      JsonNode o = n.path("provenance").path("origin");
      assertEquals("tiny-hub", o.path("dataset").asText());
      got.add(o.path("split").asText() + " " + o.path("location").asText());
    }
    assertEquals(List.of("test data/test-00000-of-00001.parquet#0", "test data/test-00000-of-00001.parquet#1",
        "train data/train-00000-of-00002.parquet#0", "train data/train-00000-of-00002.parquet#1",
        "train data/train-00000-of-00002.parquet#2", "train data/train-00001-of-00002.parquet#2"), got);
    List<String> rejects = new ArrayList<>();
    for (String line : TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.REJECTS)) {
      rejects.add(Json.mapper().readTree(line).path("location").asText());
    }
    assertEquals(List.of("data/train-00001-of-00002.parquet#0", "data/train-00001-of-00002.parquet#1"), rejects);
  }

  @Test
  void aPlainFileHasNoSplitInItsOrigin(@TempDir Path tmp) throws Exception {
    Path in = TestFiles.mixedFile(tmp);
    importTo(in, tmp.resolve("out"), 256);
    for (String line : TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.DATA)) {
      assertTrue(Json.mapper().readTree(line).path("provenance").path("origin").path("split").isMissingNode(), line);
    }
  }

  @Test
  void aFinishedOutputFolderIsReadAsItsDataFolder(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("in");
    Files.createDirectories(in);
    Files.writeString(in.resolve("seeds.jsonl"), "{\"instruction\": \"用一句话解释光合作用。\", \"output\": \"植物把光变成糖。\"}\n"
        + "{broken\n{\"instruction\": \"Name a primary color.\", \"output\": \"Red.\"}\n");
    Path out = tmp.resolve("seeds");
    assertEquals(new RunSummary.Counts(3, 2, 0, 1), importTo(in, out, 1 << 20).counts());
    String data = out.resolve("data").toString();

    InputFiles.Input r = InputFiles.resolve(out.toString());
    assertEquals(new InputFiles.Input(out.toString(), data, true), r);
    assertEquals("filter: --in " + out + " is an output folder; reading its data/ (kept records)", r.note("filter", "--in"));
    // the files of data/, named as with --in OUT/data: never the summary, the manifest or rejects/
    List<InputFile> files = InputFiles.expand(out.toString(), null);
    assertEquals(InputFiles.expand(data, null), files);
    assertEquals(List.of("part-00000.jsonl " + data + "/part-00000.jsonl"),
        files.stream().map(f -> f.name() + " " + f.path()).toList());
    for (String same : List.of(out + "/", "file://" + out)) {
      assertEquals(data, InputFiles.resolve(same).read(), same);
    }
    // copied without its empty filtered/ (git keeps no empty folder): its manifest still says what it is
    Files.delete(out.resolve("filtered"));
    assertEquals(data, InputFiles.resolve(out.toString()).read());

    // anything else is read as given: the folders and files inside an output, globs, plain folders
    for (String p : List.of(data, data + "/part-00000.jsonl", out + "/*/*.jsonl", in.toString())) {
      assertEquals(new InputFiles.Input(p, p, false), InputFiles.resolve(p), p);
      assertNull(InputFiles.resolve(p).note("filter", "--in"), p);
    }
    // a Spark or Hadoop job's folder: a bare _SUCCESS beside its part files is not our marker
    Path spark = tmp.resolve("spark");
    Files.createDirectories(spark);
    Files.writeString(spark.resolve("_SUCCESS"), "");
    Files.writeString(spark.resolve("part-00000.json"), "{\"instruction\": \"写一首诗\"}\n");
    assertFalse(InputFiles.resolve(spark.toString()).output());
    assertEquals(List.of("part-00000.json"), InputFiles.expand(spark.toString(), null).stream().map(InputFile::name).toList());

    // an output whose run did not finish is refused, not read as a plain folder
    Files.delete(out.resolve(OutputLayout.MARKER));
    InputFiles.InputException e = assertThrows(InputFiles.InputException.class, () -> InputFiles.resolve(out.toString()));
    assertTrue(e.getMessage().contains(out + " is not a complete output: it has no completion marker"), e.getMessage());
  }
}
