package io.instructflow.generators.selfinstruct;

import io.instructflow.filters.instruction.PyText;
import io.instructflow.schemas.Verdict;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The instances of a Self-Instruct task: in which order the model writes them (input-first, or
 * output-first for a classification task), and which of those it wrote are kept.
 *
 * <p>The rules run in the reference's order ({@code prepare_for_finetuning.py}), each drop with filter
 * id {@value #FILTER}: the last instance of a response cut by the token limit ({@value #TRUNCATED});
 * then the invalid ones: input equal to output ({@value #INPUT_EQUALS_OUTPUT}), empty output
 * ({@value #EMPTY_OUTPUT}), input or output ending with ':' ({@value #ENDS_WITH_COLON}); then, among the
 * rest, all of them when two share a non-empty input but differ in output ({@value #CONFLICT}), exact
 * repeats ({@value #DUPLICATE}), and those beyond {@code maxInstances} kept ({@value #OVER_MAX}). A
 * response with no instance in it gives one record with {@value #NONE_PARSED}. The ids are stored in
 * {@code filtered/} records, so they never change.
 *
 * {@code List<Verdict> v = new InstanceRules(5).verdicts(InstanceRules.Order.INPUT_FIRST.parse(text), false);}
 */
public final class InstanceRules implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Filter: the instances of a task. */
  public static final String FILTER = "instances";
  /** The model's instance response held no instance. */
  public static final String NONE_PARSED = "instances.none_parsed";
  /** The last instance of a response cut by the token limit (details: finish_reason). */
  public static final String TRUNCATED = "instances.truncated";
  /** Two instances with the same non-empty input and different outputs: all of the task's are dropped. */
  public static final String CONFLICT = "instances.same_input_different_output";
  /** An exact repeat of an earlier instance of the task. */
  public static final String DUPLICATE = "instances.duplicate";
  /** Input identical to output. */
  public static final String INPUT_EQUALS_OUTPUT = "instances.input_equals_output";
  /** Empty output. */
  public static final String EMPTY_OUTPUT = "instances.empty_output";
  /** Input or output ending with ':' (usually an unfinished generation). */
  public static final String ENDS_WITH_COLON = "instances.ends_with_colon";
  /** Beyond {@code maxInstances} kept instances (details: max). */
  public static final String OVER_MAX = "instances.over_max";

  /** In which order the model writes a task's instances, chosen by the classification check. */
  public enum Order {
    /** An input, then its output: tasks that are not classification. */
    INPUT_FIRST("input_first", SelfInstruct.T_INPUT_FIRST),
    /** A class label, then an input of that class: classification tasks, so labels stay balanced. */
    OUTPUT_FIRST("output_first", SelfInstruct.T_OUTPUT_FIRST);

    private final String id;
    private final String templateId;

    Order(String id, String templateId) {
      this.id = id;
      this.templateId = templateId;
    }

    /** The order for a task the classification check answered {@code classification} for. */
    public static Order of(boolean classification) {
      return classification ? OUTPUT_FIRST : INPUT_FIRST;
    }

    /** The order's name in provenance ({@code input_first}, {@code output_first}). */
    public String id() {
      return id;
    }

    /** The id of its instance-generation template. */
    public String templateId() {
      return templateId;
    }

    /** The instances of a response written in this order ({@link InstanceParser}). */
    public List<SeedTask.Instance> parse(String text) {
      return this == OUTPUT_FIRST ? InstanceParser.outputFirst(text) : InstanceParser.inputFirst(text);
    }

    /**
     * The few-shot block of its prompt: the first 8 seed tasks of the kind (classification for
     * output-first) that have instances, up to 2 instances each, in this order.
     */
    public String examples(List<SeedTask> seeds) {
      boolean classification = this == OUTPUT_FIRST;
      StringBuilder b = new StringBuilder();
      int shown = 0;
      for (SeedTask s : seeds) {
        if (s.classification() != classification || s.instances().isEmpty() || shown >= 8) {
          continue;
        }
        shown++;
        b.append("Task: ").append(PyText.strip(s.instruction())).append('\n');
        List<SeedTask.Instance> inst = s.instances().subList(0, Math.min(2, s.instances().size()));
        for (int i = 0; i < inst.size(); i++) {
          SeedTask.Instance x = inst.get(i);
          if (classification) {
            b.append("Class label: ").append(PyText.strip(x.output())).append('\n');
            if (!x.input().isBlank()) {
              b.append("Input: ").append(PyText.strip(x.input())).append('\n');
            }
          } else {
            b.append("Example ").append(i + 1).append('\n');
            if (!x.input().isBlank()) {
              b.append("Input: ").append(PyText.strip(x.input())).append('\n');
            }
            b.append("Output: ").append(PyText.strip(x.output())).append('\n');
          }
        }
        b.append('\n');
      }
      return b.toString();
    }
  }

  private final int maxInstances;

  /** @param maxInstances instances kept per task, at least 1 */
  public InstanceRules(int maxInstances) {
    if (maxInstances < 1) {
      throw new IllegalArgumentException("max instances must be positive, got " + maxInstances);
    }
    this.maxInstances = maxInstances;
  }

  /** Instances kept per task. */
  public int maxInstances() {
    return maxInstances;
  }

  /**
   * The verdict of each parsed instance, in order (see the class comment for the rules and their
   * order). An invalid instance never takes part in a conflict, so one empty output does not wipe out a
   * task's good instances (issue 19).
   *
   * @param parsed the instances of one response, in the order written
   * @param truncated whether the response stopped at the token limit
   */
  public List<Verdict> verdicts(List<SeedTask.Instance> parsed, boolean truncated) {
    int n = parsed.size();
    Verdict[] v = new Verdict[n];
    int live = n;
    if (truncated && n > 0) {
      v[n - 1] = new Verdict.Dropped(FILTER, TRUNCATED, Map.of("finish_reason", "length"));
      live = n - 1;
    }
    List<Integer> valid = new ArrayList<>();
    for (int i = 0; i < live; i++) {
      SeedTask.Instance x = parsed.get(i);
      if (x.input().equals(x.output())) {
        v[i] = new Verdict.Dropped(FILTER, INPUT_EQUALS_OUTPUT, Map.of());
      } else if (x.output().isEmpty()) {
        v[i] = new Verdict.Dropped(FILTER, EMPTY_OUTPUT, Map.of());
      } else if (PyText.strip(x.input()).endsWith(":") || PyText.strip(x.output()).endsWith(":")) {
        v[i] = new Verdict.Dropped(FILTER, ENDS_WITH_COLON, Map.of());
      } else {
        valid.add(i);
      }
    }
    boolean conflict = false;
    for (int a = 1; a < valid.size() && !conflict; a++) {
      for (int b = 0; b < a; b++) {
        SeedTask.Instance x = parsed.get(valid.get(a));
        SeedTask.Instance y = parsed.get(valid.get(b));
        if (!x.input().isEmpty() && x.input().equals(y.input()) && !x.output().equals(y.output())) {
          conflict = true;
          break;
        }
      }
    }
    Set<SeedTask.Instance> seen = new HashSet<>();
    int kept = 0;
    for (int i : valid) {
      SeedTask.Instance x = parsed.get(i);
      if (conflict) {
        v[i] = new Verdict.Dropped(FILTER, CONFLICT, Map.of());
      } else if (!seen.add(x)) {
        v[i] = new Verdict.Dropped(FILTER, DUPLICATE, Map.of());
      } else if (kept >= maxInstances) {
        v[i] = new Verdict.Dropped(FILTER, OVER_MAX, Map.of("max", maxInstances));
      } else {
        v[i] = Verdict.KEPT;
        kept++;
      }
    }
    return List.of(v);
  }
}
