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

  private static String location(Path out) throws Exception {
    List<String> lines = TestFiles.lines(new OutputLayout(out.toString()), OutputLayout.Kind.DATA);
    assertEquals(1, lines.size());
    return Json.mapper().readTree(lines.get(0)).path("provenance").path("origin").path("location").asText();
  }
}
