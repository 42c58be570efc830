package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.runtime.Manifest;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * import → filter → blend through the CLI with {@code hdfs://} input and {@code hdfs://} outputs, on a
 * real in-process HDFS (Hadoop's MiniDFSCluster, one datanode) and the embedded SparkRunner; the
 * shards read back from HDFS equal those of the same commands on local paths, byte for byte (issue 23
 * item 5).
 */
class HdfsRoundTripTest {
  @TempDir static Path tmp;
  static MiniDFSCluster cluster;
  static FileSystem hdfs;
  static String root;

  @BeforeAll
  static void startHdfs() throws IOException {
    Configuration conf = new Configuration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, tmp.resolve("dfs").toString());
    cluster = new MiniDFSCluster.Builder(conf).numDataNodes(1).build();
    cluster.waitActive();
    hdfs = cluster.getFileSystem();
    root = cluster.getURI().toString();
  }

  @AfterAll
  static void stopHdfs() throws IOException {
    if (cluster != null) {
      cluster.shutdown();
    }
  }

  /** 300 records: Chinese and English, 20 exact copies, one empty instruction, two unreadable lines. */
  static String input() {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < 300; i++) {
      String ins = i % 3 == 0 ? "请用三句话解释第" + i + "个概念，并举一个生活中的例子。"
          : "Explain concept number " + i + " in three sentences and give an everyday example of it.";
      b.append(Json.line(Map.of("instruction", ins, "input", "", "output",
          "Concept " + i + " is described here in enough words to pass the length checks of the preset. 第" + i + "个。")))
          .append('\n');
      if (i < 20) {
        b.append(Json.line(Map.of("instruction", ins, "input", "", "output",
            "Concept " + i + " is described here in enough words to pass the length checks of the preset. 第" + i + "个。")))
            .append('\n');
      }
    }
    b.append("{\"instruction\": \"broken\n");
    b.append("{\"input\": \"no instruction\"}\n");
    b.append(Json.line(Map.of("instruction", "  ", "output", "x"))).append('\n');
    return b.toString();
  }

  static String spec(String filtered) {
    return "{\"target\": 200, \"seed\": 11, \"validation\": 0.1, \"sources\": [{\"path\": \"" + filtered
        + "\", \"name\": \"mix\", \"license\": \"Apache-2.0\", \"weight\": 1.0}], \"formats\": [\"jsonl\"]}";
  }

  static void pipeline(String in, String base, Path specFile) throws IOException {
    String[] spark = {"--runner", "spark", "--spark-master", "local[2]"};
    MainTest.cli(0, concat(new String[] {"import", "--in", in, "--out", base + "/imported"}, spark));
    MainTest.cli(0, concat(new String[] {"filter", "--in", base + "/imported/data", "--out", base + "/filtered",
        "--preset", "sft-default"}, spark));
    Files.writeString(specFile, spec(base + "/filtered"));
    MainTest.cli(0, concat(new String[] {"blend", "--spec", specFile.toString(), "--out", base + "/blend"}, spark));
  }

  static String[] concat(String[] a, String[] b) {
    String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /** Every shard and export of an output on HDFS, by relative path. */
  static Map<String, String> hdfsFiles(String dir) throws IOException {
    Map<String, String> out = new TreeMap<>();
    org.apache.hadoop.fs.Path base = new org.apache.hadoop.fs.Path(dir);
    var it = hdfs.listFiles(base, true);
    String prefix = hdfs.makeQualified(base).toUri().getPath() + "/";
    while (it.hasNext()) {
      FileStatus f = it.next();
      String rel = f.getPath().toUri().getPath().substring(prefix.length());
      if (kept(rel)) {
        try (InputStream in = hdfs.open(f.getPath())) {
          out.put(rel, new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
      }
    }
    return out;
  }

  static Map<String, String> localFiles(Path dir) throws IOException {
    Map<String, String> out = new TreeMap<>();
    try (var w = Files.walk(dir)) {
      for (Path p : w.filter(Files::isRegularFile).toList()) {
        String rel = dir.relativize(p).toString();
        if (kept(rel)) {
          out.put(rel, Files.readString(p));
        }
      }
    }
    return out;
  }

  /** Records files: the shards of data/, filtered/, rejects/ and the JSONL export (summaries hold paths and times). */
  static boolean kept(String rel) {
    return rel.matches("(data|filtered|rejects)/part-\\d{5}\\.jsonl") || rel.startsWith("export/jsonl/");
  }

  /** The text with each reject's {@code source} folder replaced by {@code IN}, and the blend spec's hash by {@code SPEC}. */
  static String normalized(String text) {
    return text.replaceAll("\"source\":\"[^\"]*/", "\"source\":\"IN/")
        .replaceAll("\"specSha256\":\"[0-9a-f]{64}\"", "\"specSha256\":\"SPEC\"");
  }

  static JsonNode summary(String dir) throws IOException {
    try (InputStream in = hdfs.open(new org.apache.hadoop.fs.Path(dir + "/run-summary.json"))) {
      return Json.mapper().readTree(in);
    }
  }

  @Test
  void importFilterBlendOnHdfsEqualsTheLocalRun() throws Exception {
    Path local = tmp.resolve("local");
    Files.createDirectories(local);
    Files.writeString(local.resolve("in.jsonl"), input());
    hdfs.mkdirs(new org.apache.hadoop.fs.Path("/raw"));
    hdfs.copyFromLocalFile(new org.apache.hadoop.fs.Path(local.resolve("in.jsonl").toString()),
        new org.apache.hadoop.fs.Path("/raw/in.jsonl"));

    pipeline(local.resolve("in.jsonl").toString(), local.toString(), tmp.resolve("local-spec.json"));
    pipeline(root + "/raw/in.jsonl", root + "/out", tmp.resolve("hdfs-spec.json"));

    List<String> stages = List.of("imported", "filtered", "blend");
    for (String stage : stages) {
      Map<String, String> want = localFiles(local.resolve(stage));
      Map<String, String> got = hdfsFiles(root + "/out/" + stage);
      assertFalse(want.isEmpty(), stage);
      assertEquals(want.keySet(), got.keySet(), stage + ": the same files");
      for (String f : want.keySet()) {
        // two things name paths by design: a reject's source file, and the blend spec's hash (the spec
        // names its source folder); everything else is byte-identical
        assertTrue(normalized(want.get(f)).equals(normalized(got.get(f))), stage + "/" + f + ": the same bytes");
        if (!f.startsWith("rejects/") && !stage.equals("blend")) {
          assertTrue(want.get(f).equals(got.get(f)), stage + "/" + f + ": the same bytes");
        }
      }
      JsonNode s = summary(root + "/out/" + stage);
      JsonNode l = Json.mapper().readTree(Files.readString(local.resolve(stage).resolve("run-summary.json")));
      assertEquals(l.path("counts"), s.path("counts"), stage + ": the same counts");
      JsonNode c = s.path("counts");
      assertEquals(c.path("read").asLong(), c.path("kept").asLong() + c.path("filtered").asLong() + c.path("rejected").asLong(),
          stage + ": counts reconcile " + c);
      // sealed, and the manifest lists the files in the output's root too (the summary, the card): a
      // manifest written on HDFS used to leave them out, and audit verify then failed on them
      OutputLayout out = new OutputLayout(root + "/out/" + stage);
      assertTrue(Manifest.scan(out).containsKey(OutputLayout.SUMMARY), stage + ": " + Manifest.scan(out).keySet());
      Manifest.Check check = Manifest.verify(out);
      assertTrue(check.ok(), stage + ": audit verify on HDFS: " + check);
    }
    JsonNode imported = summary(root + "/out/imported").path("counts");
    assertEquals(323, imported.path("read").asLong());
    assertTrue(imported.path("rejected").asLong() >= 2, imported.toString());
    assertEquals(imported.path("kept").asLong(), summary(root + "/out/filtered").path("counts").path("read").asLong(),
        "filter reads what import kept");
    assertEquals(20, summary(root + "/out/blend").path("filtered").path("blend").path("blend.duplicate").asLong(),
        "the blend leaves out the 20 exact copies");
    assertTrue(hdfsFiles(root + "/out/blend").get("data/part-00000.jsonl").contains("个概念"), "non-ASCII survives");
    List<String> outRoot = new ArrayList<>();
    for (FileStatus f : hdfs.listStatus(new org.apache.hadoop.fs.Path("/out/blend"))) {
      outRoot.add(f.getPath().getName());
    }
    assertTrue(outRoot.contains("README.md") && outRoot.contains("blend-plan.json"), outRoot.toString());
    assertTrue(Manifest.scan(new OutputLayout(root + "/out/blend")).keySet().containsAll(List.of("README.md", "blend-plan.json")),
        "the blend's manifest lists its card and plan");

    // --in OUT on HDFS (its summary, manifest and rejects/ beside data/) reads OUT/data, as the local run did
    String[] out = MainTest.cli(0, "filter", "--in", root + "/out/imported", "--out", root + "/out/filtered-root", "--preset",
        "sft-default", "--runner", "spark", "--spark-master", "local[2]");
    assertTrue(out[0].contains("filter: --in " + root + "/out/imported is an output folder; reading its data/ (kept records)"),
        out[0]);
    assertEquals(hdfsFiles(root + "/out/filtered"), hdfsFiles(root + "/out/filtered-root"), "the same shards as --in OUT/data");
    assertEquals(summary(root + "/out/filtered").path("counts"), summary(root + "/out/filtered-root").path("counts"));
  }

  @Test
  void otherObjectStoresAreRefusedBeforeAnythingRuns() {
    String err = MainTest.cli(2, "import", "--in", "gs://bucket/in.jsonl", "--out", tmp.resolve("gso").toString(),
        "--runner", "direct")[1];
    assertTrue(err.contains("gs://bucket/in.jsonl") && err.contains("no file system for 'gs://'"), err);
    assertFalse(Files.exists(tmp.resolve("gso")), "nothing was written");
    // Hadoop's S3 connector names are not ours: the message points at s3://
    err = MainTest.cli(2, "import", "--in", "s3a://bucket/in.jsonl", "--out", tmp.resolve("gso").toString(),
        "--runner", "direct")[1];
    assertTrue(err.contains("no file system for 's3a://'") && err.contains("named s3://bucket/key here"), err);
    assertFalse(Files.exists(tmp.resolve("gso")), "nothing was written");
  }
}
