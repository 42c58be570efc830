package io.instructflow.pipelines;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instructflow.pipelines.cli.Main;
import io.instructflow.pipelines.io.FaultPoint;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.runtime.Manifest;
import io.instructflow.schemas.Json;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fault injection (issue 21): {@code generate} (on the real stories260K model), {@code filter} and
 * {@code blend} run as child JVMs of the real CLI on the DirectRunner, each killed with {@code kill -9}
 * at seeded points: named points inside the output's life cycle ({@link FaultPoint}: after prepare,
 * while a shard is packed, after each published shard, after the summary, between the manifest and the
 * completion marker...) and at seeded random times: 22 kills. After each kill the output must not pass
 * for complete (no marker, readers refuse it) and every shard it shows must be whole. Kills come in
 * chains of two (the rerun of a killed run is killed too, a crash during recovery), and the next rerun
 * goes to completion: its outputs must be byte-identical to an uninterrupted run's, sealed, passing
 * {@code audit verify}, with no staging or temporary file left.
 *
 * <p>What differs between two uninterrupted runs is left out of the byte comparison and compared
 * otherwise: {@code run-summary.json} (start time, stage timings, memory note, and generate's cache hit
 * counts) is compared without those fields; {@code MANIFEST.json} by its entries other than the
 * summary's; {@code _SUCCESS} by matching the manifest. The seed is printed; {@code
 * -Dinstructflow.faultSeed=N} replays a run.
 *
 * <p>{@code generate}'s runs go on beside {@code filter}'s and {@code blend}'s (a thread started with the
 * inputs; its test waits for it): the commands share no folder, and each command's plan is drawn from a
 * generator of its own, seeded from the seed and the command's name, so it does not depend on the
 * order the two threads draw in.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FaultInjectionTest {
  @TempDir static Path tmp;

  static final long SEED = Long.getLong("instructflow.faultSeed", 20261203L);
  /** Kills that landed, over all commands. */
  static final AtomicInteger KILLS = new AtomicInteger();
  /** {@code generate}'s exercise, running beside the other commands' from {@link #inputs}. */
  static CompletableFuture<Void> generateRuns;
  /** Kills per rerun chain: the first rerun of a killed run is killed as well. */
  static final int CHAIN = 2;

  static Path model;
  static Path prompts;
  static Path filterIn;
  static Path blendSpec;
  static Path filterBaseline;

  @BeforeAll
  static void inputs() throws Exception {
    System.out.println("FaultInjectionTest seed " + SEED);
    model = TestFiles.sharedData().resolve("../models/stories260K.gguf").normalize();
    assertTrue(Files.isRegularFile(model), "the shared model is missing: " + model);
    Path seed = TestFiles.sharedData().resolve("seed");
    assertTrue(Files.isDirectory(seed), "the shared data is missing: " + seed);
    List<String> en = Files.readAllLines(seed.resolve("instructionwild_seed_prompts_en.jsonl"), StandardCharsets.UTF_8);
    List<String> zh = Files.readAllLines(seed.resolve("instructionwild_seed_prompts_ch.jsonl"), StandardCharsets.UTF_8);
    List<String> tasks = Files.readAllLines(seed.resolve("self-instruct_seed_tasks.jsonl"), StandardCharsets.UTF_8);
    // generate: short English and Chinese instructions from the shared seeds, and one broken line
    List<String> g = new ArrayList<>();
    for (int i = 0, n = 0; n < 6 && i < en.size(); i++) {
      if (en.get(i).length() < 160) {
        g.add(en.get(i));
        n++;
      }
    }
    for (int i = 0, n = 0; n < 3 && i < zh.size(); i++) {
      if (zh.get(i).length() < 90) {
        g.add(zh.get(i));
        n++;
      }
    }
    g.add("{\"instruction\": \"unterminated");
    // three files, so that data/ is packed from several fragments (files of 3 and 3 lines, then 4)
    prompts = tmp.resolve("prompts");
    Files.createDirectories(prompts);
    write("prompts/a.jsonl", g.subList(0, 3));
    write("prompts/b.jsonl", g.subList(3, 6));
    write("prompts/c.jsonl", g.subList(6, g.size()));
    // filter: the self-instruct seed tasks, Chinese prompts (empty under the rouge tokenizer) and a broken line
    List<String> f = new ArrayList<>(tasks.subList(0, 120));
    f.addAll(zh.subList(0, 40));
    f.add("[\"not an object\"]");
    f.addAll(en.subList(0, 40));
    filterIn = tmp.resolve("filter-in");
    Files.createDirectories(filterIn);
    for (int i = 0; i * 40 < f.size(); i++) {
      write("filter-in/part-" + i + ".jsonl", f.subList(i * 40, Math.min(f.size(), i * 40 + 40)));
    }
    filterBaseline = tmp.resolve("filter-out");
    // blend: the finished filter output (read through its data/) and 150 English prompts
    write("blend-b.jsonl", en.subList(40, 190));
    blendSpec = tmp.resolve("blend.json");
    Files.writeString(blendSpec, "{\"name\": \"faults\", \"target\": 200, \"seed\": 3, \"shardSize\": 45, \"validation\": 0.1, "
        + "\"formats\": [\"jsonl\"], \"sources\": [{\"path\": \"" + filterBaseline + "\", \"name\": \"filtered\", "
        + "\"license\": \"Apache-2.0\", \"weight\": 0.5}, {\"path\": \"" + tmp.resolve("blend-b.jsonl") + "\", \"name\": \"wild\", "
        + "\"license\": \"CC-BY-NC-4.0\", \"weight\": 0.5}]}");
    // generate (a model, three prompt files) shares nothing with filter and blend: it runs beside them
    generateRuns = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        exercise(generate(), tmp.resolve("generate-out"));
        generateRuns.complete(null);
      } catch (Throwable e) {
        generateRuns.completeExceptionally(e);
      }
    }, "fault-injection-generate");
    t.setDaemon(true);
    t.start();
  }

  static Path write(String name, List<String> lines) throws IOException {
    Path p = tmp.resolve(name);
    Files.write(p, lines, StandardCharsets.UTF_8);
    return p;
  }

  /**
   * One command under test: its arguments for an output folder, how many of its fault points to kill it
   * at (drawn with the seed from the points its uninterrupted run passes, half of them inside publish),
   * and how many kills at seeded times.
   */
  record Command(String name, List<String> args, int named, int timed) {
    List<String> argsFor(Path out) {
      List<String> a = new ArrayList<>(args);
      a.add("--out");
      a.add(out.toString());
      return a;
    }
  }

  static Command generate() {
    return new Command("generate", List.of("generate", "--in", prompts.toString(), "--model", model.toString(), "--runner",
        "direct", "--max-tokens", "12", "--threads", "1", "--parallel", "2", "--shard-size", "6", "--seed", "5"), 9, 3);
  }

  static Command filter() {
    return new Command("filter", List.of("filter", "--in", filterIn.toString(), "--preset", "alpaca", "--runner", "direct",
        "--shard-size", "45"), 6, 2);
  }

  static Command blend() {
    return new Command("blend", List.of("blend", "--spec", blendSpec.toString(), "--runner", "direct"), 2, 0);
  }

  @Test
  @Order(1)
  void filterKilledAnywhereRerunsToTheSameOutput() throws Exception {
    exercise(filter(), filterBaseline);
  }

  @Test
  @Order(2)
  void blendKilledAnywhereRerunsToTheSameOutput() throws Exception {
    if (!Files.isRegularFile(filterBaseline.resolve(OutputLayout.MARKER))) {
      run(filter(), filterBaseline, null, -1);
    }
    exercise(blend(), tmp.resolve("blend-out"));
  }

  /** Started with the inputs; waits for it and rethrows what failed it. */
  @Test
  @Order(3)
  void generateKilledAnywhereRerunsToTheSameOutput() throws Throwable {
    try {
      generateRuns.get(20, TimeUnit.MINUTES);
    } catch (ExecutionException e) {
      throw e.getCause();
    }
  }

  @Test
  @Order(4)
  void atLeastTwentyKillsLanded() throws Exception {
    try {
      generateRuns.get(20, TimeUnit.MINUTES);
    } catch (ExecutionException e) {
      // generate's own test reports it
    }
    assertTrue(KILLS.get() >= 20, "only " + KILLS.get() + " kills landed (seed " + SEED + ")");
  }

  /**
   * The uninterrupted run, then each seeded kill followed by a rerun to completion, compared with it.
   * Every run of a command writes the same folder {@code out} (emptied before each kill), as a user
   * reruns into the same {@code --out}; the uninterrupted run's files are kept in memory.
   */
  static void exercise(Command c, Path out) throws Exception {
    deleteTree(out);
    long t0 = System.nanoTime();
    Outcome base = run(c, out, FaultPoint.LIST, -1);
    long baseMillis = (System.nanoTime() - t0) / 1_000_000;
    assertEquals(0, base.exit, c.name + " uninterrupted run failed:\n" + base.log);
    Snapshot expected = Snapshot.of(out);
    assertNull(new OutputLayout(out.toString()).completeness(), "the uninterrupted run is sealed");
    List<String> inPublish = new ArrayList<>();
    List<String> others = new ArrayList<>();
    base.log.lines().filter(l -> l.startsWith(FaultPoint.PASSED)).map(l -> l.substring(FaultPoint.PASSED.length()))
        .distinct().forEach(p -> (p.startsWith("publish.") ? inPublish : others).add(p));
    System.out.printf(Locale.ROOT, "%s: uninterrupted %d ms, fault points %s %s%n", c.name, baseMillis, inPublish, others);
    // the seeded plan: half the named kills inside publish, the rest anywhere; then kills at seeded times
    Random random = new Random(SEED * 31 + c.name.hashCode());
    Collections.shuffle(inPublish, random);
    List<Object> plan = new ArrayList<>(inPublish.subList(0, Math.min(inPublish.size(), (c.named + 1) / 2)));
    List<String> rest = new ArrayList<>(others);
    rest.addAll(inPublish.subList(plan.size(), inPublish.size()));
    Collections.shuffle(rest, random);
    plan.addAll(rest.subList(0, Math.min(rest.size(), c.named - plan.size())));
    for (int i = 0; i < c.timed; i++) {
      // within the first two thirds of an uninterrupted run (later runs start faster than the first)
      plan.add((long) (baseMillis * (0.15 + 0.5 * random.nextDouble())));
    }
    // kills in chains of two: a run is killed, its rerun is killed too, and the next rerun completes
    for (int from = 0; from < plan.size(); from += CHAIN) {
      List<Object> chain = plan.subList(from, Math.min(plan.size(), from + CHAIN));
      deleteTree(out);
      long t1 = System.nanoTime();
      StringBuilder what = new StringBuilder(c.name);
      for (Object at : chain) {
        Outcome killed = at instanceof String p ? run(c, out, p, -1) : run(c, out, null, (Long) at);
        what.append(killed.killed ? " killed " : " not killed (finished first) ")
            .append(at instanceof String ? "at " + at : "after " + at + " ms").append(',');
        if (killed.killed) {
          KILLS.incrementAndGet();
          checkKilledState(out, expected, what + " (seed " + SEED + ")");
        } else {
          assertEquals(0, killed.exit, what + ": it finished on its own, but failed:\n" + killed.log);
        }
      }
      what.append(" then rerun (seed ").append(SEED).append(')');
      Outcome rerun = run(c, out, null, -1);
      assertEquals(0, rerun.exit, what + ": the rerun failed:\n" + rerun.log);
      Snapshot.of(out).assertSameAs(expected, what.toString());
      assertNull(new OutputLayout(out.toString()).completeness(), what + ": the rerun is sealed");
      Manifest.Check v = Manifest.verify(new OutputLayout(out.toString()));
      assertTrue(v.ok(), what + ": audit verify after the rerun: " + v);
      System.out.printf(Locale.ROOT, "%s: identical (%d ms)%n", what, (System.nanoTime() - t1) / 1_000_000);
    }
  }

  static void deleteTree(Path dir) throws IOException {
    if (Files.exists(dir)) {
      try (Stream<Path> w = Files.walk(dir)) {
        for (Path p : w.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
  }

  /**
   * A killed output: while it is not sealed, readers refuse it and audit verify fails; every shard it
   * shows is whole (the same bytes as the baseline's shard of that name); and if the kill came after the
   * marker, it is the complete output.
   */
  static void checkKilledState(Path out, Snapshot expected, String what) throws IOException {
    OutputLayout layout = new OutputLayout(out.toString());
    if (OutputLayout.outputRootOf(out.toString()).isEmpty()) {
      // killed before prepare: nothing was written that a reader could take for an output
      if (!Files.exists(out)) {
        return;
      }
      try (Stream<Path> w = Files.walk(out)) {
        List<String> files = w.filter(Files::isRegularFile).map(p -> out.relativize(p).toString()).toList();
        assertTrue(files.stream().allMatch(OutputLayout.LOCK::equals), what + ": files before prepare: " + files);
      }
      return;
    }
    if (layout.completeness() == null) {
      // killed after sealing, on its way out: the output is complete, only the lock was not released
      Snapshot sealed = Snapshot.of(out);
      sealed.files.remove(OutputLayout.LOCK);
      sealed.assertSameAs(expected, what + " (sealed before the kill)");
      return;
    }
    assertThrows(OutputLayout.IncompleteException.class, () -> OutputLayout.requireComplete(out.resolve("data").toString()),
        what + ": a reader must refuse the unfinished output");
    assertFalse(Manifest.verify(layout).ok(), what + ": audit verify must fail on the unfinished output");
    for (OutputLayout.Kind kind : OutputLayout.Kind.values()) {
      for (String shard : layout.shardFiles(kind)) {
        Path p = Paths.get(shard);
        byte[] b = expected.files.get(kind.dir() + "/" + p.getFileName());
        assertTrue(b != null, what + ": " + p + " is not a shard of the finished output");
        assertTrue(Arrays.equals(b, Files.readAllBytes(p)), what + ": torn shard " + p);
      }
    }
  }

  /** What a child run did. */
  record Outcome(int exit, boolean killed, String log) {}

  /**
   * Runs the CLI in a child JVM into {@code out}: to its end, or killed with {@code kill -9} when it
   * reaches fault point {@code point}, or {@code afterMillis} after it started.
   */
  static Outcome run(Command c, Path out, String point, long afterMillis) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    for (String a : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (a.startsWith("--add-opens") || a.startsWith("-Dfile.encoding")) {
        cmd.add(a);
      }
    }
    cmd.addAll(List.of("-Xmx600m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"));
    if (point != null) {
      cmd.add("-D" + FaultPoint.PROPERTY + "=" + point);
    }
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(Main.class.getName());
    cmd.addAll(c.argsFor(out));
    Path log = tmp.resolve("logs").resolve(out.getFileName() + "-" + System.nanoTime() + ".log");
    Files.createDirectories(log.getParent());
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(log.toFile());
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
    Process p = pb.start();
    boolean armed = point != null && !point.equals(FaultPoint.LIST);
    CountDownLatch reached = new CountDownLatch(1);
    StringBuilder err = new StringBuilder();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          synchronized (err) {
            err.append(line).append('\n');
          }
          if (armed && line.equals(FaultPoint.BANNER + point)) {
            reached.countDown();
          }
        }
      } catch (IOException e) {
        // the process is gone
      }
    });
    reader.start();
    boolean killed = false;
    if (armed) {
      // wait for the point, or for the run to end without reaching it (a wrong point name: fails below)
      while (!reached.await(200, TimeUnit.MILLISECONDS)) {
        if (!p.isAlive()) {
          break;
        }
      }
      if (reached.getCount() == 0) {
        kill9(p);
        killed = true;
      }
    } else if (afterMillis >= 0) {
      if (!p.waitFor(afterMillis, TimeUnit.MILLISECONDS)) {
        kill9(p);
        killed = true;
      }
    }
    if (!p.waitFor(300, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail(c.name + " did not finish in 300 s");
    }
    reader.join(10_000);
    String text = Files.readString(log, StandardCharsets.UTF_8) + "\n--- stderr ---\n" + err;
    if (armed && !killed) {
      fail(c.name + " ended (exit " + p.exitValue() + ") without reaching fault point " + point + ":\n" + text);
    }
    return new Outcome(p.exitValue(), killed, text);
  }

  /** {@code kill -9 PID}: the process gets no chance to clean up (no shutdown hooks, no finally). */
  static void kill9(Process p) throws Exception {
    Process k = new ProcessBuilder("kill", "-9", Long.toString(p.pid())).redirectErrorStream(true).start();
    if (!k.waitFor(30, TimeUnit.SECONDS) || k.exitValue() != 0) {
      p.destroyForcibly();
    }
    p.waitFor(60, TimeUnit.SECONDS);
  }

  /** Every file of an output: relative path to bytes, with the run-dependent files reduced to what must match. */
  record Snapshot(Path root, Map<String, byte[]> files) {
    static Snapshot of(Path root) throws IOException {
      Map<String, byte[]> files = new TreeMap<>();
      try (Stream<Path> w = Files.walk(root)) {
        for (Path p : w.filter(Files::isRegularFile).sorted().toList()) {
          files.put(root.relativize(p).toString(), Files.readAllBytes(p));
        }
      }
      return new Snapshot(root, files);
    }

    void assertSameAs(Snapshot expected, String what) throws IOException {
      assertEquals(expected.files.keySet(), files.keySet(),
          what + ": the files of " + root + " differ from the uninterrupted run's (leftover staging or a missing file)");
      for (String f : files.keySet()) {
        byte[] want = expected.files.get(f);
        byte[] got = files.get(f);
        switch (f) {
          case OutputLayout.SUMMARY -> assertEquals(stableSummary(want), stableSummary(got), what + ": " + f);
          case OutputLayout.MANIFEST -> assertEquals(stableManifest(want), stableManifest(got), what + ": " + f);
          case OutputLayout.MARKER -> { } // checked through completeness()
          default -> assertTrue(Arrays.equals(want, got), what + ": " + f + " differs from the uninterrupted run's");
        }
      }
    }

    /** The summary without what changes from run to run (start time, timings, memory, cache use). */
    static String stableSummary(byte[] bytes) throws IOException {
      ObjectNode s = (ObjectNode) Json.mapper().readTree(bytes);
      s.remove(List.of("startedAt", "stages", "notes", "metrics"));
      return Json.pretty(s);
    }

    /** The manifest's entries other than the summary's (whose bytes hold timings). */
    static String stableManifest(byte[] bytes) throws IOException {
      JsonNode m = Json.mapper().readTree(bytes);
      StringBuilder b = new StringBuilder(m.path("command").asText()).append('\n');
      for (JsonNode f : m.path("files")) {
        if (!f.path("path").asText().equals(OutputLayout.SUMMARY)) {
          b.append(f).append('\n');
        }
      }
      return b.toString();
    }
  }
}
