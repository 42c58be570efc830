package io.instructflow.filters.evol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Verdict;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Each elimination rule and its boundaries; the evol-elimination preset on records. */
class EvolRulesTest {
  static final String PARENT = "Explain how photosynthesis works.";
  static final String EVOLVED = "Explain how photosynthesis works in desert plants, and compare it with C4 plants.";
  static final String GOOD = "Desert plants often use CAM photosynthesis: they open their stomata at night.";

  static String reason(String parent, String evolved, EvolRules.Judge judge, String response) {
    Verdict v = EvolRules.test(parent, evolved, judge, "raw", response);
    return v instanceof Verdict.Dropped d ? d.reason() : "kept";
  }

  static String words(int n, String first) {
    StringBuilder b = new StringBuilder(first);
    for (int i = 1; i < n; i++) {
      b.append(" word");
    }
    return b.toString();
  }

  @Test
  void eachRule() {
    assertEquals("kept", reason(PARENT, EVOLVED, EvolRules.Judge.NOT_EQUAL, GOOD));
    assertEquals(EvolRules.JUDGED_EQUAL, reason(PARENT, EVOLVED, EvolRules.Judge.EQUAL, GOOD));
    assertEquals("kept", reason(PARENT, EVOLVED, EvolRules.Judge.UNKNOWN, GOOD), "an unreadable judge is no evidence");
    assertEquals(EvolRules.IDENTICAL, reason(PARENT, "  explain HOW photosynthesis\n works. ", EvolRules.Judge.NOT_EQUAL, GOOD));
    assertEquals(EvolRules.EMPTY, reason(PARENT, " \n ", EvolRules.Judge.NOT_EQUAL, GOOD));
    assertEquals("kept", reason(null, PARENT, EvolRules.Judge.NOT_EQUAL, GOOD), "no parent: identity cannot be checked");
    assertEquals(EvolRules.SORRY_SHORT, reason(PARENT, EVOLVED, EvolRules.Judge.NOT_EQUAL, "Sorry, I cannot help with that."));
    assertEquals(EvolRules.SORRY_SHORT, reason(PARENT, EVOLVED, EvolRules.Judge.NOT_EQUAL, words(79, "SORRY")));
    assertEquals("kept", reason(PARENT, EVOLVED, EvolRules.Judge.NOT_EQUAL, words(80, "sorry")), "80 words is long enough");
    assertEquals(EvolRules.STOPWORDS_ONLY, reason(PARENT, EVOLVED, EvolRules.Judge.NOT_EQUAL, "It is, and the... of it!"));
    assertEquals(EvolRules.STOPWORDS_ONLY, reason(PARENT, EVOLVED, EvolRules.Judge.NOT_EQUAL, "?!"));
    assertEquals(EvolRules.STOPWORDS_ONLY, reason(PARENT, EVOLVED, EvolRules.Judge.NOT_EQUAL, ""));
    assertEquals("kept", reason(PARENT, EVOLVED, EvolRules.Judge.NOT_EQUAL, "It is green."));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "#Rewritten Prompt#: Explain photosynthesis in cacti.|rewritten prompt",
      "Rewrite the given prompt about photosynthesis in cacti.|given prompt",
      "The created prompt asks about photosynthesis in cacti.|created prompt",
      "#New Task#: explain photosynthesis in cacti step by step.|new task",
      "Original task: explain photosynthesis, now in cacti.|original task",
      "Explain photosynthesis in cacti. #The Given Prompt# asked about leaves.|given prompt",
      "# new  TASK #\\nExplain photosynthesis in cacti.|new task",
      "Explain photosynthesis.\\n**New Task:** explain it in cacti.|new task",
      "Use the Given\\nPrompts to explain photosynthesis in cacti.|given prompts",
      "#Created Prompt#: how do cacti photosynthesize?|created prompt"})
  void copiedPromptWords(String evolvedWithEscapes, String phrase) {
    String evolved = evolvedWithEscapes.replace("\\n", "\n");
    Verdict.Dropped d = (Verdict.Dropped) EvolRules.test(PARENT, evolved, EvolRules.Judge.NOT_EQUAL, "", GOOD);
    assertEquals(EvolRules.COPIED_MARKER, d.reason());
    assertEquals(phrase, d.details().get("phrase"));
  }

  /** Issue 19: the label words as ordinary English are not a copied prompt. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "Add a new task to the to-do list app that reminds the user every morning.",
      "Renew tasks that expired last week and explain the priority of each.",
      "Describe the original task of the Apollo guidance computer.",
      "Create a new task: a weekly report on sales, with a table of three regions.",
      "Explain why the forgiven prompter apologized, in two sentences.",
      "Write a story whose hero is given promptly a new task by the king."})
  void labelWordsInOrdinaryEnglishAreKept(String evolved) {
    assertEquals("kept", reason(PARENT, evolved, EvolRules.Judge.NOT_EQUAL, GOOD));
    assertEquals(null, EvolRules.copiedPhrase(evolved));
  }

  @Test
  void theFirstFailingRuleDecides() {
    assertEquals(EvolRules.JUDGED_EQUAL, reason(PARENT, "#New Task# " + EVOLVED, EvolRules.Judge.EQUAL, "sorry"));
    assertEquals(EvolRules.SORRY_SHORT, reason(PARENT, "#New Task# " + EVOLVED, EvolRules.Judge.NOT_EQUAL, "sorry"));
  }

  @Test
  void presetReadsTheEvolutionFromTheRecord() {
    Provenance p = new Provenance(new Origin("t", "unknown", "t.jsonl:1", null, "instruction", null), List.of());
    Example ok = Example.single(EVOLVED, null, GOOD, Map.of("evol_parent_instruction", PARENT, "evol_judge", "not_equal"), p);
    Example equal = Example.single(EVOLVED, null, GOOD, Map.of("evol_parent_instruction", PARENT, "evol_judge", "equal"), p);
    Example same = Example.single(PARENT, null, GOOD, Map.of("evol_parent_instruction", PARENT), p);
    Example noParent = Example.single(EVOLVED, null, "Sorry.", Map.of(), p);
    List<Verdict> v = FilterChain.preset("evol-elimination").apply(List.of(ok, equal, same, noParent), List.of());
    assertEquals(Verdict.KEPT, v.get(0));
    assertEquals(EvolRules.JUDGED_EQUAL, ((Verdict.Dropped) v.get(1)).reason());
    assertEquals(EvolRules.IDENTICAL, ((Verdict.Dropped) v.get(2)).reason());
    assertEquals(EvolRules.SORRY_SHORT, ((Verdict.Dropped) v.get(3)).reason());
  }
}
