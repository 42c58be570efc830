package io.instructflow.generators.selfinstruct;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.filters.instruction.InstructionRules;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.ScriptedModel;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Prompts, the ROUGE-L gate, instance rules and whole rounds, against a scripted model. */
class SelfInstructTest {
  static List<SeedTask> seeds() {
    List<SeedTask> s = new ArrayList<>();
    String[] other = {"Suggest a healthy breakfast that has no eggs.", "Explain why the sky looks blue during the day.",
        "Give me a recipe for a simple tomato soup.", "Describe the rules of chess to a beginner.",
        "Summarize the plot of a famous novel in three sentences.", "List five ways to save water at home.",
        "Translate the sentence into French.", "Rewrite the paragraph in a formal tone."};
    for (int i = 0; i < other.length; i++) {
      s.add(new SeedTask("seed_" + i, other[i], List.of(new SeedTask.Instance(i % 2 == 0 ? "" : "some input " + i,
          "an answer " + i)), false, "seeds.jsonl:" + (i + 1)));
    }
    String[] clf = {"Is the review positive or negative?", "Does the sentence contain a grammatical error?",
        "Classify the animal as a mammal, bird or fish."};
    for (int i = 0; i < clf.length; i++) {
      s.add(new SeedTask("seed_c" + i, clf[i], List.of(new SeedTask.Instance("input " + i, "Label" + i)), true,
          "seeds.jsonl:" + (20 + i)));
    }
    return s;
  }

  static SelfInstruct generator(long seed) {
    return new SelfInstruct(SelfInstruct.Settings.defaults(SelfInstruct.Preset.SELF_INSTRUCT, seed).withPromptsPerRound(3),
        seeds(), null);
  }

  static GenerationResult ok(GenerationRequest r, String text, FinishReason f) {
    return GenerationResult.ok(r.id(), r.prompt(), 10, List.of(new Completion(text, f, 7)));
  }

  /** Responses keyed on the request: instruction lists per prompt, yes for "Classify", instances. */
  static ScriptedModel model(Function<String, String> lists) {
    return new ScriptedModel("scripted", r -> {
      if (r.id().startsWith("round-")) {
        String text = lists.apply(r.id());
        if (text == null) {
          return GenerationResult.failed(r.id(), r.prompt(), GenerationResult.ErrorKind.UNAVAILABLE, "backend down");
        }
        return ok(r, text, r.id().endsWith("prompt-2") ? FinishReason.LENGTH : FinishReason.STOP);
      }
      String task = r.prompt().substring(r.prompt().lastIndexOf("Task: ") + 6).trim();
      if (r.id().startsWith("classify/")) {
        return ok(r, task.startsWith("Classify") ? " Yes" : " No", FinishReason.STOP);
      }
      if (task.startsWith("Classify")) {
        return ok(r, "Class label: Spam\nInput: Win money now\nClass label: Ham\nInput: See you at lunch", FinishReason.STOP);
      }
      if (task.contains("conflict")) {
        return ok(r, "Example 1\nInput: a\nOutput: 1\nExample 2\nInput: a\nOutput: 2", FinishReason.STOP);
      }
      if (task.contains("nothing")) {
        return ok(r, "I cannot do that.", FinishReason.STOP);
      }
      return ok(r, "Example 1\nInput: x\nOutput: y\nExample 2\nOutput: z\nExample 3\nOutput: z\nExample 4\nInput: q\nOutput:",
          FinishReason.LENGTH);
    });
  }

  static String lists(String requestId) {
    return switch (requestId) {
      case "round-1/prompt-0" -> " Write a haiku about the first snow of winter.\n10. Classify the email as spam or ham."
          + "\n11. Draw a cat on the wall\n12. Explain why the sky looks blue during the day.\n13. Name two planets";
      case "round-1/prompt-1" -> " Write a haiku about the first snow of the winter.\n10. Show a conflict in a short dialogue."
          + "\n11. Describe nothing at all in a sentence.\n12) 请 写 一首 关于 秋天 的 诗";
      case "round-1/prompt-2" -> " Compose a limerick about a lazy dog.\n10. Explain";
      default -> null;
    };
  }

  @Test
  void promptsAreDeterministicAndMixSeedAndMachineExamples() {
    SelfInstruct g = generator(7);
    List<PromptSpec> a = g.plan(1, List.of());
    assertEquals(a, generator(7).plan(1, List.of()));
    assertNotEquals(a, generator(8).plan(1, List.of()));
    assertNotEquals(a.get(0).prompt(), g.plan(2, List.of()).get(0).prompt());
    Set<String> seedIds = new HashSet<>();
    seeds().forEach(s -> seedIds.add(s.taskId()));
    for (PromptSpec p : a) {
      assertEquals(8, p.parents().size());
      assertEquals(0, p.machineExamples());
      assertTrue(seedIds.containsAll(p.parents()));
      assertEquals(8, new HashSet<>(p.parents()).size());
      assertTrue(p.prompt().endsWith("\n9."), p.prompt());
    }
    List<PoolEntry> machine = List.of(new PoolEntry("m1", "Machine task one here.", 1),
        new PoolEntry("m2", "Machine task two here.", 1), new PoolEntry("m3", "Machine task three here.", 1));
    for (PromptSpec p : g.plan(2, machine)) {
      assertEquals(2, p.machineExamples());
      assertEquals(8, p.parents().size());
      assertEquals(2, p.parents().stream().filter(id -> id.startsWith("m")).count());
    }
    assertEquals(1, g.plan(2, machine.subList(0, 1)).get(0).machineExamples());
  }

  @Test
  void gateDropsNearDuplicatesOfThePoolAndOfEarlierCandidates() {
    SelfInstruct g = generator(1);
    List<PoolEntry> pool = new ArrayList<>();
    seeds().forEach(s -> pool.add(PoolEntry.of(s)));
    List<Candidate> cs = List.of(
        new Candidate(1, 1, 0, "Write a poem about the sea at night.", null, null, Verdict.KEPT, List.of(), 1, "stop"),
        new Candidate(1, 0, 1, "Explain why the sky looks blue during the day time.", null, null, Verdict.KEPT, List.of(), 1, "stop"),
        new Candidate(1, 0, 0, "Write a poem about the sea at night time.", null, null, Verdict.KEPT, List.of(), 1, "stop"),
        new Candidate(1, 1, 1, "Write a poem about the sea at night.", null, null,
            new Verdict.Dropped("x", "x.y", Map.of()), List.of(), 1, "stop"));
    List<Candidate> out = g.gate(cs, pool);
    assertEquals(List.of(0, 0, 1, 1), out.stream().map(Candidate::prompt).toList());
    assertTrue(out.get(0).kept());
    Verdict.Dropped seedDup = (Verdict.Dropped) out.get(1).verdict();
    assertEquals(SelfInstruct.ROUGE_REASON, seedDup.reason());
    assertEquals(SeedTask.taskId("Explain why the sky looks blue during the day."), seedDup.details().get("matched_id"));
    Verdict.Dropped earlier = (Verdict.Dropped) out.get(2).verdict();
    assertEquals(SeedTask.taskId("Write a poem about the sea at night time."), earlier.details().get("matched_id"));
    assertTrue((double) earlier.details().get("score") > 0.7);
    assertEquals("x.y", ((Verdict.Dropped) out.get(3).verdict()).reason(), "an earlier verdict stands");
  }

  @Test
  void instanceRules() {
    SelfInstruct g = generator(1);
    SeedTask.Instance a = new SeedTask.Instance("in", "out");
    List<Verdict> v = g.instanceVerdicts(List.of(a, a, new SeedTask.Instance("same", "same"),
        new SeedTask.Instance("x", ""), new SeedTask.Instance("x:", "y"), new SeedTask.Instance("", "ends:"),
        new SeedTask.Instance("", "fine"), new SeedTask.Instance("", "cut off")), true);
    List<String> reasons = v.stream().map(x -> x instanceof Verdict.Dropped d ? d.reason() : "kept").toList();
    assertEquals(List.of("kept", SelfInstruct.INSTANCE_DUPLICATE, SelfInstruct.INSTANCE_SAME,
        SelfInstruct.INSTANCE_EMPTY_OUTPUT, SelfInstruct.INSTANCE_COLON, SelfInstruct.INSTANCE_COLON, "kept",
        SelfInstruct.INSTANCE_TRUNCATED), reasons);
    List<Verdict> conflict = g.instanceVerdicts(List.of(new SeedTask.Instance("a", "1"), new SeedTask.Instance("b", "2"),
        new SeedTask.Instance("a", "3")), false);
    assertTrue(conflict.stream().allMatch(x -> ((Verdict.Dropped) x).reason().equals(SelfInstruct.INSTANCE_CONFLICT)));
    List<SeedTask.Instance> many = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      many.add(new SeedTask.Instance("i" + i, "o" + i));
    }
    List<Verdict> capped = g.instanceVerdicts(many, false);
    assertEquals(5, capped.stream().filter(x -> x instanceof Verdict.Kept).count());
    assertEquals(SelfInstruct.INSTANCE_OVER_MAX, ((Verdict.Dropped) capped.get(6)).reason());
  }

  @Test
  void aRoundWithMessyResponsesRoutesEveryTaskAndKeepsFullProvenance() {
    SelfInstruct g = generator(3);
    ScriptedModel m = model(SelfInstructTest::lists);
    Rounds.Result r = Rounds.run(g, m, 1, List.of(), 2);
    assertEquals(3, r.prompts());
    // prompt 0: 5 tasks, prompt 1: 4, prompt 2 (cut by the length limit): 2
    assertEquals(11, r.candidates());
    Map<String, Long> reasons = countReasons(r.filtered());
    assertEquals(2L, reasons.get(SelfInstruct.TRUNCATED));
    assertEquals(1L, reasons.get(InstructionRules.BLOCKED_FOUND));
    assertEquals(1L, reasons.get(InstructionRules.TOO_FEW_WORDS));
    assertEquals(2L, reasons.get(SelfInstruct.ROUGE_REASON), "the seed repeat and the second haiku");
    assertEquals(1L, reasons.get(InstructionRules.FIRST_NON_ASCII));
    assertEquals(2L, reasons.get(SelfInstruct.INSTANCE_CONFLICT));
    assertEquals(1L, reasons.get(SelfInstruct.INSTANCES_NONE));
    // the haiku: x->y kept, z kept, z duplicate, q cut off
    assertEquals(1L, reasons.get(SelfInstruct.INSTANCE_DUPLICATE));
    assertEquals(1L, reasons.get(SelfInstruct.INSTANCE_TRUNCATED));
    assertEquals(4, r.kept().size(), "2 haiku instances + 2 spam/ham instances");
    assertEquals(List.of("Write a haiku about the first snow of winter.", "Classify the email as spam or ham."),
        r.added().stream().map(PoolEntry::instruction).toList());
    assertTrue(r.failures().isEmpty());
    for (Example e : r.kept()) {
      assertEquals(e.computedId(), e.id());
      List<Step> steps = e.provenance().steps();
      assertEquals(List.of(SelfInstruct.STEP_GENERATE, SelfInstruct.STEP_FILTER, SelfInstruct.STEP_CLASSIFY,
          SelfInstruct.STEP_INSTANCES), steps.stream().map(Step::name).toList());
      assertEquals(8, steps.get(0).parents().size());
      assertEquals("scripted", steps.get(0).model().id());
      assertEquals(SelfInstruct.T_INSTRUCTIONS, steps.get(0).prompt().templateId());
      assertEquals(64, steps.get(0).prompt().templateHash().length());
      assertNotNull(steps.get(0).seed());
      assertNotNull(steps.get(2).seed());
      assertEquals(e.metadata().get("is_classification"), steps.get(2).parameters().get("is_classification"));
      assertTrue(steps.stream().allMatch(s -> s.verdict() instanceof Verdict.Kept));
      assertEquals("self-instruct", e.provenance().origin().dataset());
      assertEquals("generated", e.provenance().origin().format());
    }
    Example spam = r.kept().get(2);
    assertEquals("Win money now", spam.input());
    assertEquals("Spam", spam.output());
    assertEquals(SelfInstruct.T_OUTPUT_FIRST, spam.provenance().steps().get(3).prompt().templateId());
    assertEquals("input_first", r.kept().get(0).provenance().steps().get(3).parameters().get("order"));
    // the same run again gives the same bytes
    Rounds.Result again = Rounds.run(generator(3), model(SelfInstructTest::lists), 1, List.of(), 3);
    assertEquals(Json.line(r.kept()), Json.line(again.kept()));
    assertEquals(Json.line(r.filtered()), Json.line(again.filtered()));
  }

  @Test
  void failedRequestsBecomeFailuresNotRecords() {
    Rounds.Result r = Rounds.run(generator(3), model(id -> id.equals("round-1/prompt-0") ? null : lists(id)), 1, List.of(), 4);
    assertEquals(1, r.failures().size());
    Rounds.Failure f = r.failures().get(0);
    assertEquals("round-1/prompt-0", f.location());
    assertEquals(GenerationResult.ErrorKind.UNAVAILABLE, f.result().errorKind());
    assertNull(f.candidate());
    assertEquals(6, r.candidates());
  }

  @Test
  void alpacaPresetKeepsWholeTasks() {
    SelfInstruct g = new SelfInstruct(SelfInstruct.Settings.defaults(SelfInstruct.Preset.ALPACA, 5).withPromptsPerRound(1),
        seeds(), null);
    PromptSpec p = g.plan(1, List.of()).get(0);
    assertEquals(3, p.parents().size());
    assertTrue(p.prompt().endsWith("###\n4. Instruction:"), p.prompt());
    ScriptedModel m = new ScriptedModel("scripted", r -> ok(r, " Name a fruit that is red.\n4. Input:\n<noinput>\n4. Output:\n"
        + "Apple\n###\n5. Instruction: Make a video of a cat.\n5. Input:\n\n5. Output:\nNo\n###\n6. Instruction: Add these two numbers "
        + "together.\n6. Input:\n2, 3\n6. Output:\n5\n###\n7. nothing\n###\n8. Instruction: Cut off", FinishReason.LENGTH));
    Rounds.Result r = Rounds.run(g, m, 1, List.of(), 1);
    assertEquals(2, r.kept().size());
    assertEquals("Name a fruit that is red.", r.kept().get(0).instruction());
    assertNull(r.kept().get(0).input());
    assertEquals("2, 3", r.kept().get(1).input());
    Map<String, Long> reasons = countReasons(r.filtered());
    assertEquals(Map.of(InstructionRules.BLOCKED_FOUND, 1L, SelfInstruct.FORMAT_MALFORMED, 1L, SelfInstruct.TRUNCATED, 1L),
        reasons);
    assertEquals(List.of(SelfInstruct.STEP_GENERATE, SelfInstruct.STEP_FILTER),
        r.kept().get(0).provenance().steps().stream().map(Step::name).toList());
    assertEquals(SelfInstruct.T_ALPACA, r.kept().get(0).provenance().steps().get(0).prompt().templateId());
  }

  @Test
  void templateOverridesChangeTheHashAndBadOnesFailEarly(@TempDir Path dir) throws Exception {
    SelfInstruct builtin = generator(1);
    Files.createDirectories(dir.resolve("self-instruct"));
    Files.writeString(dir.resolve("self-instruct/instructions@1.txt"), "Tasks:\n{{examples}}{{next}}.");
    SelfInstruct custom = new SelfInstruct(builtin.settings(), seeds(), dir);
    assertNotEquals(builtin.templates().get(SelfInstruct.T_INSTRUCTIONS).hash(),
        custom.templates().get(SelfInstruct.T_INSTRUCTIONS).hash());
    assertTrue(custom.plan(1, List.of()).get(0).prompt().startsWith("Tasks:\n1. "));
    Files.writeString(dir.resolve("self-instruct/instructions@1.txt"), "Tasks: {{example}}");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new SelfInstruct(builtin.settings(), seeds(), dir));
    assertTrue(e.getMessage().contains("[examples, next]"), e.getMessage());
  }

  static Map<String, Long> countReasons(List<Example> filtered) {
    Map<String, Long> out = new java.util.TreeMap<>();
    for (Example e : filtered) {
      for (Step s : e.provenance().steps()) {
        if (s.verdict() instanceof Verdict.Dropped d) {
          out.merge(d.reason(), 1L, Long::sum);
        }
      }
    }
    return out;
  }
}
