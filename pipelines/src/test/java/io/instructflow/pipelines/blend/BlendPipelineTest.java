package io.instructflow.pipelines.blend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.importer.ImportPipeline;
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
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** blend end to end: the minimal spec of the issue, quotas, rerun and runner identity, Parquet read-back, the card. */
class BlendPipelineTest {
  static final Runner DIRECT = new Runner("direct", null);
  static final String MINIMAL = "{\"target\": 1000, \"seed\": 7, \"sources\": [{\"path\": \"a/\", \"name\": \"a\", \"license\": "
      + "\"Apache-2.0\", \"weight\": 0.7}, {\"path\": \"b.json\", \"name\": \"b\", \"license\": \"CC-BY-NC-4.0\", \"weight\": 0.3}], "
      + "\"formats\": [\"jsonl\", \"parquet\"]}";

  @TempDir static Path dir;

  /** a/: an import output of 800 records; b.json: 400 Alpaca records, two of them copies of a's, and one bad element. */
  @BeforeAll
  static void sources() throws Exception {
    StringBuilder a = new StringBuilder();
    for (int i = 0; i < 800; i++) {
      a.append(Json.line(Map.of("instruction", "Explain item " + i + " of list A in one sentence.", "output",
          "Item " + i + " of list A is explained here."))).append('\n');
    }
    Files.writeString(dir.resolve("a.jsonl"), a.toString());
    ImportPipeline.run(new ImportPipeline.Config(new ReadOptions(dir.resolve("a.jsonl").toString(), null, "a", "Apache-2.0",
        1 << 20), dir.resolve("a").toString(), 1000, null, DIRECT), quiet());
    List<Object> b = new ArrayList<>();
    for (int i = 0; i < 400; i++) {
      b.add(i < 2 ? Map.of("instruction", "Explain item " + i + " of list A in one sentence.", "input", "", "output",
          "Item " + i + " of list A is explained here.")
          : Map.of("instruction", "把第" + i + "项翻译成英文。", "input", "", "output", "Item " + i + " in English."));
    }
    b.add(Map.of("input", "no instruction here"));
    Files.writeString(dir.resolve("b.json"), Json.pretty(b));
    Files.writeString(dir.resolve("spec.json"), MINIMAL);
  }

  static PrintStream quiet() {
    return new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
  }

  static RunSummary blend(String out, Runner runner) throws Exception {
    return BlendPipeline.run(new BlendPipeline.Config(BlendSpec.read(dir.resolve("spec.json")), dir.resolve(out).toString(),
        runner), quiet());
  }

  static Map<String, String> tree(Path root) throws Exception {
    Map<String, String> out = new TreeMap<>();
    try (Stream<Path> w = Files.walk(root)) {
      for (Path p : w.filter(Files::isRegularFile).toList()) {
        String rel = root.relativize(p).toString();
        // the summary holds timings; the manifest hashes it and the completion marker hashes the manifest
        if (!rel.equals(OutputLayout.SUMMARY) && !rel.equals("MANIFEST.json") && !rel.equals(OutputLayout.MARKER)) {
          out.put(rel, io.instructflow.schemas.Ids.sha256Hex(Files.readAllBytes(p)));
        }
      }
    }
    return out;
  }

  @Test
  void theMinimalSpecBlendsByQuotaAndReconciles() throws Exception {
    RunSummary s = blend("direct", DIRECT);
    assertTrue(s.reconciled(), s.notes().toString());
    // 800 + 401 read; 1 bad element; 2 duplicates of a's records; 1,000 distinct rows kept
    assertEquals(new RunSummary.Counts(1201, 1000, 200, 1), s.counts());
    assertEquals(Map.of("blend.duplicate", 2L, "blend.not_selected", 198L), s.filtered().get("blend"));
    OutputLayout out = new OutputLayout(dir.resolve("direct").toString());
    Map<String, Long> bySource = new TreeMap<>();
    List<String> ids = new ArrayList<>();
    for (String l : TestFiles.lines(out, OutputLayout.Kind.DATA)) {
      JsonNode r = Json.mapper().readTree(l);
      bySource.merge(r.path("metadata").path("blend").path("source").asText(), 1L, Long::sum);
      ids.add(r.path("id").asText());
      assertEquals("blend", r.path("provenance").path("steps").get(r.path("provenance").path("steps").size() - 1)
          .path("name").asText());
    }
    assertEquals(Map.of("a", 700L, "b", 300L), bySource, "the quotas: 0.7 and 0.3 of 1,000");
    assertTrue(bySource.size() == 2 && ids.size() == 1000);

    List<String> parquetIds = new ArrayList<>();
    Path pq = dir.resolve("direct/export/parquet/train-00000.parquet");
    try (ParquetReader<GenericRecord> r = AvroParquetReader.<GenericRecord>builder(
        HadoopInputFile.fromPath(new org.apache.hadoop.fs.Path(pq.toString()), new Configuration())).build()) {
      GenericRecord g;
      while ((g = r.read()) != null) {
        parquetIds.add(g.get("id").toString());
        assertTrue(List.of("a", "b").contains(g.get("source").toString()));
        assertTrue(((List<?>) g.get("messages")).size() == 2, "user and assistant turns");
      }
    }
    assertEquals(ids, parquetIds, "the Parquet rows are data/'s rows, in order");
    // the footer in canonical order (parquet-mr's own order follows a hash set and changes between JVMs)
    byte[] file = Files.readAllBytes(pq);
    int footer = java.nio.ByteBuffer.wrap(file, file.length - 8, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
    org.apache.parquet.format.FileMetaData meta = org.apache.parquet.format.Util.readFileMetaData(
        new java.io.ByteArrayInputStream(file, file.length - 8 - footer, footer));
    int columns = 0;
    for (org.apache.parquet.format.RowGroup g : meta.getRow_groups()) {
      for (org.apache.parquet.format.ColumnChunk c : g.getColumns()) {
        List<Integer> enc = c.getMeta_data().getEncodings().stream().map(org.apache.parquet.format.Encoding::getValue).toList();
        assertEquals(enc.stream().sorted().toList(), enc);
        assertTrue(enc.size() >= 2, "several encodings, so their order matters: " + enc);
        columns++;
      }
    }
    assertTrue(columns >= 9, "every column checked");
    assertEquals(ids.size(), Files.readAllLines(dir.resolve("direct/export/jsonl/train-00000.jsonl")).size());

    String card = Files.readString(dir.resolve("direct/README.md"));
    assertTrue(card.startsWith("---\nlicense: other\n"), card.substring(0, 80));
    assertTrue(card.contains("size_categories:\n- n<1K") || card.contains("size_categories:\n- 1K<n<10K"));
    assertTrue(card.contains("| a | Apache-2.0 | 800 | 0 | 800 | weight 0.7 | 700 |"), card);
    assertTrue(card.contains("| b | CC-BY-NC-4.0 | 400 | 2 | 398 | weight 0.3 | 300 |"), card);
    assertTrue(card.contains("| CC-BY-NC-4.0 | 300 | 30.0% |"));
    assertTrue(card.contains("- 2 as `blend.duplicate`"));
    assertTrue(card.contains("path: export/parquet/train-*.parquet"));
    assertTrue(card.contains("language:\n- en\n- zh\n"), "languages from the rows");
    assertEquals(MINIMAL, Files.readString(dir.resolve("direct/blend-spec.json")), "the exact spec next to the data");
  }

  @Test
  void rerunsAndRunnersGiveTheSameBytes() throws Exception {
    blend("again1", DIRECT);
    blend("again2", DIRECT);
    blend("spark", new Runner("spark", "local[2]"));
    Map<String, String> a = tree(dir.resolve("again1"));
    assertTrue(a.containsKey("export/parquet/train-00000.parquet") && a.containsKey("README.md"), a.keySet().toString());
    assertEquals(a, tree(dir.resolve("again2")));
    assertEquals(a, tree(dir.resolve("spark")));
  }

  /** A YAML spec with a count beyond the source (upsampled), a cap, a validation split and every format. */
  @Test
  void upsamplingValidationAndEveryFormat() throws Exception {
    Files.writeString(dir.resolve("mix.yaml"), "name: mix\ntarget: 900\nseed: 11\nvalidation: 0.1\nshardSize: 400\n"
        + "formats: [jsonl, alpaca, messages, sharegpt, parquet]\nsources:\n"
        + "  - {path: a/, name: a, license: Apache-2.0, weight: 1, cap: 250}\n"
        + "  - {path: b.json, name: b, license: CC-BY-NC-4.0, count: 600, upsample: true}\n");
    RunSummary s = BlendPipeline.run(new BlendPipeline.Config(BlendSpec.read(dir.resolve("mix.yaml")),
        dir.resolve("mix").toString(), DIRECT), quiet());
    assertTrue(s.reconciled());
    Map<String, Long> rows = new TreeMap<>();
    Map<String, String> splitOf = new TreeMap<>();
    Map<String, Long> bySplit = new TreeMap<>();
    for (String l : TestFiles.lines(new OutputLayout(dir.resolve("mix").toString()), OutputLayout.Kind.DATA)) {
      JsonNode b = Json.mapper().readTree(l).path("metadata").path("blend");
      rows.merge(b.path("source").asText(), 1L, Long::sum);
      bySplit.merge(b.path("split").asText(), 1L, Long::sum);
      String id = Json.mapper().readTree(l).path("id").asText();
      String prev = splitOf.put(id, b.path("split").asText());
      assertTrue(prev == null || prev.equals(b.path("split").asText()), "every copy of a record is in one split");
    }
    assertEquals(Map.of("a", 250L, "b", 600L), rows, "a at its cap, b upsampled from 398 records to 600 rows");
    long distinct = splitOf.size();
    assertEquals(250 + 398, distinct);
    assertEquals(Math.round(0.1 * distinct), splitOf.values().stream().filter("validation"::equals).count());
    Path export = dir.resolve("mix/export");
    long train = bySplit.get("train");
    long lines = 0;
    for (int k = 0; k * 400L < train; k++) {
      lines += Files.readAllLines(export.resolve(String.format("messages/train-%05d.jsonl", k))).size();
    }
    assertEquals(train, lines, "train rows in shards of 400");
    assertEquals(bySplit.get("validation"), Files.readAllLines(export.resolve("sharegpt/validation-00000.jsonl")).size());
    JsonNode alpaca = Json.mapper().readTree(export.resolve("alpaca/validation-00000.json").toFile());
    assertEquals((long) bySplit.get("validation"), alpaca.size());
    assertTrue(alpaca.get(0).has("instruction") && alpaca.get(0).has("output"));
    assertTrue(Files.isRegularFile(export.resolve("parquet/validation-00000.parquet")));
    String card = Files.readString(dir.resolve("mix/README.md"));
    assertTrue(card.contains("| a | Apache-2.0 | 800 | 0 | 800 | weight 1 | 250 | cap | 250 | 1 |"), card);
    assertTrue(card.contains("Note: target 900 rows not reached: 850 rows"), card);
    assertTrue(card.contains("| b | CC-BY-NC-4.0 | 400 | 2 | 398 | count 600 | 600 |  | 398 | 1 (+1 for some) |"), card);
    assertTrue(card.contains("  - split: validation\n    path: export/parquet/validation-*.parquet"));
  }

  /** Preference pairs in, DPO pairs out: TRL rows, our own pairs output, and HH-RLHF dialogues. */
  @Test
  void preferencePairsBlendIntoDpoRows() throws Exception {
    Path hh = TestFiles.sharedData().resolve("preference/hh-rlhf_harmless-base_test.jsonl");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(hh), "no shared data");
    Files.writeString(dir.resolve("trl.jsonl"), "{\"prompt\": \"Name a color.\", \"chosen\": \"Red.\", \"rejected\": \"Seven.\", "
        + "\"score_chosen\": 9, \"score_rejected\": 2}\n{\"prompt\": \"Name a color.\", \"chosen\": \"Red.\", "
        + "\"rejected\": \"A table.\"}\n{\"prompt\": [{\"role\": \"user\", \"content\": \"Hi\"}], \"chosen\": "
        + "[{\"role\": \"assistant\", \"content\": \"Hello!\"}], \"rejected\": [{\"role\": \"assistant\", \"content\": \"Go.\"}]}\n"
        + "{\"prompt\": \"x\", \"chosen\": 5, \"rejected\": \"y\"}\n");
    Files.writeString(dir.resolve("dpo.json"), "{\"target\": 103, \"seed\": 1, \"formats\": [\"dpo\", \"messages\"], \"sources\": ["
        + "{\"path\": \"trl.jsonl\", \"license\": \"MIT\", \"count\": 3}, {\"path\": \"" + hh + "\", \"name\": \"hh\", "
        + "\"license\": \"MIT\", \"weight\": 1}]}");
    RunSummary s = BlendPipeline.run(new BlendPipeline.Config(BlendSpec.read(dir.resolve("dpo.json")), dir.resolve("dpo").toString(),
        DIRECT), quiet());
    assertTrue(s.reconciled());
    assertEquals(1, s.counts().rejected(), "a chosen side that is a number");
    List<String> rows = Files.readAllLines(dir.resolve("dpo/export/dpo/train-00000.jsonl"));
    assertEquals(103, rows.size(), "two pairs that share prompt and chosen are both kept");
    int hhRows = 0;
    for (String l : rows) {
      JsonNode n = Json.mapper().readTree(l);
      assertTrue(!n.path("prompt").asText().isEmpty() && !n.path("chosen").asText().isEmpty()
          && !n.path("rejected").asText().isEmpty(), l);
      assertEquals("assistant", n.path("chosen_messages").get(n.path("chosen_messages").size() - 1).path("role").asText());
      if (n.path("prompt").asText().startsWith("\n\nHuman: ")) {
        hhRows++;
        assertTrue(n.path("prompt").asText().endsWith("\n\nAssistant:"), "a multi-turn prompt as an HH transcript");
        assertTrue(!n.path("chosen").asText().contains("Human:"), "the chosen side is the last answer only");
      }
      if (n.path("prompt").asText().equals("Name a color.") && n.path("rejected").asText().equals("Seven.")) {
        assertEquals(9.0, n.path("score_chosen").asDouble());
      }
    }
    assertTrue(hhRows > 0);
    assertEquals(103, Files.readAllLines(dir.resolve("dpo/export/messages/train-00000.jsonl")).size(),
        "the chosen conversation for SFT");
  }

  @Test
  void badSpecsAreRefusedWithTheirPlace() {
    for (String bad : List.of("{\"sources\": []}", "{\"target\": 10, \"sources\": [{\"path\": \"x\"}]}",
        "{\"sources\": [{\"path\": \"x\", \"weight\": 1}]}",
        "{\"target\": 10, \"sources\": [{\"path\": \"x\", \"weight\": 1, \"count\": 3}]}",
        "{\"target\": 10, \"sources\": [{\"path\": \"x\", \"weight\": 1}], \"formats\": [\"csv\"]}",
        "{\"target\": 10, \"colour\": 1, \"sources\": [{\"path\": \"x\", \"weight\": 1}]}")) {
      assertThrows(IllegalArgumentException.class, () -> BlendSpec.parse(Json.mapper().readTree(bad), dir, bad, "s.json"), bad);
    }
  }
}
