package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.schemas.Json;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line: exit statuses, errors before the run, help, and the demo on the DirectRunner. */
class MainTest {
  /** Runs the CLI, capturing stdout and stderr. */
  static String[] cli(int expectedStatus, String... args) {
    PrintStream out = System.out;
    PrintStream err = System.err;
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int status;
    try {
      System.setOut(new PrintStream(o, true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(e, true, StandardCharsets.UTF_8));
      status = Main.execute(args);
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
    String[] texts = {o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8)};
    assertEquals(expectedStatus, status, "exit status; stdout:\n" + texts[0] + "\nstderr:\n" + texts[1]);
    return texts;
  }

  @Test
  void helpListsTheCommands() {
    String out = cli(0, "--help")[0];
    for (String c : new String[] {"import", "stats", "demo"}) {
      assertTrue(out.contains(c), out);
    }
    assertTrue(cli(0, "import", "--help")[0].contains("--max-reject-ratio"));
  }

  @Test
  void aSecondRunIntoAnOutputALiveRunHoldsStopsAtOnceNamingTheHolder(@TempDir Path tmp) throws Exception {
    Path in = TestFiles.mixedFile(tmp);
    Path out = tmp.resolve("o");
    Files.createDirectories(out);
    Files.writeString(out.resolve("keep.txt"), "not ours");
    // a live process on this host (this JVM's parent) holds it
    long holder = ProcessHandle.current().parent().orElseThrow().pid();
    String host = java.net.InetAddress.getLocalHost().getHostName();
    Files.writeString(out.resolve(".lock"), "{\"pid\":" + holder + ",\"host\":\"" + host
        + "\",\"started\":\"2026-12-03T10:00:00Z\",\"command\":\"import\"}\n");
    String err = cli(2, "import", "--in", in.toString(), "--out", out.toString(), "--runner", "direct")[1];
    assertTrue(err.contains("in use by another run: import (pid " + holder + " on " + host + ", started 2026-12-03T10:00:00Z)"), err);
    assertTrue(Files.exists(out.resolve(".lock")) && !Files.exists(out.resolve("data")), "nothing touched");
    // on another host: the message says how to clear it
    Files.writeString(out.resolve(".lock"), "{\"pid\":1,\"host\":\"elsewhere.example\",\"command\":\"filter\"}\n");
    assertTrue(cli(2, "import", "--in", in.toString(), "--out", out.toString(), "--runner", "direct")[1]
        .contains("If that run is gone, remove " + out.resolve(".lock")));
    // a holder that no longer runs (killed with kill -9) leaves a stale lock: taken over
    Process p = new ProcessBuilder("true").start();
    p.waitFor();
    Files.writeString(out.resolve(".lock"), "{\"pid\":" + p.pid() + ",\"host\":\"" + host + "\",\"command\":\"import\"}\n");
    cli(0, "import", "--in", in.toString(), "--out", out.toString(), "--runner", "direct");
    assertTrue(Files.exists(out.resolve("data")) && Files.exists(out.resolve("keep.txt")));
    // this process still holds it until it exits; a second command from the same process may take it again
    assertTrue(Files.readString(out.resolve(".lock")).contains("\"pid\":" + ProcessHandle.current().pid()));
    cli(0, "import", "--in", in.toString(), "--out", out.toString(), "--runner", "direct");
    new io.instructflow.pipelines.io.OutputLayout(out.toString()).unlock();
    assertTrue(!Files.exists(out.resolve(".lock")));
  }

  @Test
  void configurationErrorsExitWithTwoBeforeRunning(@TempDir Path tmp) {
    assertTrue(cli(2, "import", "--in", tmp.resolve("missing.jsonl").toString(), "--out", tmp.resolve("o").toString())[1]
        .contains("input path does not exist"));
    assertTrue(cli(2, "import", "--in", tmp.toString(), "--out", tmp.resolve("o").toString(), "--runner", "flink")[1]
        .contains("unknown runner"));
    assertTrue(cli(2, "import", "--in", tmp.toString(), "--out", tmp.resolve("o").toString(), "--format", "csv")[1]
        .contains("unknown format"));
    assertTrue(cli(2, "import", "--out", "x")[1].contains("--in"), "missing required option");
    assertTrue(cli(2, "import", "--in", tmp.toString(), "--out", tmp.resolve("o").toString(), "--license", " ")[1]
        .contains("--license must not be blank"));
    assertTrue(cli(2, "stats", "--in", tmp.toString(), "--out", tmp.resolve("o").toString(), "--max-line-bytes", "2147483647")[1]
        .contains("--max-line-bytes must be within"));
    assertTrue(cli(2, "import", "--in", tmp.toString(), "--out", tmp.resolve("o").toString(), "--dataset-name", "")[1]
        .contains("--dataset-name must not be blank"));
    // serve (issue 21): no open port without a key, and a named key must exist; both before the model loads
    assertTrue(cli(2, "serve", "--model", tmp.resolve("absent.gguf").toString(), "--host", "0.0.0.0")[1]
        .contains("refusing to serve on 0.0.0.0 without --api-key-env"));
    assertTrue(cli(2, "serve", "--model", tmp.resolve("absent.gguf").toString(), "--api-key-env",
        "INSTRUCTFLOW_TEST_SURELY_UNSET_KEY")[1].contains("INSTRUCTFLOW_TEST_SURELY_UNSET_KEY: that environment variable"));
    assertTrue(cli(2, "serve", "--model", tmp.resolve("absent.gguf").toString(), "--queue", "-1")[1]
        .contains("queue >= 0"));
  }

  @Test
  void rejectRatioExitStatusIsThree(@TempDir Path tmp) throws Exception {
    Path in = TestFiles.mixedFile(tmp);
    cli(3, "import", "--in", in.toString(), "--out", tmp.resolve("o").toString(), "--runner", "direct",
        "--max-line-bytes", "256", "--max-reject-ratio", "0.1");
    JsonNode s = Json.mapper().readTree(Files.readString(tmp.resolve("o/run-summary.json")));
    assertEquals("reject_ratio_exceeded", s.path("status").asText());
    assertEquals(5, s.path("counts").path("kept").asLong());
  }

  @Test
  void demoRunsOnShippedSeedsAloneAndSaysWhatItSkipped(@TempDir Path tmp) throws Exception {
    Path empty = Files.createDirectories(tmp.resolve("no-shared-data"));
    // a leftover import from an earlier run must not be counted
    Path stale = Files.createDirectories(tmp.resolve("demo/import/old/data"));
    Files.writeString(stale.resolve("part-00000.jsonl"), "{\"instruction\": \"stale\"}\n");
    String out = cli(0, "demo", "--out", tmp.resolve("demo").toString(), "--runner", "direct", "--data-dir", empty.toString())[0];
    assertTrue(out.contains("skipped: shared source seed/self-instruct_seed_tasks.jsonl"), out);
    assertTrue(out.contains("== demo finished"), out);
    // 40 seed tasks, 10 of them with two instances: the second instance repeats its task's instruction
    JsonNode dedup = Json.mapper().readTree(Files.readString(tmp.resolve("demo/dedup/run-summary.json")));
    assertEquals(50, dedup.path("counts").path("read").asLong());
    assertTrue(dedup.path("counts").path("filtered").asLong() >= 10, dedup.toString());
    assertTrue(dedup.path("reconciled").asBoolean());
    JsonNode stats = Json.mapper().readTree(Files.readString(tmp.resolve("demo/stats/stats.json")));
    assertEquals(dedup.path("counts").path("kept").asLong(), stats.path("records").asLong());
    assertEquals(stats.path("records").asLong(), stats.path("byLicense").path("Apache-2.0").asLong());
    JsonNode imp = Json.mapper().readTree(Files.readString(tmp.resolve("demo/import/instructflow-seeds/run-summary.json")));
    assertEquals(0, imp.path("counts").path("rejected").asLong());
    assertTrue(imp.path("reconciled").asBoolean());
  }
}
