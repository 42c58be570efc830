package io.instructflow.generators.selfinstruct;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Seed files: the published one, and each kind of bad line. */
class SeedTasksTest {
  @Test
  void readsTheSelfInstructSeeds() throws Exception {
    Path p = Paths.get(System.getProperty("instructflow.shared", "../../shared"))
        .resolve("data/seed/self-instruct_seed_tasks.jsonl");
    assumeTrue(Files.isRegularFile(p), "no seed file");
    SeedTasks.Result r = SeedTasks.read(p);
    assertEquals(175, r.tasks().size());
    assertEquals(0, r.problems().size());
    assertEquals("seed_task_0", r.tasks().get(0).rowId());
    long clf = r.tasks().stream().filter(SeedTask::classification).count();
    assertEquals(175 - clf, r.tasks().stream().filter(t -> !t.classification()).count());
    assertEquals(true, clf > 12, "enough classification seeds for the few-shot check: " + clf);
    assertEquals(0, r.unlabeled(), "every published seed says whether it is a classification task");
    // issue 19: the Alpaca and Self-Instruct prompts normalize the example instructions as the references do
    // (whitespace collapsed, stripped, trailing colons dropped); that changes 7 of the 175 published seeds
    List<String> changed = r.tasks().stream().map(SeedTask::instruction)
        .filter(i -> !SelfInstruct.promptInstruction(i).equals(i)).toList();
    assertEquals(7, changed.size(), changed.toString());
    assertEquals(true, changed.contains("Summarize this email into a single sentence:"), changed.toString());
  }

  @Test
  void countsTasksWithoutAClassificationLabel(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("seeds.jsonl");
    Files.writeString(f, String.join("\n", List.of(
        "{\"instruction\": \"Name three colours.\", \"output\": \"red\"}",
        "{\"instruction\": \"Is it spam?\", \"output\": \"yes\", \"is_classification\": true}",
        "{\"instruction\": \"Write a poem.\", \"output\": \"...\", \"is_classification\": null}")) + "\n");
    SeedTasks.Result r = SeedTasks.read(f);
    assertEquals(3, r.tasks().size());
    assertEquals(2, r.unlabeled());
  }

  @Test
  void badLinesAreProblemsWithTheirLocation(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("seeds.jsonl");
    Files.writeString(f, String.join("\n", List.of(
        "{\"instruction\": \"Name three colours.\", \"instances\": [{\"input\": \"\", \"output\": \"red\"}]}",
        "{\"instruction\": \"写一首诗。\", \"output\": \"春眠不觉晓\"}",
        "",
        "{not json",
        "[1, 2]",
        "{\"input\": \"x\"}",
        "{\"instruction\": 5}",
        "{\"instruction\": \"ok\", \"instances\": {\"a\": 1}}",
        "{\"instruction\": \"ok\", \"is_classification\": \"yes\"}",
        "{\"instruction\": \"ok\", \"instances\": [{\"input\": \"x\"}]}")) + "\n");
    SeedTasks.Result r = SeedTasks.read(f);
    assertEquals(2, r.tasks().size());
    assertEquals("春眠不觉晓", r.tasks().get(1).instances().get(0).output());
    assertEquals(1, r.blankLines());
    assertEquals(List.of("seeds.jsonl:4", "seeds.jsonl:5", "seeds.jsonl:6", "seeds.jsonl:7", "seeds.jsonl:8",
        "seeds.jsonl:9", "seeds.jsonl:10"), r.problems().stream().map(SeedTasks.Problem::location).toList());
    assertEquals(List.of("invalid_json", "not_an_object", "missing_field", "wrong_type", "wrong_type", "wrong_type",
        "wrong_type"), r.problems().stream().map(pr -> pr.reason().code()).toList());
    assertEquals(9, r.read());
  }
}
