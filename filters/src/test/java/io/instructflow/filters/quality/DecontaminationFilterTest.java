package io.instructflow.filters.quality;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Verdict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Decontamination: each rule with its evidence, and recall / false positives on the shared benchmarks. */
class DecontaminationFilterTest {
  static final Provenance P = new Provenance(new Origin("t", "unknown", "t.jsonl:1", null, "alpaca", null), List.of());

  static Example rec(String instruction, String input, String output) {
    return Example.single(instruction, input, output, Map.of(), P);
  }

  static String reason(DecontaminationFilter f, Example e) {
    Verdict v = f.test(e);
    return v instanceof Verdict.Dropped d ? d.reason() : "kept";
  }

  @Test
  void eachRuleNamesTheBenchmarkAndItem(@TempDir Path dir) throws Exception {
    Path bench = dir.resolve("bench.jsonl");
    Files.writeString(bench, String.join("\n",
        "{\"question_id\": 7, \"category\": \"reasoning\", \"turns\": [\"A train leaves the station at noon travelling at sixty "
            + "miles per hour toward a city two hundred miles away; when does it arrive?\", \"Now do it for ninety miles per hour please.\"]}",
        "{\"id\": \"short_1\", \"prompt\": \"Name the largest planet of our solar system.\"}",
        "{\"id\": \"zh_1\", \"prompt\": \"请用三句话介绍长城的历史和它在中国文化中的意义。\"}",
        "{\"id\": \"tiny\", \"prompt\": \"Say hello to everyone.\"}") + "\n");
    DecontaminationFilter f = DecontaminationFilter.of(List.of(bench.toString()));
    Verdict.Dropped verbatim = (Verdict.Dropped) f.test(rec("Solve this: A train leaves the station at noon travelling at sixty "
        + "miles per hour toward a city two hundred miles away; when does it arrive?", null, "At 3:20 pm."));
    assertEquals(DecontaminationFilter.NGRAM, verbatim.reason());
    assertEquals("bench.jsonl", verbatim.details().get("benchmark"));
    assertEquals("question_id 7", verbatim.details().get("item"));
    assertEquals(13, ((String) verbatim.details().get("ngram")).split(" ").length);
    assertEquals(DecontaminationFilter.NGRAM, reason(f, rec("Quiz", "Name the largest planet of our solar system.", "Jupiter")),
        "an item shorter than 13 tokens matches whole");
    assertEquals(DecontaminationFilter.NGRAM, reason(f, rec("请用三句话介绍长城的历史和它在中国文化中的意义。", null, "好")),
        "CJK characters are tokens");
    Verdict.Dropped edited = (Verdict.Dropped) f.test(rec("A train departs the station at noon travelling at sixty miles per "
        + "hour toward a town two hundred miles away; when does it arrive?", null, "3:20"));
    assertEquals(DecontaminationFilter.ROUGE, edited.reason(), "lightly edited: no 13-gram survives, ROUGE-L does");
    assertTrue((double) edited.details().get("score") >= 0.8);
    assertEquals("kept", reason(f, rec("Please say hello to everyone in the room today.", null, "Hello!")),
        "4 tokens: too short to match inside a longer text");
    assertEquals(DecontaminationFilter.ROUGE, reason(f, rec("Say hello to everyone.", null, "Hello!")), "a copy is a copy");
    assertEquals("kept", reason(f, rec("Which planet is the largest one?", null, "Jupiter.")));
    assertEquals("kept", reason(f, rec("Describe a train journey across Europe in summer.", null, "...")));
    assertThrows(IllegalArgumentException.class, () -> DecontaminationFilter.of(List.of(dir.resolve("none.jsonl").toString())));
  }

  @Test
  void theBenchmarkTextsTravelWithTheFilterSoExecutorsNeedNoFiles(@TempDir Path dir) throws Exception {
    Path bench = dir.resolve("mt.jsonl");
    Files.writeString(bench, "{\"question_id\": 81, \"turns\": [\"Compose an engaging travel blog post about a recent trip "
        + "to Hawaii, highlighting cultural experiences and must-see attractions.\"]}\n");
    DecontaminationFilter f = DecontaminationFilter.of(List.of(bench.toString()));
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    try (java.io.ObjectOutputStream out = new java.io.ObjectOutputStream(bytes)) {
      out.writeObject(f);
    }
    Files.delete(bench);
    DecontaminationFilter shipped;
    try (java.io.ObjectInputStream in = new java.io.ObjectInputStream(new java.io.ByteArrayInputStream(bytes.toByteArray()))) {
      shipped = (DecontaminationFilter) in.readObject();
    }
    Verdict.Dropped d = (Verdict.Dropped) shipped.test(rec("Compose an engaging travel blog post about a recent trip to Hawaii, "
        + "highlighting cultural experiences and must-see attractions.", null, "Aloha!"));
    assertEquals("mt.jsonl", d.details().get("benchmark"));
    assertEquals("question_id 81", d.details().get("item"));
    int built = DecontaminationFilter.indexesBuilt();
    assertEquals(DecontaminationFilter.NGRAM, reason(f, rec("Compose an engaging travel blog post about a recent trip to Hawaii, "
        + "highlighting cultural experiences and must-see attractions.", null, "Aloha!")));
    assertEquals(built, DecontaminationFilter.indexesBuilt(), "the original and the shipped copy share one index");
    assertEquals(f.corpus().sha256(), shipped.corpus().sha256());
    assertTrue(f.toString().contains("1 texts"), f.toString());
  }

  /**
   * Items of every shared benchmark file injected verbatim and lightly edited (one word in eight replaced)
   * into instructions, among 2,000 clean Dolly records: recall and false positives.
   */
  @Test
  void recallAndFalsePositivesOnTheSharedBenchmarks() throws Exception {
    Path eval = Paths.get(System.getProperty("instructflow.shared", "../../shared")).resolve("data/eval");
    Path dolly = eval.resolveSibling("corpora/alpagasus/dolly_3k.json");
    assumeTrue(Files.isDirectory(eval) && Files.isRegularFile(dolly), "no shared data");
    List<String> files = new ArrayList<>();
    List<String> items = new ArrayList<>();
    for (String name : List.of("mt_bench_question.jsonl", "vicuna_bench_question.jsonl", "koala_test_set.jsonl",
        "lima_test_set.jsonl", "wizardlm_testset.jsonl", "self-instruct_user_oriented_instructions.jsonl")) {
      Path p = eval.resolve(name);
      files.add(p.toString());
      int k = 0;
      for (List<String> texts : DecontaminationFilter.items(p).values()) {
        // texts under 5 tokens ("Solve this equation.") only match as a whole prompt, not inside a longer one
        if (!texts.isEmpty() && k++ % 4 == 0 && texts.get(0).split("\\s+").length >= 5) {
          items.add(texts.get(0));
        }
      }
    }
    DecontaminationFilter f = DecontaminationFilter.of(files);
    Random r = new Random(7);
    int caughtVerbatim = 0;
    int caughtEdited = 0;
    for (String item : items) {
      boolean hit = f.test(rec("Please help with the following. " + item, null, "ok")) instanceof Verdict.Dropped;
      caughtVerbatim += hit ? 1 : 0;
      if (!hit) {
        System.out.println("MISSED " + item.replace('\n', ' ').substring(0, Math.min(120, item.length())));
      }
      String[] w = item.split(" ");
      for (int i = r.nextInt(8); i < w.length; i += 8) {
        w[i] = "zzz";
      }
      caughtEdited += f.test(rec(String.join(" ", w), null, "ok")) instanceof Verdict.Dropped ? 1 : 0;
    }
    int falsePositives = 0;
    int clean = 0;
    for (JsonNode n : Json.mapper().readTree(dolly.toFile())) {
      if (clean++ == 2000) {
        break;
      }
      Verdict v = f.test(rec(n.path("instruction").asText(), n.path("input").asText(), n.path("output").asText()));
      if (v instanceof Verdict.Dropped d) {
        falsePositives++;
        System.out.println("FLAGGED " + n.path("instruction").asText() + " " + d.details());
      }
    }
    System.out.printf("decontamination: %d items; verbatim caught %d, edited caught %d; false positives %d of 2000%n",
        items.size(), caughtVerbatim, caughtEdited, falsePositives);
    assertEquals(items.size(), caughtVerbatim, "every verbatim item is caught");
    assertTrue(caughtEdited >= items.size() * 0.9, "edited: " + caughtEdited + " of " + items.size());
    assertTrue(falsePositives <= 4, "false positives: " + falsePositives);
  }
}
