package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Json;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * import → filter → blend through the CLI with {@code s3://} input and {@code s3://} outputs, through
 * Beam's AWS file system against a real S3-compatible server (s3proxy with its in-memory store, in a
 * JVM of its own, over HTTP on 127.0.0.1) and the embedded SparkRunner; the objects read back equal the
 * shards of the same commands on local paths, byte for byte (issue 23 item 5). Credentials come the
 * standard way (the SDK's {@code aws.accessKeyId} / {@code aws.secretAccessKey} system properties);
 * endpoint, region and path-style addressing from the CLI's flags.
 */
class S3RoundTripTest {
  static final String IDENTITY = "instructflow-test";
  static final String SECRET = "instructflow-test-secret";
  static final String BUCKET = "instructflow";

  @TempDir static Path tmp;
  static Process server;
  static String endpoint;
  static S3Client s3;

  @BeforeAll
  static void startServer() throws Exception {
    Path jar = Paths.get("target/s3proxy/s3proxy.jar");
    assertTrue(Files.isRegularFile(jar), "s3proxy is copied there by the build (pipelines/pom.xml): " + jar.toAbsolutePath());
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    endpoint = "http://127.0.0.1:" + port;
    Path props = tmp.resolve("s3proxy.properties");
    Files.writeString(props, String.join("\n",
        "s3proxy.endpoint=" + endpoint,
        "s3proxy.authorization=aws-v2-or-v4",
        "s3proxy.identity=" + IDENTITY,
        "s3proxy.credential=" + SECRET,
        "jclouds.provider=transient",
        "jclouds.identity=unused",
        "jclouds.credential=unused") + "\n");
    String javaBin = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    server = new ProcessBuilder(javaBin, "-Xmx512m", "-jar", jar.toAbsolutePath().toString(), "--properties", props.toString())
        .redirectErrorStream(true).start();
    // s3proxy logs "Started Server" once Jetty listens; read its log until then (or until it exits)
    BufferedReader log = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
    StringBuilder seen = new StringBuilder();
    String line;
    boolean started = false;
    while ((line = log.readLine()) != null) {
      seen.append(line).append('\n');
      if (line.contains("Started Server")) {
        started = true;
        break;
      }
    }
    assertTrue(started, "s3proxy did not start:\n" + seen);
    // the rest of its log goes to target/s3proxy/s3proxy.log (it names the request behind an S3 error)
    java.io.Writer file = Files.newBufferedWriter(jar.resolveSibling("s3proxy.log"), StandardCharsets.UTF_8);
    file.write(seen.toString());
    Thread drain = new Thread(() -> {
      try (file) {
        String l;
        while ((l = log.readLine()) != null) {
          file.write(l + "\n");
          file.flush();
        }
      } catch (IOException e) {
        // the server stopped
      }
    }, "s3proxy-log");
    drain.setDaemon(true);
    drain.start();
    System.setProperty("aws.accessKeyId", IDENTITY);
    System.setProperty("aws.secretAccessKey", SECRET);
    s3 = S3Client.builder().endpointOverride(java.net.URI.create(endpoint)).region(Region.US_EAST_1).forcePathStyle(true)
        .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(IDENTITY, SECRET))).build();
    s3.createBucket(b -> b.bucket(BUCKET));
  }

  @AfterAll
  static void stopServer() throws InterruptedException {
    System.clearProperty("aws.accessKeyId");
    System.clearProperty("aws.secretAccessKey");
    io.instructflow.pipelines.runtime.Storage.useS3(null);
    if (s3 != null) {
      s3.close();
    }
    if (server != null) {
      server.destroy();
      if (!server.waitFor(10, TimeUnit.SECONDS)) {
        server.destroyForcibly().waitFor();
      }
    }
  }

  String[] s3Flags() {
    return new String[] {"--runner", "spark", "--spark-master", "local[2]", "--s3-endpoint", endpoint, "--s3-region",
        "us-east-1", "--s3-path-style"};
  }

  void pipeline(String in, String base, Path specFile, String[] flags) throws IOException {
    MainTest.cli(0, HdfsRoundTripTest.concat(new String[] {"import", "--in", in, "--out", base + "/imported"}, flags));
    MainTest.cli(0, HdfsRoundTripTest.concat(new String[] {"filter", "--in", base + "/imported/data", "--out",
        base + "/filtered", "--preset", "sft-default"}, flags));
    Files.writeString(specFile, HdfsRoundTripTest.spec(base + "/filtered"));
    MainTest.cli(0, HdfsRoundTripTest.concat(new String[] {"blend", "--spec", specFile.toString(), "--out", base + "/blend"},
        flags));
  }

  /** Every key under {@code prefix} (ending in '/'), relative to it. */
  static List<String> keys(String prefix) {
    List<String> out = new ArrayList<>();
    for (S3Object o : s3.listObjectsV2Paginator(r -> r.bucket(BUCKET).prefix(prefix)).contents()) {
      out.add(o.key().substring(prefix.length()));
    }
    return out;
  }

  static String object(String key) {
    return s3.getObjectAsBytes(r -> r.bucket(BUCKET).key(key)).asString(StandardCharsets.UTF_8);
  }

  /** The records files (as {@link HdfsRoundTripTest#kept}) of an output on S3, by relative path. */
  static Map<String, String> s3Files(String prefix) {
    Map<String, String> out = new TreeMap<>();
    for (String rel : keys(prefix)) {
      if (HdfsRoundTripTest.kept(rel)) {
        out.put(rel, object(prefix + rel));
      }
    }
    return out;
  }

  @Test
  void importFilterBlendOnS3EqualsTheLocalRun() throws Exception {
    Path local = tmp.resolve("local");
    Files.createDirectories(local);
    Files.writeString(local.resolve("in.jsonl"), HdfsRoundTripTest.input());
    s3.putObject(r -> r.bucket(BUCKET).key("raw/in.jsonl"), RequestBody.fromFile(local.resolve("in.jsonl")));

    String[] plain = {"--runner", "spark", "--spark-master", "local[2]"};
    pipeline(local.resolve("in.jsonl").toString(), local.toString(), tmp.resolve("local-spec.json"), plain);
    pipeline("s3://" + BUCKET + "/raw/in.jsonl", "s3://" + BUCKET + "/out", tmp.resolve("s3-spec.json"), s3Flags());

    for (String stage : List.of("imported", "filtered", "blend")) {
      Map<String, String> want = HdfsRoundTripTest.localFiles(local.resolve(stage));
      Map<String, String> got = s3Files("out/" + stage + "/");
      assertFalse(want.isEmpty(), stage);
      assertEquals(want.keySet(), got.keySet(), stage + ": the same files");
      for (String f : want.keySet()) {
        // as on HDFS: a reject's source file and the blend spec's hash name paths; all else is identical
        assertEquals(HdfsRoundTripTest.normalized(want.get(f)), HdfsRoundTripTest.normalized(got.get(f)),
            stage + "/" + f + ": the same bytes");
        if (!f.startsWith("rejects/") && !stage.equals("blend")) {
          assertTrue(want.get(f).equals(got.get(f)), stage + "/" + f + ": the same bytes");
        }
      }
      JsonNode s = Json.mapper().readTree(object("out/" + stage + "/run-summary.json"));
      JsonNode l = Json.mapper().readTree(Files.readString(local.resolve(stage).resolve("run-summary.json")));
      assertEquals(l.path("counts"), s.path("counts"), stage + ": the same counts");
      JsonNode c = s.path("counts");
      assertEquals(c.path("read").asLong(), c.path("kept").asLong() + c.path("filtered").asLong()
          + c.path("rejected").asLong(), stage + ": counts reconcile " + c);
      // sealed: the manifest and the marker are there, and nothing is left in staging
      List<String> all = keys("out/" + stage + "/");
      assertTrue(all.contains("_SUCCESS") && all.contains("MANIFEST.json"), stage + ": " + all);
      assertTrue(all.stream().noneMatch(k -> k.startsWith(".staging/")), stage + ": staging left: " + all);
      assertTrue(Json.mapper().readTree(object("out/" + stage + "/_SUCCESS")).path("sha256").asText().matches("[0-9a-f]{64}"),
          stage + ": the marker names the manifest's hash");
    }
    JsonNode imported = Json.mapper().readTree(object("out/imported/run-summary.json")).path("counts");
    assertEquals(323, imported.path("read").asLong());
    assertEquals(20, Json.mapper().readTree(object("out/blend/run-summary.json")).path("filtered").path("blend")
        .path("blend.duplicate").asLong(), "the blend leaves out the 20 exact copies");
    assertTrue(object("out/blend/data/part-00000.jsonl").contains("个概念"), "non-ASCII survives");
    List<String> blendRoot = keys("out/blend/");
    assertTrue(blendRoot.contains("README.md") && blendRoot.contains("blend-plan.json"), blendRoot.toString());

    // a reader checks the marker on S3 too: audit verify passes on the sealed output, and a changed
    // manifest makes the next reader refuse it
    MainTest.cli(0, HdfsRoundTripTest.concat(new String[] {"audit", "verify", "--in", "s3://" + BUCKET + "/out/filtered"},
        s3Flags()));
    s3.putObject(r -> r.bucket(BUCKET).key("out/imported/MANIFEST.json"), RequestBody.fromString("{}"));
    String err = MainTest.cli(Main.EXIT_USAGE, HdfsRoundTripTest.concat(new String[] {"filter", "--in",
        "s3://" + BUCKET + "/out/imported/data", "--out", "s3://" + BUCKET + "/out/again", "--preset", "sft-default"},
        s3Flags()))[1];
    assertTrue(err.contains("s3://" + BUCKET + "/out/imported is not a complete output"), err);
  }

  @Test
  void badS3FlagsAreUsageErrors() {
    String err = MainTest.cli(Main.EXIT_USAGE, "import", "--in", "s3://" + BUCKET + "/raw/in.jsonl", "--out",
        tmp.resolve("x").toString(), "--s3-endpoint", "ftp://127.0.0.1:9000", "--runner", "direct")[1];
    assertTrue(err.contains("--s3-endpoint ftp://127.0.0.1:9000 must be an http:// or https:// URL"), err);
    err = MainTest.cli(Main.EXIT_USAGE, "import", "--in", "s3://" + BUCKET + "/raw/in.jsonl", "--out",
        tmp.resolve("x").toString(), "--s3-endpoint", "127.0.0.1:9000", "--runner", "direct")[1];
    assertTrue(err.contains("--s3-endpoint 127.0.0.1:9000 is not a URI"), err);
    err = MainTest.cli(Main.EXIT_USAGE, "import", "--in", "gs://bucket/in.jsonl", "--out", tmp.resolve("x").toString(),
        "--runner", "direct")[1];
    assertTrue(err.contains("--in gs://bucket/in.jsonl: no file system for 'gs://' in this build"), err);
    assertFalse(Files.exists(tmp.resolve("x")), "nothing was written");
  }
}
