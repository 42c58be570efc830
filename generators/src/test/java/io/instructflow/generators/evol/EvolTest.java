package io.instructflow.generators.evol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.filters.evol.EvolRules;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.ScriptedModel;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Operations, judge parsing, every elimination rule on scripted answers, lineage over epochs. */
class EvolTest {
  static Example root(int i, String instruction) {
    return Example.single(instruction, null, "an answer", Map.of(),
        new Provenance(new Origin("alpaca", "CC-BY-NC-4.0", "in.jsonl:" + (i + 1), null, "alpaca", null), List.of()));
  }

  /** The defaults with raw-text prompts. */
  static Evol.Settings text(long seed) {
    return Evol.Settings.defaults(seed).withFormat(PromptFormat.TEXT);
  }

  static GenerationResult ok(GenerationRequest r, String text) {
    return GenerationResult.ok(r.id(), r.prompt(), 5, List.of(new Completion(text, FinishReason.STOP, 3)));
  }

  /** Rewrites append " in depth (epoch n)" unless the parent says what to do instead. */
  static ScriptedModel model(Function<String, String> special) {
    return new ScriptedModel("scripted", r -> {
      String task = r.prompt().contains("#Original Task#\n")
          ? r.prompt().substring(r.prompt().indexOf("#Original Task#\n") + 16, r.prompt().indexOf("\n\n#New Task#")) : null;
      String s = special.apply(r.id() + "|" + (task == null ? r.prompt() : task));
      if (s != null) {
        return s.equals("FAIL") ? GenerationResult.failed(r.id(), r.prompt(), GenerationResult.ErrorKind.UNAVAILABLE, "down")
            : ok(r, s);
      }
      if (r.id().startsWith("evol/")) {
        return ok(r, " " + task + " in more depth (" + r.id().substring(5, 12) + ")\n");
      }
      if (r.id().startsWith("judge/")) {
        return ok(r, " Different");
      }
      return ok(r, "A full answer about " + r.prompt().split(" ")[0] + " with several facts.");
    });
  }

  static List<Evol.Member> members(String... instructions) {
    List<Evol.Member> out = new ArrayList<>();
    for (int i = 0; i < instructions.length; i++) {
      out.add(new Evol.Member(i, root(i, instructions[i])));
    }
    return out;
  }

  @Test
  void operationsFollowTheWeightsAndDoNotDependOnOrder() {
    Evol e = new Evol(text(1), null);
    Map<Evol.Operation, Integer> seen = new EnumMap<>(Evol.Operation.class);
    for (int i = 0; i < 600; i++) {
      seen.merge(e.pick(1, new Evol.Member(i, root(i, "Task number " + i + " to evolve."))), 1, Integer::sum);
    }
    assertEquals(6, seen.size());
    seen.values().forEach(n -> assertTrue(n > 60 && n < 140, "roughly uniform: " + seen));
    Evol only = new Evol(text(1).withWeights(Evol.Settings.parseWeights("breadth=1,deepen=0")), null);
    assertEquals(Evol.Operation.BREADTH, only.pick(3, new Evol.Member(0, root(0, "x y z"))));
    Evol.Member m = new Evol.Member(7, root(7, "Same lineage, any position."));
    assertEquals(e.pick(2, m), e.pick(2, new Evol.Member(99, m.current())));
    assertThrows(IllegalArgumentException.class, () -> Evol.Settings.parseWeights("deepen=x"));
    assertThrows(IllegalArgumentException.class, () -> Evol.Settings.parseWeights("widen=1"));
    assertThrows(IllegalArgumentException.class,
        () -> text(1).withWeights(Evol.Settings.parseWeights("deepen=0")));
  }

  @Test
  void promptsCarryTheTaskAndTheWordBound() {
    Evol e = new Evol(text(1), null);
    Evol.Member m = new Evol.Member(0, Example.single("Sort the list.", "3, 1, 2", null, Map.of(),
        new Provenance(new Origin("t", "unknown", "t:1", null, "alpaca", null), List.of())));
    GenerationRequest r = e.evolveRequest(1, m, Evol.Operation.ADD_CONSTRAINTS);
    assertTrue(r.prompt().contains("#Original Task#\nSort the list.\n\n3, 1, 2\n\n#New Task#"), r.prompt());
    assertTrue(r.prompt().contains("at most 20 words"));
    assertFalse(e.evolveRequest(1, m, Evol.Operation.BREADTH).prompt().contains("at most"));
  }

  @Test
  void judgeAnswers() {
    assertEquals(EvolRules.Judge.EQUAL, Evol.parseJudge(" Equal"));
    assertEquals(EvolRules.Judge.EQUAL, Evol.parseJudge("They are the same."));
    assertEquals(EvolRules.Judge.EQUAL, Evol.parseJudge("yes"));
    assertEquals(EvolRules.Judge.NOT_EQUAL, Evol.parseJudge(" Different"));
    assertEquals(EvolRules.Judge.NOT_EQUAL, Evol.parseJudge("Not equal."));
    assertEquals(EvolRules.Judge.NOT_EQUAL, Evol.parseJudge("No, the second adds a constraint"));
    assertEquals(EvolRules.Judge.NOT_EQUAL, Evol.parseJudge("unequal"));
    assertEquals(EvolRules.Judge.UNKNOWN, Evol.parseJudge("Once upon a time"));
    assertEquals(EvolRules.Judge.UNKNOWN, Evol.parseJudge(""));
  }

  @Test
  void everyEliminationRuleOnScriptedAnswers() {
    Evol e = new Evol(text(4), null);
    List<Evol.Member> ms = members("Judged equal task here.", "Sorry task here please.", "Stopword task here please.",
        "Copied task here please.", "Unchanged task here please.", "Empty task here please.", "Good task here please.",
        "Failing task here please.");
    ScriptedModel m = model(k -> {
      if (k.startsWith("judge/") && k.contains("Judged equal")) {
        return "Equal";
      }
      if (k.startsWith("respond/") && k.contains("Sorry task")) {
        return "Sorry, I can't.";
      }
      if (k.startsWith("respond/") && k.contains("Stopword task")) {
        return "It is the... it!";
      }
      if (k.startsWith("evol/") && k.contains("Copied task")) {
        return "#New Task#: Copied task here please, with a twist.";
      }
      if (k.startsWith("evol/") && k.contains("Unchanged task")) {
        return "  unchanged TASK here please. ";
      }
      if (k.startsWith("evol/") && k.contains("Empty task")) {
        return "\n";
      }
      if (k.startsWith("evol/") && k.contains("Failing task")) {
        return "FAIL";
      }
      return null;
    });
    Evol.BatchResult b = e.evolve(1, ms, m);
    List<String> reasons = new ArrayList<>();
    for (Evol.Outcome o : b.outcomes()) {
      reasons.add(o == null ? "failed" : o.survived() ? "kept" : ((Verdict.Dropped) lastVerdict(o.record())).reason());
    }
    assertEquals(List.of(EvolRules.JUDGED_EQUAL, EvolRules.SORRY_SHORT, EvolRules.STOPWORDS_ONLY, EvolRules.COPIED_MARKER,
        EvolRules.IDENTICAL, EvolRules.EMPTY, "kept", "failed"), reasons);
    assertEquals(1, b.failures().size());
    assertEquals(ms.get(7), b.failures().get(0).member());
    // the unchanged and empty rewrites cost no judge or response call: 8 rewrites + 2 x 5 follow-ups
    assertEquals(18, m.requests());
    for (int i = 0; i < 6; i++) {
      assertEquals(ms.get(i), b.outcomes().get(i).next(), "a failed evolution's parent goes on");
    }
    Evol.Outcome good = b.outcomes().get(6);
    assertEquals("Good task here please. in more depth (epoch-1)", good.record().instruction());
    assertEquals(good.record(), good.next().current());
  }

  /** Issue 19: the reference's sampling for rewrite and response; the judge stays greedy. */
  @Test
  void defaultsSampleAsTheReference() {
    Evol.Settings d = Evol.Settings.defaults(0);
    for (io.instructflow.inference.SamplingParams p : List.of(d.evolveParams(), d.responseParams())) {
      assertEquals(2048, p.maxTokens());
      assertEquals(1.0, p.temperature());
      assertEquals(0.95, p.topP());
    }
    assertTrue(d.judgeParams().greedy());
    assertEquals(PromptFormat.AUTO, d.format());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Evol(d, null));
    assertTrue(e.getMessage().contains("resolved"), e.getMessage());
  }

  @Test
  void autoFormatIsChatForEndpointsAndTemplatedModels() {
    assertEquals(PromptFormat.CHAT, PromptFormat.AUTO.resolve(true, false));
    assertEquals(PromptFormat.CHAT, PromptFormat.AUTO.resolve(false, true));
    assertEquals(PromptFormat.TEXT, PromptFormat.AUTO.resolve(false, false));
    assertEquals(PromptFormat.TEXT, PromptFormat.TEXT.resolve(true, true));
    assertEquals(PromptFormat.CHAT, PromptFormat.CHAT.resolve(false, false));
    assertEquals(PromptFormat.CHAT, PromptFormat.parse(" Chat"));
    assertThrows(IllegalArgumentException.class, () -> PromptFormat.parse("jinja"));
  }

  /** Issue 19: chat requests carry a system message and the prompt as the user's turn. */
  @Test
  void chatFormatSendsMessages() {
    Evol e = new Evol(Evol.Settings.defaults(1).withFormat(PromptFormat.CHAT), null);
    Evol.Member m = members("Sort the list of numbers.").get(0);
    GenerationRequest r = e.evolveRequest(1, m, Evol.Operation.DEEPEN);
    assertTrue(r.isChat());
    assertEquals(List.of("system", "user"), r.messages().stream().map(io.instructflow.schemas.Message::role).toList());
    assertEquals(e.templates().get(Evol.T_SYSTEM).text().strip(), r.messages().get(0).content());
    assertTrue(r.messages().get(1).content().contains("#Original Task#\nSort the list of numbers.\n\n#New Task#"));
    assertTrue(r.params().stop().isEmpty(), "a chat model ends its own turn");
    GenerationRequest j = e.judgeRequest(1, m, "Sort the list of numbers in descending order.");
    assertTrue(j.isChat() && j.messages().get(1).content().endsWith("Answer:"));
    GenerationRequest a = e.responseRequest(1, m, "Sort the list of numbers in descending order.");
    assertEquals("Sort the list of numbers in descending order.", a.messages().get(1).content());
    assertEquals(r.seed(), e.evolveRequest(1, m, Evol.Operation.DEEPEN).seed());
  }

  /** Issue 19: in text format the rewrite stops at the template's labels, so it cannot run into another block. */
  @Test
  void textFormatStopsTheRewriteAtTheTemplatesLabels() {
    Evol e = new Evol(text(1), null);
    Evol.Member m = members("Sort the list of numbers.").get(0);
    for (Evol.Operation op : Evol.Operation.values()) {
      GenerationRequest r = e.evolveRequest(1, m, op);
      assertTrue(!r.isChat() && r.prompt().endsWith("#New Task#"), r.prompt());
      assertEquals(List.of("#Original Task#", "#New Task#"), r.params().stop(), op.code());
    }
    assertTrue(e.judgeRequest(1, m, "x").params().stop().equals(List.of("\n")));
    assertTrue(e.responseRequest(1, m, "x").params().stop().isEmpty());
    assertFalse(e.templates().containsKey(Evol.T_SYSTEM), "no system message in text format");
  }

  /**
   * Issue 19: a rewrite or a response cut at its token limit is eliminated with a reason of its own; a cut
   * rewrite costs no judge or response call.
   */
  @Test
  void truncatedRewritesAndResponsesAreEliminated() {
    Evol e = new Evol(text(4), null);
    List<Evol.Member> ms = members("Cut rewrite task here please.", "Cut answer task here please.",
        "Whole task here please.");
    ScriptedModel m = new ScriptedModel("scripted", r -> {
      boolean cut = (r.id().startsWith("evol/") && r.prompt().contains("Cut rewrite"))
          || (r.id().startsWith("respond/") && r.prompt().contains("Cut answer"));
      String text = r.id().startsWith("judge/") ? "Different" : r.id().startsWith("evol/")
          ? " " + r.prompt().substring(r.prompt().indexOf("#Original Task#\n") + 16, r.prompt().indexOf("\n\n#New Task#"))
              + " Give two examples." : "A long and careful answer about the task with facts.";
      return GenerationResult.ok(r.id(), r.prompt(), 5, List.of(new Completion(text,
          cut ? FinishReason.LENGTH : FinishReason.STOP, 3)));
    });
    Evol.BatchResult b = e.evolve(1, ms, m);
    Verdict.Dropped rewrite = (Verdict.Dropped) lastVerdict(b.outcomes().get(0).record());
    assertEquals(Evol.TRUNCATED, rewrite.filter());
    assertEquals(Evol.TRUNCATED_REWRITE, rewrite.reason());
    assertEquals(2048, rewrite.details().get("max_tokens"));
    Verdict.Dropped response = (Verdict.Dropped) lastVerdict(b.outcomes().get(1).record());
    assertEquals(Evol.TRUNCATED_RESPONSE, response.reason());
    assertTrue(b.outcomes().get(2).survived());
    assertFalse(b.outcomes().get(0).survived() || b.outcomes().get(1).survived());
    assertEquals(ms.get(0), b.outcomes().get(0).next(), "the parent goes on");
    assertEquals(3 + 2 * 2, m.requests(), "the cut rewrite was not judged or answered");
    assertEquals("length", b.outcomes().get(0).record().provenance().steps().get(0).parameters().get("finish_reason"));
  }

  static Verdict lastVerdict(Example e) {
    List<Step> s = e.provenance().steps();
    return s.get(s.size() - 1).verdict();
  }

  @Test
  void lineageWalksBackToTheRootOverEpochsAndRunsAreDeterministic() {
    List<String> runs = new ArrayList<>();
    for (int run = 0; run < 2; run++) {
      Evol e = new Evol(text(9), null);
      List<Evol.Member> pool = members("Explain tides to a child.", "List three uses of copper.");
      Map<String, Example> byId = new HashMap<>();
      pool.forEach(p -> byId.put(p.current().id(), p.current()));
      StringBuilder all = new StringBuilder();
      // lineage 1's second epoch fails (the judge says equal): its epoch-1 version goes on to epoch 3
      ScriptedModel m = model(k -> k.startsWith("judge/epoch-2") && k.contains("copper") ? "Equal" : null);
      for (int epoch = 1; epoch <= 3; epoch++) {
        Evol.BatchResult b = e.evolve(epoch, pool, m);
        List<Evol.Member> next = new ArrayList<>();
        for (Evol.Outcome o : b.outcomes()) {
          all.append(Json.line(o.record())).append('\n');
          byId.put(o.record().id(), o.record());
          next.add(o.next());
        }
        pool = next;
      }
      runs.add(all.toString());
      Example last = pool.get(1).current();
      assertEquals(3, last.metadata().get("evol_epoch"), "the epoch-3 evolution of lineage 1");
      List<Integer> epochs = new ArrayList<>();
      Example at = last;
      while (at.metadata().containsKey("evol_parent_id")) {
        epochs.add((Integer) at.metadata().get("evol_epoch"));
        assertEquals(at.metadata().get("evol_root_id"), pool.get(1).rootId());
        Step evolve = at.provenance().steps().stream().filter(s -> s.name().equals(Evol.STEP_EVOLVE))
            .reduce((a, b2) -> b2).orElseThrow();
        assertEquals(List.of(at.metadata().get("evol_parent_id")), evolve.parents());
        at = byId.get((String) at.metadata().get("evol_parent_id"));
      }
      assertEquals(List.of(3, 1), epochs, "epoch 2 failed, so epoch 3 evolved the epoch-1 version");
      assertEquals("List three uses of copper.", at.instruction());
      assertNull(at.metadata().get("evol_root_id"));
      assertEquals("in.jsonl:2", last.provenance().origin().location(), "the root's origin stays");
      assertEquals(2, last.provenance().steps().stream().filter(s -> s.name().equals(Evol.STEP_EVOLVE)).count(),
          "the provenance holds the kept path: epochs 1 and 3");
    }
    assertEquals(runs.get(0), runs.get(1));
  }
}
