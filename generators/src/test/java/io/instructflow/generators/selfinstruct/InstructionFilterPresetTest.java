package io.instructflow.generators.selfinstruct;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.instructflow.filters.rouge.RougeL;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The filter preset: rules, then ROUGE-L against the pool and the earlier kept instructions. */
class InstructionFilterPresetTest {
  @Test
  void dropsByRuleThenByRougeAgainstPoolAndEarlierKeptOnes() {
    List<Verdict> v = InstructionFilterPreset.named("self-instruct").apply(List.of(
        "Explain why the sky looks blue during the day time.",
        "Write a short poem about the sea at night.",
        "Draw the sea at night in a short poem.",
        "Write a short poem about the sea at night please.",
        "Tell a joke"), List.of("Explain why the sky looks blue during the day."));
    assertEquals(0, ((Verdict.Dropped) v.get(0)).details().get("matched_pool_index"));
    assertEquals(Verdict.KEPT, v.get(1));
    assertEquals(InstructionRules.BLOCKED_FOUND, ((Verdict.Dropped) v.get(2)).reason());
    assertEquals(1, ((Verdict.Dropped) v.get(3)).details().get("matched_index"));
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
    List<Verdict> got = InstructionFilterPreset.named("self-instruct").apply(texts, List.of());
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
    assertEquals(true, drops > 20 && drops < 390, "both outcomes occur: " + drops);
  }

  private static int[] ids(List<String> tokens) {
    int[] out = new int[tokens.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = tokens.get(i).hashCode();
    }
    return out;
  }
}
