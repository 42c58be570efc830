package io.instructflow.generators.selfinstruct;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.filters.instruction.InstructionRules;
import io.instructflow.filters.rouge.RougeGate;
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

  static SelfInstructGenerator generator(long seed) {
    return new SelfInstructGenerator(SelfInstruct.Settings.defaults(SelfInstruct.Preset.SELF_INSTRUCT, seed).withPromptsPerRound(3),
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
        new Candidate(1, 1, 0, "Write a poem about the sea at night.", null, null, Verdict.KEPT, List.of(), 1, "stop", null),
        new Candidate(1, 0, 1, "Explain why the sky looks blue during the day time.", null, null, Verdict.KEPT, List.of(), 1, "stop", null),
        new Candidate(1, 0, 0, "Write a poem about the sea at night time.", null, null, Verdict.KEPT, List.of(), 1, "stop", null),
        new Candidate(1, 1, 1, "Write a poem about the sea at night.", null, null,
            new Verdict.Dropped("x", "x.y", Map.of()), List.of(), 1, "stop", null));
    List<Candidate> out = g.gate(cs, pool);
    assertEquals(List.of(0, 0, 1, 1), out.stream().map(Candidate::prompt).toList());
    assertTrue(out.get(0).kept());
    Verdict.Dropped seedDup = (Verdict.Dropped) out.get(1).verdict();
    assertEquals(RougeGate.REASON, seedDup.reason());
    assertEquals(SeedTask.taskId("Explain why the sky looks blue during the day."), seedDup.details().get("matched_id"));
    Verdict.Dropped earlier = (Verdict.Dropped) out.get(2).verdict();
    assertEquals(SeedTask.taskId("Write a poem about the sea at night time."), earlier.details().get("matched_id"));
    assertTrue((double) earlier.details().get("score") > 0.7);
    assertEquals("x.y", ((Verdict.Dropped) out.get(3).verdict()).reason(), "an earlier verdict stands");
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
    assertEquals(2L, reasons.get(SelfInstructReasons.TRUNCATED));
    assertEquals(1L, reasons.get(InstructionRules.BLOCKED_FOUND));
    assertEquals(1L, reasons.get(InstructionRules.TOO_FEW_WORDS));
    assertEquals(2L, reasons.get(RougeGate.REASON), "the seed repeat and the second haiku");
    assertEquals(1L, reasons.get(InstructionRules.FIRST_NON_ASCII));
    assertEquals(2L, reasons.get(InstanceRules.CONFLICT));
    assertEquals(1L, reasons.get(InstanceRules.NONE_PARSED));
    // the haiku: x->y kept, z kept, z duplicate, q cut off
    assertEquals(1L, reasons.get(InstanceRules.DUPLICATE));
    assertEquals(1L, reasons.get(InstanceRules.TRUNCATED));
    assertEquals(4, r.kept().size(), "2 haiku instances + 2 spam/ham instances");
    // issue 19: every task that passed the ROUGE-L gate joined the pool, also the two whose instances all failed
    assertEquals(List.of("Write a haiku about the first snow of winter.", "Classify the email as spam or ham.",
        "Show a conflict in a short dialogue.", "Describe nothing at all in a sentence."),
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

  /**
   * Issue 19 (reference and paper §2.3): a task joins the machine-task list when it passes the ROUGE-L
   * check, so a near-copy of a task whose instances all failed is still a near-duplicate in a later round.
   */
  @Test
  void aTaskWhoseInstancesFailedStillBlocksItsNearCopiesLater() {
    SelfInstruct g = generator(3);
    Rounds.Result r1 = Rounds.run(g, model(SelfInstructTest::lists), 1, List.of(), 4);
    PoolEntry conflict = r1.added().get(2);
    assertEquals("Show a conflict in a short dialogue.", conflict.instruction());
    assertTrue(r1.kept().stream().noneMatch(e -> e.instruction().equals(conflict.instruction())), "no instance kept");
    Rounds.Result r2 = Rounds.run(g, model(id -> id.equals("round-2/prompt-0")
        ? " Show a conflict in a short dialogue please.\n10. Plan a three day trip to the mountains in spring." : ""),
        2, r1.added(), 4);
    Verdict.Dropped d = r2.filtered().stream().filter(e -> e.instruction().startsWith("Show a conflict"))
        .map(e -> (Verdict.Dropped) e.provenance().steps().get(1).verdict()).findFirst().orElseThrow();
    assertEquals(RougeGate.REASON, d.reason());
    assertEquals(conflict.id(), d.details().get("matched_id"));
    assertEquals(List.of("Plan a three day trip to the mountains in spring."),
        r2.added().stream().map(PoolEntry::instruction).toList());
  }

  /**
   * Issue 19: each kept task carries, as the reference writes it, its 10 most similar pool instructions
   * (highest first) and its mean ROUGE-L F over the pool it was checked against (seeds, earlier tasks,
   * earlier tasks of the round), recomputed here with the textbook LCS.
   */
  @Test
  void keptTasksCarryTheirMostSimilarPoolInstructionsAndTheMeanScore() {
    SelfInstruct g = generator(3);
    Rounds.Result r = Rounds.run(g, model(SelfInstructTest::lists), 1, List.of(), 4);
    List<String> pool = new ArrayList<>();
    seeds().forEach(s -> pool.add(s.instruction()));
    io.instructflow.filters.rouge.Tokenizer tok = io.instructflow.filters.rouge.Tokenizer.named("rouge", false);
    Map<String, Integer> ids = new java.util.HashMap<>();
    java.util.function.Function<String, int[]> toIds = t -> tok.tokens(t).stream()
        .mapToInt(x -> ids.computeIfAbsent(x, k -> ids.size())).toArray();
    for (PoolEntry task : r.added()) {
      Example e = r.kept().stream().filter(x -> x.instruction().equals(task.instruction())).findFirst()
          .orElseGet(() -> r.filtered().stream().filter(x -> x.instruction().equals(task.instruction())).findFirst()
              .orElseThrow());
      int[] t = toIds.apply(task.instruction());
      List<Double> scores = new ArrayList<>();
      for (String p : pool) {
        int[] q = toIds.apply(p);
        scores.add(io.instructflow.filters.rouge.RougeL.fmeasure(
            io.instructflow.filters.rouge.Lcs.lengthDp(t, q), t.length, q.length));
      }
      @SuppressWarnings("unchecked")
      Map<String, Double> most = (Map<String, Double>) e.metadata().get("most_similar");
      assertEquals(Math.min(10, pool.size()), most.size());
      List<Double> sorted = new ArrayList<>(scores);
      sorted.sort(java.util.Comparator.reverseOrder());
      assertEquals(sorted.subList(0, most.size()), new ArrayList<>(most.values()), task.instruction());
      double mean = scores.stream().mapToDouble(Double::doubleValue).sum() / scores.size();
      assertEquals(mean, (double) e.metadata().get("avg_similarity_score"), 1e-12, task.instruction());
      pool.add(task.instruction());
    }
    assertTrue(r.filtered().stream().filter(e -> !r.added().stream().anyMatch(a -> a.instruction().equals(e.instruction())))
        .noneMatch(e -> e.metadata().containsKey("most_similar")), "only tasks the gate kept carry it");
  }

  /** Issue 19: the instance prompt ends with a newline after the task, as the reference's. */
  @Test
  void instancePromptsEndWithANewlineAfterTheTask() {
    SelfInstructGenerator g = generator(1);
    Candidate c = new Candidate(1, 0, 0, "Write a poem about the sea at night.", null, null, Verdict.KEPT, List.of(), 1,
        "stop", null);
    for (boolean clf : new boolean[] {false, true}) {
      String p = g.instancesRequest(c, clf).prompt();
      assertTrue(p.endsWith("\nTask: Write a poem about the sea at night.\n"), p);
    }
  }

  /** Issue 19: Alpaca's prompt shows the seed instructions as its reference encodes them. */
  @Test
  void alpacaPromptNormalizesTheSeedInstructions() {
    List<SeedTask> messy = List.of(
        new SeedTask("s0", "  Generate a haiku\n using   the following word:", List.of(new SeedTask.Instance("snow", "...")),
            false, "s:1"),
        new SeedTask("s1", "Question: in which year did Yao Ming retire?\nAnswer:", List.of(new SeedTask.Instance("", "2011")),
            false, "s:2"),
        new SeedTask("s2", "Name a colour.", List.of(new SeedTask.Instance("", "Red")), false, "s:3"));
    SelfInstruct g = SelfInstruct.of(SelfInstruct.Settings.defaults(SelfInstruct.Preset.ALPACA, 5).withPromptsPerRound(1),
        messy, null);
    String p = g.plan(1, List.of()).get(0).prompt();
    assertTrue(p.contains(". Instruction: Generate a haiku using the following word\n"), p);
    assertTrue(p.contains(". Instruction: Question: in which year did Yao Ming retire? Answer\n"), p);
    assertTrue(p.contains(". Instruction: Name a colour.\n"), p);
    assertEquals("a:b", SelfInstruct.promptInstruction(" a:b::\t"));
    assertEquals("x ", SelfInstruct.promptInstruction("x :"), "rstrip(':') after strip() leaves the space before it");
  }

  /** Issue 19: the reference's --use_clf_seed_tasks_only. */
  @Test
  void classificationOnlyPromptsWithClassificationSeedsUnderItsOwnHeader() {
    SelfInstruct.Settings s = SelfInstruct.Settings.defaults(SelfInstruct.Preset.SELF_INSTRUCT, 2).withPromptsPerRound(4)
        .withExamples(2, 1).withClassificationOnly(true);
    SelfInstructGenerator g = new SelfInstructGenerator(s, seeds(), null);
    assertEquals(3, g.seeds().size());
    assertTrue(g.seeds().stream().allMatch(SeedTask::classification));
    Set<String> clfIds = new HashSet<>();
    g.seeds().forEach(x -> clfIds.add(x.taskId()));
    for (PromptSpec p : g.plan(1, List.of())) {
      assertTrue(clfIds.containsAll(p.parents()), p.parents().toString());
      assertTrue(p.prompt().startsWith(g.templates().get(SelfInstruct.T_INSTRUCTIONS_CLF).text().split("\n")[0]), p.prompt());
      assertTrue(p.prompt().contains("classification tasks"), p.prompt());
    }
    Rounds.Result r = Rounds.run(g, model(SelfInstructTest::lists), 1, List.of(), 4);
    Example any = r.filtered().get(0);
    assertEquals(SelfInstruct.T_INSTRUCTIONS_CLF, any.provenance().steps().get(0).prompt().templateId());
    // the few-shot blocks still come from every seed: the classification check shows the other tasks too
    Candidate c = new Candidate(1, 0, 0, "Write a poem about the sea at night.", null, null, Verdict.KEPT, List.of(), 1,
        "stop", null);
    assertTrue(g.classifyRequest(c).prompt().contains("Classification: No"));
    IllegalArgumentException few = assertThrows(IllegalArgumentException.class, () -> SelfInstruct.of(
        s.withExamples(4, 0), seeds(), null));
    assertTrue(few.getMessage().contains("3 classification task(s)"), few.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> SelfInstruct.Settings.defaults(SelfInstruct.Preset.ALPACA, 2).withClassificationOnly(true));
  }

  /** Issue 19: seeds without is_classification get a warning that says what the prompts will lack. */
  @Test
  void unlabeledSeedsGetAWarningSayingWhatIsMissing() {
    List<SeedTask> plain = new ArrayList<>();
    for (SeedTask t : seeds()) {
      plain.add(new SeedTask(t.rowId(), t.instruction(), t.instances(), false, t.location()));
    }
    SelfInstruct g = SelfInstruct.of(generator(1).settings(), plain, null);
    String w = g.classificationWarning(plain.size()).orElseThrow();
    assertTrue(w.startsWith("11 of 11 seed task(s) have no is_classification"), w);
    assertTrue(w.contains("shows 0 of its 12 classification examples"), w);
    assertTrue(w.contains("shows 0 of up to 8 worked examples"), w);
    assertTrue(g.classificationWarning(0).isEmpty());
    assertTrue(SelfInstruct.of(SelfInstruct.Settings.defaults(SelfInstruct.Preset.ALPACA, 1), plain, null)
        .classificationWarning(11).isEmpty(), "Alpaca does not classify");
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
    SelfInstruct g = SelfInstruct.of(SelfInstruct.Settings.defaults(SelfInstruct.Preset.ALPACA, 5).withPromptsPerRound(1),
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
    assertEquals(Map.of(InstructionRules.BLOCKED_FOUND, 1L, SelfInstructReasons.FORMAT_MALFORMED, 1L, SelfInstructReasons.TRUNCATED, 1L),
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
    SelfInstruct custom = SelfInstruct.of(builtin.settings(), seeds(), dir);
    assertNotEquals(builtin.templates().get(SelfInstruct.T_INSTRUCTIONS).hash(),
        custom.templates().get(SelfInstruct.T_INSTRUCTIONS).hash());
    assertTrue(custom.plan(1, List.of()).get(0).prompt().startsWith("Tasks:\n1. "));
    Files.writeString(dir.resolve("self-instruct/instructions@1.txt"), "Tasks: {{example}}");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> SelfInstruct.of(builtin.settings(), seeds(), dir));
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
