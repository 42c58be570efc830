package io.instructflow.pipelines.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.ParquetFixtures;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.importer.ImportPipeline;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Schemas;
import io.instructflow.schemas.io.RecordConverter;
import io.instructflow.schemas.io.RecordStreamParser;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.util.HadoopOutputFile;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Parquet inputs (issue 20): Alpaca-style and UltraFeedback-style files import with exactly the records
 * and rejects of their JSON Lines twins; only the origin location (and a reject's source) names the
 * other file and position: {@code f.parquet#row} (0-based) where the twin has {@code f.jsonl:line}.
 */
class ParquetRowsTest {
  static final Runner DIRECT = new Runner("direct", null);

  static RunSummary importTo(Path in, Path out) throws Exception {
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    return ImportPipeline.run(new ImportPipeline.Config(new ReadOptions(in.toString(), null, null, "CC-BY-4.0", 1 << 20),
        out.toString(), 50_000, null, DIRECT), new PrintStream(console, true, StandardCharsets.UTF_8));
  }

  /**
   * The output of the JSONL twin, with each location {@code twin:N} written as the Parquet file's
   * {@code name#N-1} and the twin's path as the Parquet file's: what the Parquet output must be, byte for byte.
   */
  static String asParquet(String text, String twinName, String parquetName, Path twin, Path parquet) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(twinName) + ":([0-9]+)").matcher(text);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(sb, java.util.regex.Matcher.quoteReplacement(parquetName + "#" + (Long.parseLong(m.group(1)) - 1)));
    }
    m.appendTail(sb);
    return sb.toString().replace("\"source\":\"" + twin + "\"", "\"source\":\"" + parquet + "\"");
  }

  private static void assertTwins(Path tmp, String base, Schema schema, List<Map<String, Object>> rows, int rowsPerGroup,
      RunSummary.Counts counts, List<String> rejects) throws Exception {
    Path pq = ParquetFixtures.writeParquet(tmp.resolve("pq/" + base + ".parquet"), schema, rows, rowsPerGroup);
    Path jl = ParquetFixtures.writeJsonl(tmp.resolve("jl/" + base + ".jsonl"), rows);
    RunSummary fromParquet = importTo(pq, tmp.resolve("out-pq"));
    RunSummary fromJsonl = importTo(jl, tmp.resolve("out-jl"));
    assertEquals(counts, fromParquet.counts());
    assertEquals(fromJsonl.counts(), fromParquet.counts());
    assertEquals(fromJsonl.rejected(), fromParquet.rejected());
    assertTrue(fromParquet.reconciled());
    OutputLayout p = new OutputLayout(tmp.resolve("out-pq").toString());
    OutputLayout j = new OutputLayout(tmp.resolve("out-jl").toString());
    for (OutputLayout.Kind k : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.REJECTS)) {
      String want = asParquet(String.join("\n", TestFiles.lines(j, k)), base + ".jsonl", base + ".parquet", jl, pq);
      assertEquals(want, String.join("\n", TestFiles.lines(p, k)), k.dir());
    }
    List<String> got = new ArrayList<>();
    for (String line : TestFiles.lines(p, OutputLayout.Kind.REJECTS)) {
      JsonNode n = Json.mapper().readTree(line);
      assertEquals(List.of(), Schemas.errors(Schemas.Kind.REJECT, n), line);
      got.add(n.path("location").asText() + " " + n.path("reason").asText());
    }
    assertEquals(rejects, got);
    for (String line : TestFiles.lines(p, OutputLayout.Kind.DATA)) {
      assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, Json.mapper().readTree(line)), line);
    }
  }

  @Test
  void alpacaStyleParquetImportsAsItsJsonlTwinRowGroupByRowGroup(@TempDir Path tmp) throws Exception {
    // one row per row group: the row numbers run on across row groups
    assertTwins(tmp, "alpaca", ParquetFixtures.ALPACA, ParquetFixtures.alpacaRows(), 1,
        new RunSummary.Counts(6, 4, 0, 2), List.of("alpaca.parquet#3 missing_field", "alpaca.parquet#4 empty_instruction"));
    JsonNode chinese = Json.mapper().readTree(TestFiles.lines(new OutputLayout(tmp.resolve("out-pq").toString()),
        OutputLayout.Kind.DATA).get(1));
    assertEquals("把这句话翻译成英文。", chinese.path("instruction").asText());
    assertEquals("你好，世界", chinese.path("input").asText());
    assertEquals("alpaca.parquet#1", chinese.path("provenance").path("origin").path("location").asText());
    assertEquals("alpaca", chinese.path("provenance").path("origin").path("dataset").asText());
    assertEquals("alpaca", chinese.path("provenance").path("origin").path("format").asText());
    // a float column reads as the number it prints as (0.1f is 0.1, not 0.10000000149011612)
    JsonNode first = Json.mapper().readTree(TestFiles.lines(new OutputLayout(tmp.resolve("out-pq").toString()),
        OutputLayout.Kind.DATA).get(0));
    assertEquals("0.1", first.path("metadata").path("rating").toString());
  }

  @Test
  void ultraFeedbackStyleParquetWithNestedChatColumnsImportsAsItsJsonlTwin(@TempDir Path tmp) throws Exception {
    assertTwins(tmp, "ultrafeedback", ParquetFixtures.ULTRAFEEDBACK, ParquetFixtures.ultraFeedbackRows(), 0,
        new RunSummary.Counts(5, 3, 0, 2), List.of("ultrafeedback.parquet#3 invalid_value", "ultrafeedback.parquet#4 missing_field"));
    JsonNode zh = Json.mapper().readTree(TestFiles.lines(new OutputLayout(tmp.resolve("out-pq").toString()),
        OutputLayout.Kind.DATA).get(1));
    assertEquals("preference", zh.path("provenance").path("origin").path("format").asText());
    assertEquals("长城是中国古代修建的军事防御工程。", zh.path("messages").get(1).path("content").asText());
    assertEquals("长城在日本。", zh.path("metadata").path("preference").path("rejected").asText());
    assertEquals(8.5, zh.path("metadata").path("preference").path("score_chosen").asDouble());
  }

  @Test
  void aFileWrittenAsPyarrowWritesItWithoutAnAvroSchemaReadsTheSame(@TempDir Path tmp) throws Exception {
    // pyarrow (and so Hugging Face) files carry no Avro schema: parquet-avro derives one from the Parquet
    // schema, whose three-level lists must still read as lists of {content, role}
    MessageType schema = MessageTypeParser.parseMessageType("message schema {\n"
        + "  optional binary prompt (STRING);\n"
        + "  optional group chosen (LIST) { repeated group list { optional group element {\n"
        + "    optional binary content (STRING); optional binary role (STRING); } } }\n"
        + "  optional group rejected (LIST) { repeated group list { optional group element {\n"
        + "    optional binary content (STRING); optional binary role (STRING); } } }\n"
        + "  optional double score_chosen;\n"
        + "}");
    Path pq = tmp.resolve("arrow.parquet");
    SimpleGroupFactory groups = new SimpleGroupFactory(schema);
    try (ParquetWriter<Group> w = ExampleParquetWriter.builder(
        HadoopOutputFile.fromPath(new org.apache.hadoop.fs.Path(pq.toString()), new Configuration(false)))
        .withType(schema).build()) {
      Group g = groups.newGroup().append("prompt", "你好吗？");
      Group chosen = g.addGroup("chosen");
      chosen.addGroup("list").addGroup("element").append("content", "你好吗？").append("role", "user");
      chosen.addGroup("list").addGroup("element").append("content", "很好。").append("role", "assistant");
      g.addGroup("rejected").addGroup("list").addGroup("element").append("content", "不知道。").append("role", "assistant");
      g.append("score_chosen", 9.5);
      w.write(g);
    }
    ParquetFixtures.writeJsonl(tmp.resolve("arrow.jsonl"), List.of(ParquetFixtures.row("prompt", "你好吗？",
        "chosen", ParquetFixtures.turns("user", "你好吗？", "assistant", "很好。"),
        "rejected", ParquetFixtures.turns("assistant", "不知道。"), "score_chosen", 9.5)));
    importTo(pq, tmp.resolve("out-pq"));
    importTo(tmp.resolve("arrow.jsonl"), tmp.resolve("out-jl"));
    String want = String.join("\n", TestFiles.lines(new OutputLayout(tmp.resolve("out-jl").toString()), OutputLayout.Kind.DATA))
        .replace("arrow.jsonl:1", "arrow.parquet#0");
    assertEquals(want, String.join("\n", TestFiles.lines(new OutputLayout(tmp.resolve("out-pq").toString()), OutputLayout.Kind.DATA)));
    assertTrue(want.contains("很好。"));
  }

  @Test
  void aColumnOfTheWrongTypeRejectsEveryRowAsWrongType(@TempDir Path tmp) throws Exception {
    Schema s = SchemaBuilder.record("r").fields().optionalLong("instruction").optionalString("output").endRecord();
    Path pq = ParquetFixtures.writeParquet(tmp.resolve("typed.parquet"), s,
        List.of(ParquetFixtures.row("instruction", 5L, "output", "a"), ParquetFixtures.row("instruction", 6L, "output", "b")), 0);
    RunSummary sum = importTo(pq, tmp.resolve("out"));
    assertEquals(new RunSummary.Counts(2, 0, 0, 2), sum.counts());
    List<String> got = new ArrayList<>();
    for (String line : TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.REJECTS)) {
      JsonNode n = Json.mapper().readTree(line);
      got.add(n.path("location").asText() + " " + n.path("reason").asText() + " " + n.path("raw").asText());
    }
    assertEquals(List.of("typed.parquet#0 wrong_type {\"instruction\":5,\"output\":\"a\"}",
        "typed.parquet#1 wrong_type {\"instruction\":6,\"output\":\"b\"}"), got);
  }

  @Test
  void aFileThatIsNotParquetIsOneUnreadableFileReject(@TempDir Path tmp) throws Exception {
    Path bad = tmp.resolve("in/broken.parquet");
    Files.createDirectories(bad.getParent());
    Files.writeString(bad, "PAR1 this is no Parquet footer");
    ParquetFixtures.writeParquet(tmp.resolve("in/good.parquet"), ParquetFixtures.ALPACA, ParquetFixtures.alpacaRows(), 0);
    RunSummary sum = importTo(tmp.resolve("in"), tmp.resolve("out"));
    assertEquals(new RunSummary.Counts(7, 4, 0, 3), sum.counts(), "the broken file is one reject, the good file reads on");
    assertEquals(1L, sum.rejected().get("unreadable_file"));
    JsonNode r = Json.mapper().readTree(TestFiles.lines(new OutputLayout(tmp.resolve("out").toString()), OutputLayout.Kind.REJECTS).get(0));
    assertEquals("broken.parquet", r.path("location").asText());
    assertTrue(r.path("message").asText().startsWith("not a readable Parquet file"), r.toString());
  }

  @Test
  void piecesAreRunsOfWholeRowGroupsWithExactRowNumbers(@TempDir Path tmp) throws Exception {
    List<Map<String, Object>> rows = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      rows.add(ParquetFixtures.row("instruction", i == 4 ? null : "row " + i, "input", null, "output", "o", "category", null,
          "rating", null));
    }
    Path pq = ParquetFixtures.writeParquet(tmp.resolve("seven.parquet"), ParquetFixtures.ALPACA, rows, 1);
    InputFile file = new InputFile(0, pq.toString(), "seven.parquet", "seven");
    // one byte per piece: every row group is its own piece
    List<FileChunk> pieces = FileChunk.split(file, null, 1 << 20, 1);
    assertEquals(7, pieces.size());
    List<String> seen = new ArrayList<>();
    for (FileChunk piece : pieces) {
      assertEquals(piece.start() + 1, piece.end());
      assertEquals(piece.start(), piece.firstLine(), "one row per group: the first row is the group's number");
      RecordStreamParser parser = new RecordStreamParser(new RecordConverter("seven", "MIT"), Optional.empty(), 1 << 20,
          file.path(), file.name());
      piece.parse(parser, new RecordStreamParser.Sink() {
        @Override
        public void example(Example e, long position, int sub) {
          seen.add(position + " " + e.provenance().origin().location() + " " + e.instruction());
        }

        @Override
        public void reject(Reject r, long position) {
          seen.add(position + " " + r.location() + " " + r.reason().code());
        }

        @Override
        public void blankLine(long line) {
          throw new AssertionError("Parquet has no blank lines");
        }
      });
    }
    assertEquals(List.of("0 seven.parquet#0 row 0", "1 seven.parquet#1 row 1", "2 seven.parquet#2 row 2",
        "3 seven.parquet#3 row 3", "4 seven.parquet#4 missing_field", "5 seven.parquet#5 row 5", "6 seven.parquet#6 row 6"), seen);
    // the default target keeps this small file in one piece
    assertEquals(1, FileChunk.split(file, null, 1 << 20, FileChunk.TARGET_BYTES).size());
  }
}
