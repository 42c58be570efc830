package io.instructflow.pipelines.dedup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.rouge.DedupText;
import io.instructflow.filters.rouge.GreedyRougeFilter;
import io.instructflow.filters.rouge.RougeTokenizer;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Schemas;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The dedup command end to end: the reference rule's kept set, explained drops, both runners. */
class DedupPipelineTest {
  static final Runner DIRECT = new Runner("direct", null);

  static RunSummary dedup(Path in, Path out, String tokenizer, String orderBy, String strategy, Runner runner) throws Exception {
    return DedupPipeline.run(new DedupPipeline.Config(ReadOptions.of(in.toString()), out.toString(), 0.7,
        DedupText.INSTRUCTION, tokenizer, false, orderBy, strategy, 7, runner),
        new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
  }

  /** A file of instructions with many near duplicates (seeded word edits). */
  static List<String> writeInstructions(Path file, long seed, int n) throws Exception {
    Random r = new Random(seed);
    String[] words = "write explain list summarize the a of in poem story recipe city river data model code test plan short long".split(" ");
    List<String> texts = new ArrayList<>();
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < n; i++) {
      String t;
      if (!texts.isEmpty() && r.nextBoolean()) {
        List<String> w = new ArrayList<>(List.of(texts.get(r.nextInt(texts.size())).split(" ")));
        w.set(r.nextInt(w.size()), words[r.nextInt(words.length)]);
        t = String.join(" ", w);
      } else {
        StringBuilder s = new StringBuilder();
        for (int k = 0, len = 3 + r.nextInt(10); k < len; k++) {
          s.append(k == 0 ? "" : " ").append(words[r.nextInt(words.length)]);
        }
        t = s.toString();
      }
      texts.add(t);
      sb.append(Json.line(Map.of("instruction", t, "output", "answer " + i, "priority", n - i))).append('\n');
    }
    Files.writeString(file, sb.toString());
    return texts;
  }

  @Test
  void keptSetIsTheReferenceAndEveryDropNamesItsMatch(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("inst.jsonl");
    List<String> texts = writeInstructions(in, 7, 120);
    RunSummary s = dedup(in, tmp.resolve("out"), "rouge", null, "sequential", DIRECT);
    RougeTokenizer tok = new RougeTokenizer(false);
    List<List<String>> tokens = new ArrayList<>();
    texts.forEach(t -> tokens.add(tok.tokens(t)));
    GreedyRougeFilter.Result ref = GreedyRougeFilter.bruteForce(tokens, 0.7);

    OutputLayout out = new OutputLayout(tmp.resolve("out").toString());
    List<String> kept = new ArrayList<>();
    Map<String, String> idByLocation = new HashMap<>();
    for (String line : TestFiles.lines(out, OutputLayout.Kind.DATA)) {
      JsonNode n = Json.mapper().readTree(line);
      String loc = n.path("provenance").path("origin").path("location").asText();
      kept.add(loc);
      idByLocation.put(loc, n.path("id").asText());
      JsonNode step = n.path("provenance").path("steps").get(1);
      assertEquals("dedup.rouge_l", step.path("name").asText());
      assertEquals("kept", step.path("verdict").path("outcome").asText());
    }
    List<String> want = new ArrayList<>();
    for (int i : ref.kept()) {
      want.add("inst.jsonl:" + (i + 1));
    }
    assertEquals(want, kept);
    assertTrue(ref.kept().size() < texts.size() / 2 + 40, "the data has duplicates to drop");

    int dropped = 0;
    for (String line : TestFiles.lines(out, OutputLayout.Kind.FILTERED)) {
      JsonNode n = Json.mapper().readTree(line);
      assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, n), line);
      int j = Integer.parseInt(n.path("provenance").path("origin").path("location").asText().split(":")[1]) - 1;
      GreedyRougeFilter.Decision d = ref.decisions().get(j);
      JsonNode v = n.path("provenance").path("steps").get(1).path("verdict");
      assertEquals("rouge_l.near_duplicate", v.path("reason").asText());
      String matchedLoc = "inst.jsonl:" + (d.matched() + 1);
      assertEquals(matchedLoc, v.path("details").path("matched_location").asText());
      assertEquals(idByLocation.get(matchedLoc), v.path("details").path("matched_id").asText());
      assertEquals(d.score(), v.path("details").path("score").asDouble());
      dropped++;
    }
    assertEquals(texts.size() - ref.kept().size(), dropped);
    assertEquals(new RunSummary.Counts(120, ref.kept().size(), dropped, 0), s.counts());
    assertEquals(Map.of("dedup.rouge_l", Map.of("rouge_l.near_duplicate", (long) dropped)), s.filtered());
  }

  @Test
  void strategiesAndRunnersWriteTheSameBytes(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("inst.jsonl");
    writeInstructions(in, 11, 90);
    dedup(in, tmp.resolve("seq"), "rouge", null, "sequential", DIRECT);
    dedup(in, tmp.resolve("comp"), "rouge", null, "components", DIRECT);
    dedup(in, tmp.resolve("spark"), "rouge", null, "sequential", new Runner("spark", "local[2]"));
    for (OutputLayout.Kind k : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.FILTERED)) {
      String seq = TestFiles.fingerprint(new OutputLayout(tmp.resolve("seq").toString()), k);
      assertEquals(seq, TestFiles.fingerprint(new OutputLayout(tmp.resolve("spark").toString()), k), "spark " + k);
      // the strategy is a parameter of the step, so compare without it
      assertEquals(seq, TestFiles.fingerprint(new OutputLayout(tmp.resolve("comp").toString()), k)
          .replace("\"strategy\":\"components\",", "\"strategy\":\"sequential\","), "components " + k);
    }
  }

  @Test
  void orderByDecidesWhichCopySurvives(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("two.jsonl");
    Files.writeString(in, "{\"instruction\": \"write a short poem about the sea\", \"priority\": 2}\n"
        + "{\"instruction\": \"write a short poem about the sea today\", \"priority\": 1}\n");
    dedup(in, tmp.resolve("input-order"), "rouge", null, "sequential", DIRECT);
    dedup(in, tmp.resolve("by-priority"), "rouge", "metadata.priority", "sequential", DIRECT);
    assertEquals("two.jsonl:1", location(tmp.resolve("input-order")));
    assertEquals("two.jsonl:2", location(tmp.resolve("by-priority")));
    // the components strategy sorts into the same order before it searches pairs
    dedup(in, tmp.resolve("comp-input-order"), "rouge", null, "components", DIRECT);
    dedup(in, tmp.resolve("comp-by-priority"), "rouge", "metadata.priority", "components", DIRECT);
    assertEquals("two.jsonl:1", location(tmp.resolve("comp-input-order")));
    assertEquals("two.jsonl:2", location(tmp.resolve("comp-by-priority")));
  }

  @Test
  void chineseNeedsTheUnicodeTokenizer(@TempDir Path tmp) throws Exception {
    Path in = tmp.resolve("zh.jsonl");
    Files.writeString(in, "{\"instruction\": \"用中文写一首关于春天的短诗\"}\n{\"instruction\": \"用中文写一首关于春天的诗\"}\n"
        + "{\"instruction\": \"解释一下什么是机器学习\"}\n");
    assertEquals(0, dedup(in, tmp.resolve("rouge"), "rouge", null, "sequential", DIRECT).counts().filtered(),
        "rouge_score's tokenizer sees no tokens in Chinese text");
    RunSummary u = dedup(in, tmp.resolve("unicode"), "unicode", null, "sequential", DIRECT);
    assertEquals(1, u.counts().filtered());
    assertEquals(2, u.counts().kept());
  }

  /**
   * Texts of 8, 10 and 12 words over a small vocabulary, many of them edits of earlier ones, so that
   * F lands exactly on 0.7 (10 vs 10 with LCS 7: kept) and on 0.7000000000000001 (8 vs 12 with LCS 7:
   * dropped) as well as around it; chains of edits make components of several records.
   */
  static List<String> tieTexts(long seed, int n) {
    Random r = new Random(seed);
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      List<String> w;
      if (!out.isEmpty() && r.nextInt(4) != 0) {
        w = new ArrayList<>(List.of(out.get(r.nextInt(out.size())).split(" ")));
        switch (r.nextInt(3)) {
          case 0 -> {
            // 10 vs 10: replace 3 words
            while (w.size() < 10) {
              w.add("x" + r.nextInt(40));
            }
            while (w.size() > 10) {
              w.remove(r.nextInt(w.size()));
            }
            for (int k = 0; k < 3; k++) {
              w.set(r.nextInt(10), "y" + r.nextInt(1000));
            }
          }
          case 1 -> {
            // 12 → 8 (or 8 → 12): keep 7 words in order, add one new word
            if (w.size() >= 12) {
              while (w.size() > 7) {
                w.remove(r.nextInt(w.size()));
              }
              w.add(r.nextInt(8), "z" + r.nextInt(1000));
            } else {
              while (w.size() < 12) {
                w.add(r.nextInt(w.size() + 1), "z" + r.nextInt(1000));
              }
            }
          }
          default -> w.set(r.nextInt(w.size()), "x" + r.nextInt(40));
        }
      } else {
        w = new ArrayList<>();
        int len = List.of(8, 10, 12).get(r.nextInt(3));
        for (int k = 0; k < len; k++) {
          w.add("x" + r.nextInt(40));
        }
      }
      out.add(String.join(" ", w));
    }
    return out;
  }

  /** The components strategy's decisions are the brute-force reference's, ties at exactly t included. */
  @Test
  void componentsEqualTheReferenceWithTiesAtTheThreshold(@TempDir Path tmp) throws Exception {
    List<String> texts = tieTexts(29, 400);
    StringBuilder b = new StringBuilder();
    texts.forEach(t -> b.append(Json.line(Map.of("instruction", t))).append('\n'));
    Path in = tmp.resolve("ties.jsonl");
    Files.writeString(in, b.toString());
    RougeTokenizer tok = new RougeTokenizer(false);
    List<List<String>> tokens = new ArrayList<>();
    texts.forEach(t -> tokens.add(tok.tokens(t)));
    GreedyRougeFilter.Result ref = GreedyRougeFilter.bruteForce(tokens, 0.7);
    // the data reaches the boundary both ways: some pair scores exactly 0.7, some 0.7000000000000001
    Map<String, Integer> vocab = new HashMap<>();
    List<int[]> ids = new ArrayList<>();
    for (List<String> t : tokens) {
      ids.add(t.stream().mapToInt(w -> vocab.computeIfAbsent(w, k -> vocab.size())).toArray());
    }
    int atT = 0;
    int justAbove = 0;
    for (int j = 0; j < ids.size(); j++) {
      for (int i = 0; i < j; i++) {
        double f = io.instructflow.filters.rouge.RougeL.fmeasure(ids.get(j), ids.get(i));
        atT += f == 0.7 ? 1 : 0;
        justAbove += f == 0.7000000000000001 ? 1 : 0;
      }
    }
    assertTrue(atT > 5 && justAbove > 5, atT + " pairs at 0.7, " + justAbove + " just above");
    assertTrue(ref.kept().size() < texts.size() * 3 / 4 && ref.kept().size() > texts.size() / 10, "kept " + ref.kept().size());
    RunSummary s = dedup(in, tmp.resolve("comp"), "rouge", null, "components", DIRECT);
    assertEquals(ref.kept().size(), s.counts().kept());
    Map<String, String> idByLocation = new HashMap<>();
    List<String> kept = new ArrayList<>();
    for (String line : TestFiles.lines(new OutputLayout(tmp.resolve("comp").toString()), OutputLayout.Kind.DATA)) {
      JsonNode n = Json.mapper().readTree(line);
      String loc = n.path("provenance").path("origin").path("location").asText();
      kept.add(loc);
      idByLocation.put(loc, n.path("id").asText());
    }
    List<String> want = new ArrayList<>();
    ref.kept().forEach(i -> want.add("ties.jsonl:" + (i + 1)));
    assertEquals(want, kept);
    for (String line : TestFiles.lines(new OutputLayout(tmp.resolve("comp").toString()), OutputLayout.Kind.FILTERED)) {
      JsonNode n = Json.mapper().readTree(line);
      int j = Integer.parseInt(n.path("provenance").path("origin").path("location").asText().split(":")[1]) - 1;
      GreedyRougeFilter.Decision d = ref.decisions().get(j);
      JsonNode v = n.path("provenance").path("steps").get(1).path("verdict").path("details");
      assertEquals("ties.jsonl:" + (d.matched() + 1), v.path("matched_location").asText());
      assertEquals(idByLocation.get("ties.jsonl:" + (d.matched() + 1)), v.path("matched_id").asText());
      assertEquals(d.score(), v.path("score").asDouble());
    }
    // and it writes the sequential strategy's bytes
    dedup(in, tmp.resolve("seq"), "rouge", null, "sequential", DIRECT);
    for (OutputLayout.Kind k : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.FILTERED)) {
      assertEquals(TestFiles.fingerprint(new OutputLayout(tmp.resolve("seq").toString()), k),
          TestFiles.fingerprint(new OutputLayout(tmp.resolve("comp").toString()), k)
              .replace("\"strategy\":\"components\",", "\"strategy\":\"sequential\","), k.toString());
    }
  }

  /**
   * On real instructions (GPTeacher's 4,535 codegen instructions and 1,000 T0 prompts, which repeat
   * templates over shared passages) the components strategy writes the sequential strategy's bytes.
   */
  @Test
  void componentsEqualSequentialOnSharedData(@TempDir Path tmp) throws Exception {
    Path gpt = TestFiles.sharedData().resolve("corpora/gpteacher/codegen-instruct.json");
    Path t0 = TestFiles.sharedData().resolve("corpora/t0_train_50k");
    org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(gpt) && Files.isDirectory(t0), "no shared data");
    StringBuilder b = new StringBuilder();
    for (JsonNode n : Json.mapper().readTree(gpt.toFile())) {
      b.append(Json.line(Map.of("instruction", n.path("instruction").asText()))).append('\n');
    }
    List<Path> files;
    try (java.util.stream.Stream<Path> st = Files.list(t0)) {
      files = st.sorted().limit(12).toList();
    }
    int t0Count = 0;
    for (Path f : files) {
      for (String l : Files.readAllLines(f)) {
        if (t0Count++ < 1000) {
          b.append(Json.line(Map.of("instruction", Json.mapper().readTree(l).path("prompt").asText()))).append('\n');
        }
      }
    }
    Path in = tmp.resolve("real.jsonl");
    Files.writeString(in, b.toString());
    long t = System.nanoTime();
    RunSummary seq = dedup(in, tmp.resolve("seq"), "rouge", null, "sequential", DIRECT);
    long t1 = System.nanoTime();
    // on Spark: the DirectRunner makes a bundle of every key of every GroupByKey, which the component rounds multiply
    RunSummary comp = dedup(in, tmp.resolve("comp"), "rouge", null, "components", new Runner("spark", "local[2]"));
    System.out.printf("shared data: sequential %.1f s, components %.1f s, %s, %s%n", (t1 - t) / 1e9, (System.nanoTime() - t1) / 1e9,
        comp.counts(), comp.notes());
    assertTrue(seq.counts().filtered() > 20, "the data has near duplicates: " + seq.counts());
    assertEquals(seq.counts(), comp.counts());
    for (OutputLayout.Kind k : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.FILTERED)) {
      assertEquals(TestFiles.fingerprint(new OutputLayout(tmp.resolve("seq").toString()), k),
          TestFiles.fingerprint(new OutputLayout(tmp.resolve("comp").toString()), k)
              .replace("\"strategy\":\"components\",", "\"strategy\":\"sequential\","), k.toString());
    }
  }

  /**
   * The acceptance run, outside the suite: all 55,185 T0 prompts, both strategies, the same
   * kept set ({@code -Dinstructflow.t0=true}).
   */
  @Test
  void componentsEqualSequentialOnAllOfT0(@TempDir Path tmp) throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(Boolean.getBoolean("instructflow.t0"), "run with -Dinstructflow.t0=true");
    Path t0 = TestFiles.sharedData().resolve("corpora/t0_train_50k");
    ReadOptions read = ReadOptions.of(t0.toString());
    PrintStream quiet = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    Runner spark = new Runner("spark", "local[2]");
    long t = System.nanoTime();
    DedupPipeline.run(new DedupPipeline.Config(read, tmp.resolve("seq").toString(), 0.7, DedupText.INSTRUCTION, "rouge", false,
        null, "sequential", 100_000, spark), quiet);
    long seqNanos = System.nanoTime() - t;
    t = System.nanoTime();
    RunSummary comp = DedupPipeline.run(new DedupPipeline.Config(read, tmp.resolve("comp").toString(), 0.7, DedupText.INSTRUCTION,
        "rouge", false, null, "components", 100_000, spark), quiet);
    long compNanos = System.nanoTime() - t;
    System.out.printf("T0 acceptance: sequential %.1f s, components %.1f s, %s%n", seqNanos / 1e9, compNanos / 1e9, comp.counts());
    for (OutputLayout.Kind k : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.FILTERED)) {
      assertEquals(TestFiles.fingerprint(new OutputLayout(tmp.resolve("seq").toString()), k),
          TestFiles.fingerprint(new OutputLayout(tmp.resolve("comp").toString()), k)
              .replace("\"strategy\":\"components\",", "\"strategy\":\"sequential\","), k.toString());
    }
  }

  @Test
  void componentMembersRoundTrip() throws Exception {
    for (FindRougeComponents.Member m : List.of(
        new FindRougeComponents.Member(7, new io.instructflow.pipelines.io.OrderKey(1, 12, 0), "id-7", "a.jsonl:12",
            new int[] {0, 3}, new double[] {0.7000000000000001, 1.0}),
        new FindRougeComponents.Member(0, new io.instructflow.pipelines.io.OrderKey(0, 1, 2), "写", null, new int[0], new double[0]))) {
      byte[] once = org.apache.beam.sdk.util.CoderUtils.encodeToByteArray(FindRougeComponents.MemberCoder.INSTANCE, m);
      FindRougeComponents.Member back = org.apache.beam.sdk.util.CoderUtils.decodeFromByteArray(
          FindRougeComponents.MemberCoder.INSTANCE, once);
      assertEquals(m.key(), back.key());
      assertEquals(m.location(), back.location());
      assertEquals(java.util.Arrays.toString(m.scores()), java.util.Arrays.toString(back.scores()));
      assertEquals(java.util.Arrays.toString(m.earlier()), java.util.Arrays.toString(back.earlier()));
      assertEquals(java.util.Arrays.toString(once), java.util.Arrays.toString(
          org.apache.beam.sdk.util.CoderUtils.encodeToByteArray(FindRougeComponents.MemberCoder.INSTANCE, back)));
    }
  }

  private static String location(Path out) throws Exception {
    List<String> lines = TestFiles.lines(new OutputLayout(out.toString()), OutputLayout.Kind.DATA);
    assertEquals(1, lines.size());
    return Json.mapper().readTree(lines.get(0)).path("provenance").path("origin").path("location").asText();
  }
}
