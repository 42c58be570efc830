package io.instructflow.filters.rouge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The three implementations of the greedy rule agree exactly, on random and on real data. */
class GreedyRougeFilterTest {
  static void assertSame(List<List<String>> texts, double t, String what) {
    GreedyRougeFilter.Result ref = GreedyRougeFilter.bruteForce(texts, t);
    GreedyRougeFilter.Result seq = GreedyRougeFilter.sequential(texts, t);
    GreedyRougeFilter.Result comp = GreedyRougeFilter.viaComponents(texts, t, 2);
    assertEquals(ref.decisions(), seq.decisions(), "sequential vs brute force: " + what);
    assertEquals(ref.decisions(), comp.decisions(), "components vs brute force: " + what);
  }

  /** Random texts from a small vocabulary with many near copies (word edits of earlier texts). */
  static List<List<String>> randomTexts(Random r, int n) {
    List<List<String>> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      List<String> t;
      if (!out.isEmpty() && r.nextInt(3) > 0) {
        t = new ArrayList<>(out.get(r.nextInt(out.size())));
        int edits = r.nextInt(4);
        for (int e = 0; e < edits; e++) {
          int op = r.nextInt(3);
          if (op == 0 || t.isEmpty()) {
            t.add(t.isEmpty() ? 0 : r.nextInt(t.size() + 1), "w" + r.nextInt(30));
          } else if (op == 1) {
            t.remove(r.nextInt(t.size()));
          } else {
            t.set(r.nextInt(t.size()), "w" + r.nextInt(30));
          }
        }
      } else {
        t = new ArrayList<>();
        int len = r.nextInt(10) == 0 ? 0 : 1 + r.nextInt(r.nextInt(5) == 0 ? 90 : 20);
        for (int k = 0; k < len; k++) {
          t.add("w" + r.nextInt(30));
        }
      }
      out.add(t);
    }
    return out;
  }

  @Test
  void randomTextsAtSeveralThresholds() {
    for (long seed = 1; seed <= 12; seed++) {
      Random r = new Random(seed);
      List<List<String>> texts = randomTexts(r, 400);
      for (double t : new double[] {0.5, 0.7, 0.9}) {
        assertSame(texts, t, "seed " + seed + " t=" + t);
      }
    }
  }

  @Test
  void tiesAtExactlyTheThresholdFollowTheFloats() {
    List<String> earlier12 = words("a b c d e f g x1 x2 x3 x4 x5");
    List<String> cand8 = words("a b c d e f g y1");
    List<String> ten = words("p q r s t u v m1 m2 m3");
    List<String> ten2 = words("p q r s t u v n1 n2 n3");
    List<List<String>> texts = List.of(earlier12, cand8, ten, ten2, List.of(), List.of());
    GreedyRougeFilter.Result r = GreedyRougeFilter.sequential(texts, 0.7);
    assertEquals(List.of(0, 2, 3, 4, 5), r.kept(), "8 vs 12 (F=0.7000000000000001) dropped; 10 vs 10 (F=0.7) kept; empty texts kept");
    assertEquals(new GreedyRougeFilter.Decision(false, 0, 0.7000000000000001), r.decisions().get(1));
    assertSame(texts, 0.7, "ties");
  }

  @Test
  void droppedTextsNameTheirBestKeptMatch() {
    List<List<String>> texts = List.of(
        words("write a short poem about the sea"),
        words("write a short poem about the moon"),
        words("write a short poem about the sea today"));
    GreedyRougeFilter.Result r = GreedyRougeFilter.sequential(texts, 0.7);
    assertEquals(List.of(0), r.kept());
    assertEquals(0, r.decisions().get(2).matched(), "the closer kept text, not the dropped one");
    assertSame(texts, 0.7, "best match");
  }

  @Test
  void realInstructionsAgreeWithTheReference() throws Exception {
    Path shared = Paths.get(System.getProperty("instructflow.shared", "../../shared"), "data");
    Path seeds = shared.resolve("seed/self-instruct_seed_tasks.jsonl");
    Path codegen = shared.resolve("corpora/gpteacher/codegen-instruct.json");
    assumeTrue(Files.exists(seeds) && Files.exists(codegen), "shared data not present");
    ObjectMapper om = new ObjectMapper();
    Tokenizer tok = new RougeTokenizer(false);
    List<List<String>> texts = new ArrayList<>();
    try (BufferedReader in = Files.newBufferedReader(seeds, StandardCharsets.UTF_8)) {
      String line;
      while ((line = in.readLine()) != null) {
        texts.add(tok.tokens(om.readTree(line).path("instruction").asText()));
      }
    }
    JsonNode arr = om.readTree(codegen.toFile());
    for (int i = 0; i < 1500; i++) {
      texts.add(tok.tokens(arr.get(i).path("instruction").asText()));
    }
    GreedyRougeFilter.Result ref = GreedyRougeFilter.bruteForce(texts, 0.7);
    assertTrue(ref.kept().size() < texts.size(), "the code set has near duplicates");
    assertSame(texts, 0.7, "seeds + GPTeacher codegen");
    GreedyRougeFilter.Result seq = GreedyRougeFilter.sequential(texts, 0.7);
    assertTrue(seq.stats().verifications() * 10 < ref.stats().verifications(),
        "index prunes most LCS work: " + seq.stats() + " vs " + ref.stats());
  }

  private static List<String> words(String s) {
    return List.of(s.split(" "));
  }
}
