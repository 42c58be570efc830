package io.instructflow.generators.selfinstruct;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The response parsers on clean and messy model outputs. */
class ParsersTest {
  private static SeedTask.Instance inst(String in, String out) {
    return new SeedTask.Instance(in, out);
  }

  @Test
  void listContinuationSplitsAtAnyNumbering() {
    ListParser.Items it = ListParser.parse(" Name three rivers in Asia.\n10. Explain how tides work.\n11) Sort these numbers:"
        + "\n  continued on a second line\n12 . Rewrite the sentence.\n13.\n14.   \n\n15. Last one");
    assertEquals(List.of(" Name three rivers in Asia.", "Explain how tides work.",
        "Sort these numbers:\n  continued on a second line", "Rewrite the sentence.", "Last one"), it.items());
    assertEquals(2, it.blank());
  }

  @Test
  void listContinuationEdgeCases() {
    assertEquals(List.of(), ListParser.parse("").items());
    assertEquals(List.of(), ListParser.parse("\n\n").items());
    assertEquals(List.of("Only the ninth item."), ListParser.parse("Only the ninth item.").items());
    // a number inside a line does not split; the model restarting at 1 does
    assertEquals(List.of(" It costs 10. dollars, explain why.", "Start again."),
        ListParser.parse(" It costs 10. dollars, explain why.\n1. Start again.").items());
    // leading blank line before the first numbered item
    assertEquals(List.of("First real one."), ListParser.parse("\n10. First real one.").items());
  }

  @Test
  void inputFirstInstances() {
    String text = "Example 1\nInput: 2, 3\nOutput: 5\n\nExample 2\nInput: 10, -4\nOutput: 6\nInput: stray\n\nExample 3\nOutput: no input here";
    assertEquals(List.of(inst("2, 3", "5"), inst("10, -4", "6"), inst("", "no input here")), InstanceParser.inputFirst(text));
    assertEquals(List.of(inst("x", "y")), InstanceParser.inputFirst("Input: x\nOutput: y"));
    assertEquals(List.of(inst("", "just text")), InstanceParser.inputFirst("Example\njust text"));
    assertEquals(List.of(), InstanceParser.inputFirst("Once upon a time there was a cat."));
    assertEquals(List.of(inst("a", "b")), InstanceParser.inputFirst("Example 1.\nInput 1 : a\nOutput 1 : b"));
  }

  @Test
  void outputFirstInstances() {
    String text = "Class label: Positive\nInput: I loved it.\nClass label: Negative\nInput: Awful.\nClass label: Neutral";
    assertEquals(List.of(inst("I loved it.", "Positive"), inst("Awful.", "Negative"), inst("", "Neutral")),
        InstanceParser.outputFirst(text));
    assertEquals(List.of(), InstanceParser.outputFirst("Positive: I loved it."));
    assertEquals(List.of(inst("Sentence: it rains", "Yes")), InstanceParser.outputFirst("Class label: Yes\nSentence: it rains"));
  }

  @Test
  void alpacaTasks() {
    String response = " Name a fruit.\n4. Input:\n<noinput>\n4. Output:\nApple\n\n###\n5. Instruction: Add the numbers.\n"
        + "5. Input:\n2 and 3\n5. Output:\n5\n###\n6. Instruction: Broken piece without fields\n###\n"
        + "9. Instruction: Renumbered.\n9. Input:\nx\n9. Output:\ny\n###\n8. Instruction: cut";
    List<AlpacaParser.Task> tasks = AlpacaParser.parse(response, 4);
    assertEquals(5, tasks.size());
    assertEquals("Name a fruit.", tasks.get(0).instruction());
    assertEquals("", tasks.get(0).input());
    assertEquals("Apple", tasks.get(0).output());
    assertEquals("2 and 3", tasks.get(1).input());
    assertFalse(tasks.get(2).wellFormed());
    assertTrue(tasks.get(3).wellFormed());
    assertFalse(tasks.get(4).wellFormed());
    // mixed numbers inside one piece are malformed
    assertFalse(AlpacaParser.parse(" A b c d.\n4. Input:\nx\n5. Output:\ny", 4).get(0).wellFormed());
  }

  @Test
  void classificationAnswers() {
    assertTrue(SelfInstructGenerator.isYes(" Yes"));
    assertTrue(SelfInstructGenerator.isYes("YES."));
    assertTrue(SelfInstructGenerator.isYes("yes, it is"));
    assertFalse(SelfInstructGenerator.isYes(" No"));
    assertFalse(SelfInstructGenerator.isYes("Yesterday"));
    assertFalse(SelfInstructGenerator.isYes(""));
  }
}
