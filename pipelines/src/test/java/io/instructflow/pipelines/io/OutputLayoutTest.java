package io.instructflow.pipelines.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.cli.Main;
import io.instructflow.pipelines.runtime.Manifest;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The completion marker (issue 21): what seals an output, what unseals it, and every reader refusing an
 * output whose run did not finish. The kills themselves are in {@code FaultInjectionTest}.
 */
class OutputLayoutTest {
  @TempDir Path tmp;

  /** Runs the CLI in this JVM; returns {exit status, stdout + stderr}. */
  static Object[] cli(String... args) {
    PrintStream out = System.out;
    PrintStream err = System.err;
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    int status;
    try {
      PrintStream both = new PrintStream(o, true, StandardCharsets.UTF_8);
      System.setOut(both);
      System.setErr(both);
      status = Main.execute(args);
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
    return new Object[] {status, o.toString(StandardCharsets.UTF_8)};
  }

  /** A finished import of the mixed test file, into {@code tmp/name}. */
  Path imported(String name) throws Exception {
    Path out = tmp.resolve(name);
    Object[] r = cli("import", "--in", TestFiles.mixedFile(Files.createDirectories(tmp.resolve("in-" + name))).toString(),
        "--out", out.toString(), "--runner", "direct");
    assertEquals(0, r[0], (String) r[1]);
    return out;
  }

  @Test
  void aFinishedRunIsSealedAndPrepareUnsealsItFirst() throws Exception {
    Path out = imported("o");
    OutputLayout layout = new OutputLayout(out.toString());
    assertNull(layout.completeness());
    String manifestSha = io.instructflow.schemas.Ids.sha256Hex(Files.readAllBytes(out.resolve(OutputLayout.MANIFEST)));
    assertEquals("{\"manifest\":\"MANIFEST.json\",\"sha256\":\"" + manifestSha + "\"}\n",
        Files.readString(out.resolve(OutputLayout.MARKER)));
    assertTrue(Manifest.verify(layout).ok());
    assertFalse(Files.exists(out.resolve(".staging")), "no staging left");

    layout.prepare();
    assertFalse(Files.exists(out.resolve(OutputLayout.MARKER)), "prepare removes the marker");
    assertFalse(Files.exists(out.resolve(OutputLayout.MANIFEST)), "and the stale manifest");
    assertFalse(Files.exists(out.resolve(OutputLayout.SUMMARY)));
    assertEquals(List.of(), layout.shardFiles(OutputLayout.Kind.DATA));
    assertTrue(layout.completeness().contains("no completion marker"), layout.completeness());
  }

  @Test
  void prepareRemovesEverythingAKilledRunStaged() throws Exception {
    Path out = tmp.resolve("k");
    Files.createDirectories(out.resolve(".staging/data"));
    Files.writeString(out.resolve(".staging/data/tmp-part-00000.jsonl"), "{\"half\": ");
    Files.writeString(out.resolve(".staging/data/frag-000000000-000000000000-n3.jsonl"), "a\nb\nc\n");
    Files.createDirectories(out.resolve(".staging/marker"));
    Files.writeString(out.resolve(".staging/marker/tmp-_SUCCESS"), "{");
    new OutputLayout(out.toString()).prepare();
    assertFalse(Files.exists(out.resolve(".staging")), "a killed run's staging and temporary files are gone");
  }

  @Test
  void writingAFileUnsealsAndAChangedManifestIsNoLongerComplete() throws Exception {
    Path out = imported("w");
    OutputLayout layout = new OutputLayout(out.toString());
    layout.writeFile("notes.txt", "later\n");
    assertFalse(Files.exists(out.resolve(OutputLayout.MARKER)), "a file written after the seal removes the marker");
    Manifest.write(layout, "import");
    assertNull(layout.completeness());

    Files.writeString(out.resolve(OutputLayout.MANIFEST), Files.readString(out.resolve(OutputLayout.MANIFEST)) + " ");
    assertTrue(layout.completeness().contains("does not match"), layout.completeness());
  }

  @Test
  void readersRefuseAnOutputWhoseRunDidNotFinish() throws Exception {
    Path out = imported("r");
    Path done = imported("done");
    // the run was killed while publishing: shards there, no marker
    Files.delete(out.resolve(OutputLayout.MARKER));
    String data = out.resolve("data").toString();
    for (String in : List.of(out.toString(), data, data + "/", out.resolve("data/part-00000.jsonl").toString(),
        data + "/*.jsonl", tmp.resolve("*").resolve("data").resolve("*.jsonl").toString())) {
      InputFiles.InputException e = assertThrows(InputFiles.InputException.class, () -> InputFiles.expand(in, null), in);
      assertTrue(e.getMessage().contains(out + " is not a complete output: it has no completion marker _SUCCESS"),
          e.getMessage());
      assertTrue(e.getMessage().contains("Rerun the command that wrote it"), e.getMessage());
    }
    assertThrows(OutputLayout.IncompleteException.class, () -> OutputLayout.requireComplete(data));
    // a finished output and plain input files pass
    assertEquals(1, InputFiles.expand(done.resolve("data").toString(), null).size());
    OutputLayout.requireComplete(tmp.resolve("in-r").toString());

    Object[] filter = cli("filter", "--in", data, "--out", tmp.resolve("f").toString(), "--preset", "alpaca", "--runner",
        "direct");
    assertEquals(Main.EXIT_USAGE, filter[0], (String) filter[1]);
    assertTrue(((String) filter[1]).contains("is not a complete output"), (String) filter[1]);
    Files.writeString(tmp.resolve("spec.json"), "{\"target\": 3, \"seed\": 1, \"sources\": [{\"path\": \"" + out
        + "\", \"name\": \"r\", \"license\": \"MIT\", \"weight\": 1}]}");
    Object[] blend = cli("blend", "--spec", tmp.resolve("spec.json").toString(), "--out", tmp.resolve("b").toString(),
        "--runner", "direct");
    assertEquals(Main.EXIT_USAGE, blend[0], (String) blend[1]);
    assertTrue(((String) blend[1]).contains("is not a complete output"), (String) blend[1]);
    Object[] trace = cli("audit", "trace", "nope", "--in", out.toString());
    assertEquals(Main.EXIT_USAGE, trace[0], (String) trace[1]);
    Object[] verify = cli("audit", "verify", "--in", out.toString());
    assertEquals(1, verify[0], (String) verify[1]);
    assertTrue(((String) verify[1]).contains("incomplete: it has no completion marker"), (String) verify[1]);
    assertEquals(0, cli("audit", "verify", "--in", done.toString())[0]);
  }
}
