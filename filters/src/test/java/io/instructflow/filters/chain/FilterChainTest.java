package io.instructflow.filters.chain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.filters.instruction.InstructionRules;
import io.instructflow.filters.rouge.RougeGate;
import io.instructflow.filters.rouge.RougeL;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Chains: the presets (rules, then ROUGE-L against the pool and the earlier kept records) and config errors. */
class FilterChainTest {
  static List<Example> records(List<String> instructions) {
    List<Example> out = new ArrayList<>();
    for (int i = 0; i < instructions.size(); i++) {
      out.add(Example.single(instructions.get(i), null, null, Map.of(),
          new Provenance(new Origin("t", "unknown", "t.jsonl:" + (i + 1), null, "instruction", null), List.of())));
    }
    return out;
  }

  @Test
  void presetDropsByRuleThenByRougeAgainstPoolAndEarlierKeptOnes() {
    List<Example> rs = records(List.of(
        "Explain why the sky looks blue during the day time.",
        "Write a short poem about the sea at night.",
        "Draw the sea at night in a short poem.",
        "Write a short poem about the sea at night please.",
        "Tell a joke"));
    List<Verdict> v = FilterChain.preset("self-instruct").apply(rs, List.of("Explain why the sky looks blue during the day."));
    Verdict.Dropped pool = (Verdict.Dropped) v.get(0);
    assertEquals(RougeGate.REASON, pool.reason());
    assertEquals(0, pool.details().get("matched_pool_index"));
    assertEquals("Explain why the sky looks blue during the day.", pool.details().get("matched_text"));
    assertEquals(Verdict.KEPT, v.get(1));
    assertEquals(InstructionRules.BLOCKED_FOUND, ((Verdict.Dropped) v.get(2)).reason());
    Verdict.Dropped earlier = (Verdict.Dropped) v.get(3);
    assertEquals(rs.get(1).id(), earlier.details().get("matched_id"));
    assertEquals("t.jsonl:2", earlier.details().get("matched_location"));
    assertEquals(InstructionRules.TOO_FEW_WORDS, ((Verdict.Dropped) v.get(4)).reason());
  }

  @Test
  void rougeDecisionsEqualTheExhaustiveReferenceLoop() {
    Random r = new Random(42);
    String[] words = "the a of to explain write list give name describe three five poem story river city music math code".split(" ");
    List<String> texts = new ArrayList<>();
    for (int i = 0; i < 400; i++) {
      StringBuilder b = new StringBuilder("Explain");
      int n = 4 + r.nextInt(8);
      for (int k = 0; k < n; k++) {
        b.append(' ').append(words[r.nextInt(words.length)]);
      }
      texts.add(b.append('.').toString());
    }
    List<Verdict> got = FilterChain.preset("self-instruct").apply(records(texts), List.of());
    // the reference: each instruction against every earlier kept one, drop at F > 0.7
    Tokenizer tok = Tokenizer.named("rouge", false);
    List<List<String>> kept = new ArrayList<>();
    int drops = 0;
    for (int i = 0; i < texts.size(); i++) {
      List<String> t = tok.tokens(texts.get(i));
      boolean dup = false;
      for (List<String> k : kept) {
        if (RougeL.fmeasure(ids(t), ids(k)) > 0.7) {
          dup = true;
          break;
        }
      }
      if (!dup) {
        kept.add(t);
      }
      drops += dup ? 1 : 0;
      assertEquals(!dup, got.get(i) instanceof Verdict.Kept, "text " + i + ": " + texts.get(i));
    }
    assertTrue(drops > 20 && drops < 390, "both outcomes occur: " + drops);
  }

  @Test
  void theStreamedGateGivesTheListGatesVerdictsAndEvidence() {
    Random r = new Random(7);
    String[] words = "the a of to explain write list give name describe three five poem story river city music math code".split(" ");
    List<String> texts = new ArrayList<>();
    for (int i = 0; i < 500; i++) {
      if (i > 0 && r.nextInt(4) == 0) {
        texts.add(texts.get(r.nextInt(i)) + (r.nextBoolean() ? "" : " again"));
        continue;
      }
      StringBuilder b = new StringBuilder("Explain");
      for (int k = 0, n = 4 + r.nextInt(10); k < n; k++) {
        b.append(' ').append(words[r.nextInt(words.length)]);
      }
      texts.add(b.append('.').toString());
    }
    FilterChain chain = FilterChain.parse("{\"name\":\"all\",\"filters\":[{\"type\":\"exact_dedup\"},"
        + "{\"type\":\"minhash_dedup\",\"shingle\":2,\"threshold\":0.6},{\"type\":\"rouge_l\",\"threshold\":0.7}]}", "test");
    assertTrue(OrderedGate.supports(chain));
    List<GateInput> inputs = new ArrayList<>();
    records(texts).forEach(e -> inputs.add(GateInput.of(e)));
    List<String> pool = List.of("Explain the poem of the river city.", "Write five music math code.");
    List<Verdict> listed = chain.gate(inputs, pool);
    List<Verdict> streamed = new ArrayList<>();
    try (OrderedGate g = new OrderedGate(chain, pool)) {
      // prepared out of order, decided in order
      List<OrderedGate.Prepared> prepared = new ArrayList<>(java.util.Collections.nCopies(inputs.size(), null));
      for (int i = inputs.size() - 1; i >= 0; i--) {
        prepared.set(i, g.prepare(inputs.get(i)));
      }
      for (int i = 0; i < inputs.size(); i++) {
        streamed.add(g.decide(inputs.get(i), prepared.get(i)));
      }
    }
    assertEquals(listed, streamed);
    java.util.Set<String> reasons = new java.util.TreeSet<>();
    streamed.forEach(v -> reasons.add(v instanceof Verdict.Dropped d ? d.reason() : "kept"));
    assertEquals(java.util.Set.of("kept", "exact_dedup.duplicate", "minhash_dedup.near_duplicate", "rouge_l.near_duplicate"),
        reasons);
  }

  private static int[] ids(List<String> tokens) {
    int[] out = new int[tokens.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = tokens.get(i).hashCode();
    }
    return out;
  }

  @Test
  void presetsDifferInTheirRules() {
    List<Example> rs = records(List.of("Make a video about the four seasons.", "write a program that adds two numbers."));
    List<Verdict> si = FilterChain.preset("self-instruct").apply(rs, List.of());
    List<Verdict> al = FilterChain.preset("alpaca").apply(rs, List.of());
    assertEquals(Verdict.KEPT, si.get(0));
    assertEquals(InstructionRules.BLOCKED_FOUND, ((Verdict.Dropped) al.get(0)).reason());
    assertEquals(InstructionRules.PROGRAM_PREFIX, ((Verdict.Dropped) si.get(1)).reason());
    assertEquals(Verdict.KEPT, al.get(1));
    assertNotEquals(FilterChain.preset("self-instruct").hash(), FilterChain.preset("alpaca").hash());
  }

  @Test
  void configWithoutRougeAndWithNonAsciiFirstAllowed() {
    FilterChain c = FilterChain.parse("{\"name\":\"zh\",\"filters\":[{\"type\":\"instruction_rules\",\"allowNonAsciiFirst\":true}]}", "test");
    assertEquals("zh", c.name());
    List<Verdict> v = c.apply(records(List.of("Écrivez un poème sur la mer.", "Écrivez un poème sur la mer.")), List.of());
    assertEquals(List.of(Verdict.KEPT, Verdict.KEPT), v, "no ROUGE-L rule in this chain");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "[]|a chain is an object",
      "{\"filters\":[{\"type\":\"nope\"}]}|unknown filter type 'nope'",
      "{\"filters\":[{\"type\":\"rouge_l\"},{\"type\":\"instruction_rules\"}]}|rouge_l must be the last",
      "{\"filters\":[{\"type\":\"rouge_l\",\"threshold\":1.5}]}|threshold must be in (0, 1]",
      "{\"filters\":[{\"type\":\"rouge_l\",\"tokenizer\":\"x\"}]}|unknown tokenizer 'x'",
      "{\"filters\":[{\"type\":\"instruction_rules\",\"preset\":\"x\"}]}|preset must be self-instruct or alpaca",
      "{\"filters\":[{\"type\":\"instruction_rules\",\"min\":3}]}|unknown field 'min'",
      "{\"filters\":[],\"extra\":1}|unknown field 'extra'",
      "{bad|not valid JSON"})
  void badConfigsFailWithTheirPlace(String json, String message) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FilterChain.parse(json, "cfg.json"));
    assertTrue(e.getMessage().contains(message) && e.getMessage().startsWith("cfg.json"), e.getMessage());
  }
}
