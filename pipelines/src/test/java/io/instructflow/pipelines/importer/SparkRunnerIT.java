package io.instructflow.pipelines.importer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Import on Beam's SparkRunner with an embedded {@code local[2]} master, compared byte for byte with
 * the DirectRunner: on the malformed-input file, and on the 55,185 T0 prompts of the shared data.
 */
class SparkRunnerIT {
  static final Runner SPARK = new Runner("spark", "local[2]");

  @Test
  void sparkAndDirectWriteTheSameBytes(@TempDir Path tmp) throws Exception {
    Path in = TestFiles.mixedFile(tmp);
    RunSummary spark = ImportPipelineTest.run(in, tmp.resolve("spark"), 256, 3, null, SPARK);
    RunSummary direct = ImportPipelineTest.run(in, tmp.resolve("direct"), 256, 3, null, ImportPipelineTest.DIRECT);
    assertEquals(direct.counts(), spark.counts());
    assertEquals("SparkRunner local[2]", spark.runner());
    for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
      assertEquals(TestFiles.fingerprint(new OutputLayout(tmp.resolve("direct").toString()), k),
          TestFiles.fingerprint(new OutputLayout(tmp.resolve("spark").toString()), k), k.dir());
    }
  }

  @Test
  void parquetRowGroupsAndCompressedFilesOfAHubFolderWriteTheSameBytesOnSpark(@TempDir Path tmp) throws Exception {
    // issue 20: Parquet row groups read as separate pieces, a .jsonl.gz read whole, splits in the origin
    Path hub = tmp.resolve("hub");
    java.util.List<java.util.Map<String, Object>> rows = new java.util.ArrayList<>(io.instructflow.pipelines.ParquetFixtures.alpacaRows());
    io.instructflow.pipelines.ParquetFixtures.writeParquet(hub.resolve("data/train-00000-of-00001.parquet"),
        io.instructflow.pipelines.ParquetFixtures.ALPACA, rows, 1);
    io.instructflow.pipelines.ParquetFixtures.writeParquet(hub.resolve("data/pairs-00000-of-00001.parquet"),
        io.instructflow.pipelines.ParquetFixtures.ULTRAFEEDBACK, io.instructflow.pipelines.ParquetFixtures.ultraFeedbackRows(), 1);
    Path plain = TestFiles.mixedFile(tmp);
    try (java.io.OutputStream out = new java.util.zip.GZIPOutputStream(
        Files.newOutputStream(hub.resolve("data/validation-00000-of-00001.jsonl.gz")))) {
      Files.copy(plain, out);
    }
    RunSummary spark = ImportPipelineTest.run(hub, tmp.resolve("spark"), 256, 4, null, SPARK);
    RunSummary direct = ImportPipelineTest.run(hub, tmp.resolve("direct"), 256, 4, null, ImportPipelineTest.DIRECT);
    assertEquals(new RunSummary.Counts(25, 12, 0, 13), spark.counts());
    assertEquals(direct.counts(), spark.counts());
    for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
      assertEquals(TestFiles.fingerprint(new OutputLayout(tmp.resolve("direct").toString()), k),
          TestFiles.fingerprint(new OutputLayout(tmp.resolve("spark").toString()), k), k.dir());
    }
    String data = TestFiles.fingerprint(new OutputLayout(tmp.resolve("spark").toString()), OutputLayout.Kind.DATA);
    for (String split : java.util.List.of("pairs", "train", "validation")) {
      org.junit.jupiter.api.Assertions.assertTrue(data.contains("\"split\":\"" + split + "\""), split);
    }
  }

  @Test
  void t0PromptsImportCompletelyAndIdenticallyOnBothRunners(@TempDir Path tmp) throws Exception {
    Path t0 = TestFiles.sharedData().resolve("corpora/t0_train_50k");
    assumeTrue(Files.isDirectory(t0), "shared T0 data not present at " + t0);
    RunSummary spark = ImportPipelineTest.run(t0, tmp.resolve("spark"), 1 << 20, 50_000, null, SPARK);
    assertEquals(new RunSummary.Counts(55_185, 55_185, 0, 0), spark.counts());
    assertEquals(Map.of(), spark.rejected());
    assertEquals(283, spark.inputs().size());
    RunSummary direct = ImportPipelineTest.run(t0, tmp.resolve("direct"), 1 << 20, 50_000, null, ImportPipelineTest.DIRECT);
    assertEquals(spark.counts(), direct.counts());
    OutputLayout a = new OutputLayout(tmp.resolve("spark").toString());
    OutputLayout b = new OutputLayout(tmp.resolve("direct").toString());
    assertEquals(a.shardFiles(OutputLayout.Kind.DATA).size(), b.shardFiles(OutputLayout.Kind.DATA).size());
    for (int i = 0; i < a.shardFiles(OutputLayout.Kind.DATA).size(); i++) {
      assertEquals(-1L, Files.mismatch(Path.of(a.shardFiles(OutputLayout.Kind.DATA).get(i)),
          Path.of(b.shardFiles(OutputLayout.Kind.DATA).get(i))), "shard " + i + " differs");
    }
  }
}
