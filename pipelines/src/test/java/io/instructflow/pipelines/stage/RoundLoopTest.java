package io.instructflow.pipelines.stage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.runtime.RunReport;
import io.instructflow.pipelines.runtime.StageState;
import io.instructflow.schemas.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.KV;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link RoundLoop} with a trivial round function on real files: each round writes records that depend
 * on the pool the earlier rounds left (English and Chinese text), so a resume that lost or repeated a
 * round would change the bytes. A killed run resumes without running its finished rounds again and ends
 * with the bytes of an uninterrupted one; stop-after stops and a later run continues; a folder claimed
 * with other settings is refused before anything is touched; the final folders are the rounds in round
 * order. One test makes each round a Beam pipeline, as the commands do.
 */
class RoundLoopTest {
  /** A round's record, as {@code done.json} holds it. */
  record Done(int round, List<String> added, long records) {}

  /** A simulated kill: the round function stops half way through writing its files. */
  static final class Killed extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Killed(int round) {
      super("killed in round " + round);
    }
  }

  /**
   * Round k adds k tasks to the pool and writes one data record per task, each naming the pool size it
   * saw; tasks whose number is a multiple of 3 are filtered instead. Goes on below {@code target}.
   */
  static final class Grow implements RoundLoop.Round<Done> {
    final int target;
    final int killIn;
    final List<String> pool = new ArrayList<>();
    final List<Integer> ran = new ArrayList<>();
    final List<Integer> resumed = new ArrayList<>();

    Grow(int target, int killIn) {
      this.target = target;
      this.killIn = killIn;
    }

    @Override
    public Done run(int round, Path dir) throws IOException {
      ran.add(round);
      OutputLayout layout = new OutputLayout(dir.toString());
      layout.prepare();
      List<String> added = new ArrayList<>();
      StringBuilder data = new StringBuilder();
      StringBuilder filtered = new StringBuilder();
      for (int i = 0; i < round; i++) {
        String task = round % 2 == 0 ? "第" + round + "轮的任务 " + i : "round " + round + " task " + i;
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("instruction", task);
        r.put("pool", pool.size());
        ((pool.size() + i) % 3 == 0 ? filtered : data).append(Json.line(r)).append('\n');
        added.add(task);
      }
      write(layout.dir(OutputLayout.Kind.DATA), data.toString());
      if (round == killIn) {
        throw new Killed(round);
      }
      write(layout.dir(OutputLayout.Kind.FILTERED), filtered.toString());
      return new Done(round, added, round);
    }

    @Override
    public void finished(int round, Path dir, Done done, boolean wasResumed) {
      pool.addAll(done.added());
      if (wasResumed) {
        resumed.add(round);
      }
    }

    @Override
    public boolean wanted() {
      return pool.size() < target;
    }

    @Override
    public String progress() {
      return " (pool " + pool.size() + ")";
    }
  }

  static void write(String dir, String text) throws IOException {
    if (!text.isEmpty()) {
      Files.writeString(Path.of(dir, "part-00000.jsonl"), text, StandardCharsets.UTF_8);
    }
  }

  static RoundLoop<Done> loop(Path out, int last) {
    return RoundLoop.of("grow", "round", out, Done.class, last);
  }

  static final Map<String, PromptTemplate> TEMPLATES =
      Map.of("grow/task@1", new PromptTemplate("grow/task@1", "写一个任务：{{topic}}", "builtin"));

  static Map<String, Object> params(int seed) {
    Map<String, Object> m = new TreeMap<>();
    m.put("seed", seed);
    m.put("template", "写一个任务");
    return m;
  }

  /** Claims, runs and assembles one run; returns the console text. */
  static String run(RoundLoop<Done> loop, Grow grow, Path out) throws IOException {
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    PrintStream con = new PrintStream(console, true, StandardCharsets.UTF_8);
    OutputLayout layout = loop.claim(params(7), TEMPLATES, null, Map.of("seed", 7), "seed or template");
    // round 0 is the caller's: written afresh by every run, like Self-Instruct's bad seed lines
    OutputLayout round0 = loop.layout(0);
    round0.prepare();
    write(round0.dir(OutputLayout.Kind.REJECTS), "{\"reason\":\"invalid_json\",\"location\":\"seeds.jsonl:4\"}\n");
    RoundLoop.Outcome<Done> o = loop.run(grow, new RunReport("grow", "direct", Map.of(), List.of()), con);
    loop.assemble(layout, o.last(), (k, kind) -> true, 4);
    return console.toString(StandardCharsets.UTF_8);
  }

  /** Every final file of {@code out}, named, in order. */
  static String bytes(Path out) throws IOException {
    StringBuilder b = new StringBuilder();
    for (OutputLayout.Kind kind : OutputLayout.Kind.values()) {
      for (String f : new OutputLayout(out.toString()).shardFiles(kind)) {
        b.append(kind.dir()).append('/').append(Path.of(f).getFileName()).append('\n')
            .append(Files.readString(Path.of(f), StandardCharsets.UTF_8));
      }
    }
    return b.toString();
  }

  @Test
  void aKilledRunResumesAfterItsFinishedRoundsAndEndsWithTheSameBytes(@TempDir Path tmp) throws Exception {
    Path whole = tmp.resolve("whole");
    Grow uninterrupted = new Grow(15, 0);
    run(loop(whole, 9), uninterrupted, whole);
    assertEquals(List.of(1, 2, 3, 4, 5), uninterrupted.ran, "rounds until the pool holds 15 tasks");

    Path out = tmp.resolve("killed");
    Grow killed = new Grow(15, 3);
    assertThrows(Killed.class, () -> run(loop(out, 9), killed, out));
    assertTrue(Files.isRegularFile(out.resolve("rounds/round-0002/done.json")));
    assertTrue(Files.isRegularFile(out.resolve("rounds/round-0003/data/part-00000.jsonl")), "round 3 wrote half its files");
    assertFalse(Files.exists(out.resolve("rounds/round-0003/done.json")), "and did not finish");

    Grow again = new Grow(15, 0);
    String console = run(loop(out, 9), again, out);
    assertEquals(List.of(1, 2), again.resumed, "the finished rounds are taken back");
    assertEquals(List.of(3, 4, 5), again.ran, "and not run again");
    assertTrue(console.contains("grow: continuing after round 2 (pool 3)"), console);
    assertEquals(bytes(whole), bytes(out));
    assertTrue(bytes(out).contains("第4轮的任务 3"), bytes(out));
    assertEquals(Json.mapper().readTree(whole.resolve("rounds/round-0004/done.json").toFile()),
        Json.mapper().readTree(out.resolve("rounds/round-0004/done.json").toFile()));

    Grow finished = new Grow(15, 0);
    run(loop(out, 9), finished, out);
    assertEquals(List.of(), finished.ran, "a finished run runs nothing again");
    assertEquals(List.of(1, 2, 3, 4, 5), finished.resumed);
    assertEquals(bytes(whole), bytes(out));
  }

  @Test
  void stopAfterStopsThereAndALaterRunContinues(@TempDir Path tmp) throws Exception {
    Path whole = tmp.resolve("whole");
    run(loop(whole, 4), new Grow(100, 0), whole);

    Path out = tmp.resolve("stopped");
    Grow first = new Grow(100, 0);
    String console = run(loop(out, 4).withStopAfter(2), first, out);
    assertEquals(List.of(1, 2), first.ran);
    assertTrue(console.contains("grow: stopped after round 2 as asked; rerun to continue"), console);
    assertFalse(Files.exists(out.resolve("rounds/round-0003")), "nothing of round 3");
    // the output of a stopped run holds the rounds it finished
    assertEquals(2, new OutputLayout(out.toString()).countLines(OutputLayout.Kind.DATA), bytes(out));

    Grow second = new Grow(100, 0);
    run(loop(out, 4), second, out);
    assertEquals(List.of(1, 2), second.resumed);
    assertEquals(List.of(3, 4), second.ran, "up to the last round: the target is out of reach");
    assertEquals(bytes(whole), bytes(out));
  }

  @Test
  void aFolderClaimedWithOtherSettingsIsRefusedBeforeAnythingIsTouched(@TempDir Path tmp) throws Exception {
    Path out = tmp.resolve("out");
    run(loop(out, 3), new Grow(100, 0), out);
    String before = bytes(out);
    StageState.MismatchException e = assertThrows(StageState.MismatchException.class,
        () -> loop(out, 3).claim(params(8), TEMPLATES, null, Map.of("seed", 8), "seed or template"));
    assertTrue(e.getMessage().contains("holds rounds of a run with another configuration (seed or template)"),
        e.getMessage());
    assertTrue(e.getMessage().contains("use another --out, or delete " + out.resolve("rounds")), e.getMessage());
    assertEquals(before, bytes(out), "the earlier run's output is untouched");
    assertTrue(Files.isRegularFile(out.resolve("rounds/round-0003/done.json")));
    // another template text is another configuration too
    Map<String, PromptTemplate> edited =
        Map.of("grow/task@1", new PromptTemplate("grow/task@1", "写两个任务：{{topic}}", "/tmp/grow/task@1.txt"));
    assertThrows(StageState.MismatchException.class,
        () -> loop(out, 3).claim(params(7), edited, null, Map.of("seed", 7), "seed or template"));

    // the model's identity is named when it is what changed
    Path other = tmp.resolve("other");
    loop(other, 3).claim(params(7), TEMPLATES, "model-a", Map.of(), "seed or template");
    StageState.MismatchException m = assertThrows(StageState.MismatchException.class,
        () -> loop(other, 3).claim(params(7), TEMPLATES, "model-b", Map.of(), "seed or template"));
    assertTrue(m.getMessage().contains("it was model-a, now it is model-b"), m.getMessage());
    // the same settings claim again
    loop(other, 3).claim(params(7), TEMPLATES, "model-a", Map.of(), "seed or template");
  }

  /**
   * state.json keeps the format runs made before RoundLoop wrote, so they resume: the hash of one map
   * of the params, the templates' text hashes under {@code templates} and the model under {@code model};
   * the settings in words and the model beside it.
   */
  @Test
  void stateJsonHashesTheParamsTemplatesAndModelAsBefore(@TempDir Path tmp) throws Exception {
    Path out = tmp.resolve("out");
    loop(out, 3).claim(params(7), TEMPLATES, "model-a", Map.of("seed", 7), "seed or template");
    Map<String, Object> old = new TreeMap<>(params(7));
    old.put("templates", Map.of("grow/task@1", TEMPLATES.get("grow/task@1").hash()));
    old.put("model", "model-a");
    JsonNode state = Json.mapper().readTree(out.resolve("rounds/state.json").toFile());
    assertEquals(StageState.hash(old), state.path("configHash").asText());
    assertEquals(64, state.path("configHash").asText().length());
    assertEquals(7, state.path("settings").path("seed").asInt());
    assertEquals("model-a", state.path("model").asText());
  }

  @Test
  void assemblyIsInRoundOrderRoundZeroFirst(@TempDir Path tmp) throws Exception {
    Path out = tmp.resolve("out");
    RoundLoop<Done> loop = loop(out, 12);
    Grow grow = new Grow(1_000, 0);
    run(loop, grow, out);
    assertEquals(12, grow.ran.size());
    List<String> rejects = Files.readAllLines(out.resolve("rejects/part-00000.jsonl"));
    assertEquals(List.of("{\"reason\":\"invalid_json\",\"location\":\"seeds.jsonl:4\"}"), rejects, "round 0's rejects");
    List<Integer> rounds = new ArrayList<>();
    for (String kind : List.of("data", "filtered")) {
      List<String> lines = new ArrayList<>();
      for (String f : new OutputLayout(out.toString()).shardFiles(OutputLayout.Kind.valueOf(kind.toUpperCase()))) {
        lines.addAll(Files.readAllLines(Path.of(f)));
      }
      int last = 0;
      for (String l : lines) {
        String text = Json.mapper().readTree(l).path("instruction").asText();
        int round = Integer.parseInt(text.replaceAll("^(round |第)(\\d+).*$", "$2"));
        assertTrue(round >= last, kind + ": round " + round + " after round " + last);
        last = round;
        rounds.add(round);
      }
    }
    assertTrue(rounds.contains(10) && rounds.contains(12), "rounds past 9 sort after round 9");
    // 1 + 2 + ... + 12 records in all, four to a shard
    assertEquals(78, new OutputLayout(out.toString()).countLines(OutputLayout.Kind.DATA)
        + new OutputLayout(out.toString()).countLines(OutputLayout.Kind.FILTERED));
    assertEquals("part-00000.jsonl", Path.of(new OutputLayout(out.toString()).shardFiles(OutputLayout.Kind.DATA).get(0))
        .getFileName().toString());

    // a selection: only the even rounds' data
    OutputLayout even = new OutputLayout(tmp.resolve("even").toString());
    even.prepare();
    loop.assemble(even, 12, (k, kind) -> kind == OutputLayout.Kind.DATA && k % 2 == 0, 1_000);
    List<String> lines = Files.readAllLines(tmp.resolve("even/data/part-00000.jsonl"));
    assertTrue(lines.stream().allMatch(l -> l.contains("轮的任务")), lines.toString());
    assertTrue(lines.get(0).contains("第2轮") && lines.get(lines.size() - 1).contains("第12轮"), lines.toString());
    assertTrue(new OutputLayout(tmp.resolve("even").toString()).shardFiles(OutputLayout.Kind.REJECTS).isEmpty());
  }

  @Test
  void anInputRoundIsRunAndResumedLikeTheOthersAndNeverStopped(@TempDir Path tmp) throws Exception {
    Path out = tmp.resolve("out");
    RoundLoop<Done> loop = loop(out, 3).withInputRound().withStopAfter(1);
    loop.claim(params(7), TEMPLATES, null, Map.of(), "seed or template");
    List<Integer> ran = new ArrayList<>();
    List<Integer> resumed = new ArrayList<>();
    RoundLoop.Round<Done> input = new RoundLoop.Round<>() {
      @Override
      public Done run(int round, Path dir) throws IOException {
        ran.add(round);
        new OutputLayout(dir.toString()).prepare();
        write(dir.resolve("data").toString(), "{\"instruction\":\"第" + round + "轮\"}\n");
        return new Done(round, List.of(), 1);
      }

      @Override
      public void finished(int round, Path dir, Done done, boolean wasResumed) {
        if (wasResumed) {
          resumed.add(round);
        }
      }
    };
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    RunReport report = new RunReport("grow", "direct", Map.of(), List.of());
    RoundLoop.Outcome<Done> o = loop.run(input, report, new PrintStream(console, true, StandardCharsets.UTF_8));
    assertEquals(List.of(0, 1), ran, "round 0 reads the input; stop-after 1 stops before round 2");
    assertEquals(1, o.last());
    assertTrue(o.stopped());
    assertEquals(2, o.finished().size());
    assertTrue(Files.isRegularFile(out.resolve("rounds/round-0000/done.json")));

    ran.clear();
    o = loop(out, 3).withInputRound().run(input, report, new PrintStream(console, true, StandardCharsets.UTF_8));
    assertEquals(List.of(0, 1), resumed);
    assertEquals(List.of(2, 3), ran);
    assertEquals(3, o.last());
    assertFalse(o.stopped());
    assertTrue(console.toString(StandardCharsets.UTF_8).contains("grow: continuing after round 1\n"),
        console.toString(StandardCharsets.UTF_8));
  }
  /**
   * A round that is a Beam pipeline, as in the commands: {@link RoundLoop#write} stages its records in
   * key order whatever order they arrive in, and {@link RoundLoop#runPipeline} runs it and publishes the
   * round's folders, so the round's record can count what it wrote.
   */
  @Test
  void aRoundsBeamPipelineIsWrittenInKeyOrderAndPublished(@TempDir Path tmp) throws Exception {
    Path out = tmp.resolve("out");
    RoundLoop<Done> loop = loop(out, 2);
    OutputLayout layout = loop.claim(params(7), TEMPLATES, null, Map.of(), "seed or template");
    ByteArrayOutputStream console = new ByteArrayOutputStream();
    PrintStream con = new PrintStream(console, true, StandardCharsets.UTF_8);
    RoundLoop.Outcome<Done> o = loop.run(new RoundLoop.Round<>() {
      @Override
      public Done run(int round, Path dir) throws IOException {
        OutputLayout l = new OutputLayout(dir.toString());
        l.prepare();
        List<KV<OrderKey, String>> records = new ArrayList<>();
        for (int i = 3; i >= 1; i--) {
          records.add(KV.of(new OrderKey(round, i, 0),
              "第" + round + "轮 " + i));
        }
        Pipeline p = Pipeline.create();
        RoundLoop.write(p.apply("Records", Create.of(records).withCoder(KvCoder.of(OrderKey.Coder.of(),
            StringUtf8Coder.of()))), l, OutputLayout.Kind.DATA, "Data");
        RoundLoop.runPipeline(p, "round " + round, con, l);
        return new Done(round, List.of(), l.countLines(OutputLayout.Kind.DATA));
      }

      @Override
      public void finished(int round, Path dir, Done done, boolean wasResumed) {}
    }, new RunReport("grow", "direct", Map.of(), List.of()), con);
    assertEquals(List.of(3L, 3L), o.finished().stream().map(Done::records).toList());
    assertEquals(List.of("\"第1轮 1\"", "\"第1轮 2\"", "\"第1轮 3\""),
        Files.readAllLines(out.resolve("rounds/round-0001/data/part-00000.jsonl")));
    assertFalse(Files.exists(out.resolve("rounds/round-0001/.staging/data")), "published: nothing left staged");
    // shards of at most 4 lines: a round's records stay together, so each round makes a shard here
    loop.assemble(layout, o.last(), (k, kind) -> true, 4);
    assertEquals(List.of("\"第1轮 1\"", "\"第1轮 2\"", "\"第1轮 3\""),
        Files.readAllLines(out.resolve("data/part-00000.jsonl")));
    assertEquals(List.of("\"第2轮 1\"", "\"第2轮 2\"", "\"第2轮 3\""),
        Files.readAllLines(out.resolve("data/part-00001.jsonl")));
  }
}
