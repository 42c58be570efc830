package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.FaultPoint;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Running out of heap (issue 23, item 7): the heap of a child JVM is filled for real on a Spark task
 * thread while it parses the input ({@link FaultPoint#exhaustHeap}, and the JVM's own
 * {@link OutOfMemoryError}). The run must end at once with exit status 1 and the message that names the
 * heap and {@code INSTRUCTFLOW_HEAP}, even though the heap stays full while the message is made; never
 * another status, never silence, never a JVM that does not exit.
 */
class OutOfMemoryExitTest {
  @TempDir Path tmp;

  @Test
  void aFullHeapOnASparkTaskEndsTheRunWithStatusOneAndTheMessage() throws Exception {
    Path in = TestFiles.sharedData().resolve("seed/self-instruct_seed_tasks.jsonl");
    assertTrue(Files.isRegularFile(in), "shared data missing: " + in);
    List<String> cmd = new ArrayList<>();
    cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    for (String a : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (a.startsWith("--add-opens") || a.startsWith("-Dfile.encoding")) {
        cmd.add(a);
      }
    }
    cmd.addAll(List.of("-Xmx600m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
        "-D" + FaultPoint.OOM_PROPERTY + "=read.parse", "-cp", System.getProperty("java.class.path"),
        Main.class.getName(), "import", "--in", in.toString(), "--out", tmp.resolve("out").toString(),
        "--runner", "spark"));
    Path out = tmp.resolve("stdout.log");
    Path err = tmp.resolve("stderr.log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile());
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    long start = System.nanoTime();
    Process p = pb.start();
    boolean ended = p.waitFor(180, TimeUnit.SECONDS);
    if (!ended) {
      p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
    String log = Files.readString(err, StandardCharsets.UTF_8);
    assertTrue(ended, "the JVM did not exit within 180 s after its heap ran out; stderr:\n" + log);
    double seconds = (System.nanoTime() - start) / 1e9;
    assertEquals(1, p.exitValue(), "exit status; stderr:\n" + log);
    assertTrue(log.contains("error: out of memory (java.lang.OutOfMemoryError"), log);
    assertTrue(log.contains("with a maximum heap of "), log);
    assertTrue(log.contains("INSTRUCTFLOW_HEAP"), log);
    // the run stopped there: nothing was published, and no summary claims a finished run
    assertFalse(Files.exists(tmp.resolve("out").resolve("_SUCCESS")), "a run that ran out of heap published");
    assertTrue(seconds < 180, "took " + seconds + " s");
  }
}
