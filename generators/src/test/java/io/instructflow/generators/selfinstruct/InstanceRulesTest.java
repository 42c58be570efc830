package io.instructflow.generators.selfinstruct;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The instance rules of a Self-Instruct task (moved here from {@code SelfInstructTest}) and the two orders. */
class InstanceRulesTest {
  @Test
  void instanceRules() {
    InstanceRules g = SelfInstructTest.generator(1).instanceRules();
    SeedTask.Instance a = new SeedTask.Instance("in", "out");
    List<Verdict> v = g.verdicts(List.of(a, a, new SeedTask.Instance("same", "same"),
        new SeedTask.Instance("x", ""), new SeedTask.Instance("x:", "y"), new SeedTask.Instance("", "ends:"),
        new SeedTask.Instance("", "fine"), new SeedTask.Instance("", "cut off")), true);
    List<String> reasons = v.stream().map(x -> x instanceof Verdict.Dropped d ? d.reason() : "kept").toList();
    assertEquals(List.of("kept", InstanceRules.DUPLICATE, InstanceRules.INPUT_EQUALS_OUTPUT,
        InstanceRules.EMPTY_OUTPUT, InstanceRules.ENDS_WITH_COLON, InstanceRules.ENDS_WITH_COLON, "kept",
        InstanceRules.TRUNCATED), reasons);
    List<Verdict> conflict = g.verdicts(List.of(new SeedTask.Instance("a", "1"), new SeedTask.Instance("b", "2"),
        new SeedTask.Instance("a", "3")), false);
    assertTrue(conflict.stream().allMatch(x -> ((Verdict.Dropped) x).reason().equals(InstanceRules.CONFLICT)));
    List<SeedTask.Instance> many = new ArrayList<>();
    for (int i = 0; i < 7; i++) {
      many.add(new SeedTask.Instance("i" + i, "o" + i));
    }
    List<Verdict> capped = g.verdicts(many, false);
    assertEquals(5, capped.stream().filter(x -> x instanceof Verdict.Kept).count());
    assertEquals(InstanceRules.OVER_MAX, ((Verdict.Dropped) capped.get(6)).reason());
  }

  /** Issue 19 (reference order): invalid instances go first, so they take no part in a conflict. */
  @Test
  void invalidInstancesAreRemovedBeforeTheConflictCheck() {
    InstanceRules g = SelfInstructTest.generator(1).instanceRules();
    List<String> one = g.verdicts(List.of(new SeedTask.Instance("a", "1"), new SeedTask.Instance("a", ""),
        new SeedTask.Instance("b", "2")), false).stream().map(v -> v instanceof Verdict.Dropped d ? d.reason() : "kept").toList();
    assertEquals(List.of("kept", InstanceRules.EMPTY_OUTPUT, "kept"), one, "one empty output no longer wipes out the task");
    List<String> colon = g.verdicts(List.of(new SeedTask.Instance("a", "1"), new SeedTask.Instance("a", "2:")),
        false).stream().map(v -> v instanceof Verdict.Dropped d ? d.reason() : "kept").toList();
    assertEquals(List.of("kept", InstanceRules.ENDS_WITH_COLON), colon);
    List<String> real = g.verdicts(List.of(new SeedTask.Instance("a", "1"), new SeedTask.Instance("a", "2"),
        new SeedTask.Instance("c", "c")), false).stream().map(v -> v instanceof Verdict.Dropped d ? d.reason() : "kept").toList();
    assertEquals(List.of(InstanceRules.CONFLICT, InstanceRules.CONFLICT, InstanceRules.INPUT_EQUALS_OUTPUT), real);
  }

  @Test
  void theOrderFollowsTheClassificationAnswerAndParsesItsOwnFormat() {
    assertEquals(InstanceRules.Order.OUTPUT_FIRST, InstanceRules.Order.of(true));
    assertEquals(InstanceRules.Order.INPUT_FIRST, InstanceRules.Order.of(false));
    assertEquals(SelfInstruct.T_OUTPUT_FIRST, InstanceRules.Order.OUTPUT_FIRST.templateId());
    assertEquals("input_first", InstanceRules.Order.INPUT_FIRST.id());
    List<SeedTask.Instance> zh = InstanceRules.Order.INPUT_FIRST.parse("Example 1\nInput: 秋天\nOutput: 落叶知秋\n"
        + "Example 2\nInput: 秋天\nOutput: 落叶知秋");
    assertEquals(List.of(new SeedTask.Instance("秋天", "落叶知秋"), new SeedTask.Instance("秋天", "落叶知秋")), zh);
    assertEquals(List.of(Verdict.KEPT, new Verdict.Dropped(InstanceRules.FILTER, InstanceRules.DUPLICATE, java.util.Map.of())),
        new InstanceRules(5).verdicts(zh, false));
    assertEquals(List.of(new SeedTask.Instance("Win money now", "Spam")),
        InstanceRules.Order.OUTPUT_FIRST.parse("Class label: Spam\nInput: Win money now"));
    assertThrows(IllegalArgumentException.class, () -> new InstanceRules(0));
  }
}
