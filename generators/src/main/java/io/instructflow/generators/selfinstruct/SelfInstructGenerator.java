package io.instructflow.generators.selfinstruct;

import io.instructflow.filters.instruction.PyText;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.Seeds;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

/**
 * The {@code self-instruct} preset (Wang et al. 2023): a round, after {@link SelfInstruct}'s shared steps,
 *
 * <ol>
 *   <li>{@link #plan}: each prompt shows {@code seedExamples + machineExamples} instructions, up to
 *       {@code machineExamples} of them sampled from the machine-generated pool and the rest from the
 *       seeds, shuffled, as a numbered list the model continues;
 *   <li>{@link #candidates}: the continuation is split into tasks ({@link ListParser}) and each is tested
 *       by the {@link io.instructflow.filters.instruction.InstructionRules}; every task of a response cut
 *       by the token limit is dropped ({@value SelfInstructReasons#TRUNCATED}), as the reference discards
 *       such responses;
 *   <li>{@link #gate}: the ROUGE-L rule;
 *   <li>{@link #classifyRequest}, {@link #instancesRequest}, {@link #complete}: a few-shot yes/no
 *       classification check, then instances written in the {@link InstanceRules.Order} it picks, parsed
 *       and tested by the {@link InstanceRules}; a task keeps up to {@code maxInstances} instances.
 * </ol>
 *
 * {@code SelfInstructGenerator gen = new SelfInstructGenerator(settings, seeds, null);}
 */
public final class SelfInstructGenerator extends SelfInstruct {
  private static final long serialVersionUID = 1L;

  private final InstanceRules instanceRules;
  private final String classifyExamples;
  private final String inputFirstExamples;
  private final String outputFirstExamples;

  /**
   * @param settings the configuration, of the {@code self-instruct} preset
   * @param seeds the seed file's tasks (at least {@code seedExamples} of them, classification tasks in
   *     the classification-only mode); all of them give the few-shot examples of the classification
   *     check and the instance prompts
   * @param templates folder of template overrides, or null for the built-in ones
   * @throws IllegalArgumentException on another preset, too few seeds or a template with the wrong
   *     placeholders
   */
  public SelfInstructGenerator(Settings settings, List<SeedTask> seeds, Path templates) {
    super(requirePreset(settings), seeds, templates, placeholders(settings));
    this.instanceRules = new InstanceRules(settings.maxInstances());
    this.classifyExamples = classifyExamples(allSeeds());
    this.inputFirstExamples = InstanceRules.Order.INPUT_FIRST.examples(allSeeds());
    this.outputFirstExamples = InstanceRules.Order.OUTPUT_FIRST.examples(allSeeds());
  }

  private static Settings requirePreset(Settings settings) {
    if (settings.preset() != Preset.SELF_INSTRUCT) {
      throw new IllegalArgumentException("the Self-Instruct generator takes the self-instruct preset, got "
          + settings.preset().id());
    }
    return settings;
  }

  private static Map<String, Set<String>> placeholders(Settings settings) {
    Map<String, Set<String>> m = new LinkedHashMap<>();
    m.put(instructionsTemplate(settings), Set.of("examples", "next"));
    for (String id : List.of(T_CLASSIFY, T_INPUT_FIRST, T_OUTPUT_FIRST)) {
      m.put(id, Set.of("examples", "instruction"));
    }
    return m;
  }

  /** The id of the instruction-generation template in this mode. */
  private static String instructionsTemplate(Settings settings) {
    return settings.classificationOnly() ? T_INSTRUCTIONS_CLF : T_INSTRUCTIONS;
  }

  @Override
  String generateTemplate() {
    return instructionsTemplate(settings());
  }

  /** The rules a task's instances are tested by. */
  public InstanceRules instanceRules() {
    return instanceRules;
  }

  /**
   * What the seed file lacks when {@code unlabeled} of its tasks have no {@code is_classification}
   * (they count as not classification), for a warning; empty when nothing is missing. It names what the
   * classification check's few-shot examples (12 classification and 19 other seed tasks in the
   * reference) and the output-first instance prompt (up to 8 worked classification tasks) will show.
   */
  @Override
  public Optional<String> classificationWarning(int unlabeled) {
    if (unlabeled == 0) {
      return Optional.empty();
    }
    List<SeedTask> all = allSeeds();
    long clf = all.stream().filter(SeedTask::classification).count();
    long other = all.size() - clf;
    long worked = Math.min(8, all.stream().filter(x -> x.classification() && !x.instances().isEmpty()).count());
    return Optional.of(String.format(Locale.ROOT, "%d of %d seed task(s) have no is_classification "
        + "and count as not classification: the classification check's few-shot prompt shows %d of its 12 "
        + "classification examples (and %d of 19 others), so it will rarely answer yes; the output-first instance "
        + "prompt for classification tasks shows %d of up to 8 worked examples%s", unlabeled, all.size(),
        Math.min(12, clf), Math.min(19, other), worked,
        settings().classificationOnly() ? "; the classification-only mode prompts with the " + clf + " marked task(s)" : ""));
  }

  /** The paper's 12 classification and 19 other seed tasks: the first of each kind in file order. */
  private static String classifyExamples(List<SeedTask> seeds) {
    StringBuilder b = new StringBuilder();
    int clf = 0;
    int other = 0;
    for (SeedTask s : seeds) {
      if (s.classification() ? clf++ < 12 : other++ < 19) {
        b.append("Task: ").append(PyText.collapse(s.instruction())).append("\nClassification: ")
            .append(s.classification() ? "Yes" : "No").append("\n\n");
      }
    }
    return b.toString();
  }

  // ---- step 1: prompts -------------------------------------------------------------------------

  @Override
  PromptSpec prompt(int round, int index, List<PoolEntry> machine, Random rng, long seed) {
    Settings settings = settings();
    int fromMachine = Math.min(settings.machineExamples(), machine.size());
    int fromSeeds = Math.min(settings.seedExamples() + settings.machineExamples() - fromMachine, seeds().size());
    List<PoolEntry> shown = new ArrayList<>(sample(machine, fromMachine, rng));
    for (SeedTask s : sample(seeds(), fromSeeds, rng)) {
      shown.add(PoolEntry.of(s));
    }
    Collections.shuffle(shown, rng);
    StringBuilder list = new StringBuilder();
    List<String> parents = new ArrayList<>();
    for (int k = 0; k < shown.size(); k++) {
      list.append(k + 1).append(". ").append(promptInstruction(shown.get(k).instruction())).append('\n');
      parents.add(shown.get(k).id());
    }
    String prompt = templates().get(generateTemplate()).render(
        Map.of("examples", list.toString(), "next", Integer.toString(shown.size() + 1)));
    return new PromptSpec(round, index, prompt, parents, fromMachine, seed);
  }

  // ---- step 2: parse and test ------------------------------------------------------------------

  @Override
  List<Candidate> parse(PromptSpec p, String text, boolean truncated, String finish) {
    List<Candidate> out = new ArrayList<>();
    ListParser.Items items = ListParser.parse(text);
    for (int i = 0; i < items.items().size(); i++) {
      String instruction = settings().rules().normalize(items.items().get(i));
      Verdict v = truncated ? truncatedVerdict() : settings().rules().test(instruction);
      out.add(new Candidate(p.round(), p.index(), i, instruction, null, null, v, p.parents(), p.seed(), finish, null));
    }
    return out;
  }

  // ---- step 4: classification and instances ------------------------------------------------------

  /** The classification-check request of a kept candidate. */
  public GenerationRequest classifyRequest(Candidate c) {
    String prompt = templates().get(T_CLASSIFY).render(
        Map.of("examples", classifyExamples, "instruction", PyText.collapse(c.instruction())));
    return GenerationRequest.text("classify/" + c.taskId(), prompt, settings().classifyParams(),
        Seeds.derive(settings().seed(), "classify/" + c.taskId()));
  }

  /** Whether the classification answer says yes: its first word, in any case. */
  public static boolean isYes(String answer) {
    List<String> words = PyText.split(answer.replaceAll("[^\\p{L}\\p{N}]+", " "));
    return !words.isEmpty() && words.get(0).equalsIgnoreCase("yes");
  }

  /** The instance-generation request of a kept candidate: output-first when it is a classification task. */
  public GenerationRequest instancesRequest(Candidate c, boolean classification) {
    InstanceRules.Order order = InstanceRules.Order.of(classification);
    String prompt = templates().get(order.templateId()).render(Map.of("examples",
        classification ? outputFirstExamples : inputFirstExamples, "instruction", PyText.strip(c.instruction())));
    return GenerationRequest.text("instances/" + c.taskId(), prompt, settings().instanceParams(),
        Seeds.derive(settings().seed(), "instances/" + c.taskId()));
  }

  /**
   * Classification then instances for the kept candidates, in batches of {@code batchSize}: one outcome
   * per candidate ({@link #complete}), null where a request failed (that failure is added to
   * {@code failures}).
   */
  @Override
  public List<Outcome> completeAll(LanguageModel model, ModelRef ref, List<Candidate> live, int batchSize,
      List<Rounds.Failure> failures) {
    List<GenerationRequest> creqs = new ArrayList<>();
    live.forEach(c -> creqs.add(classifyRequest(c)));
    List<GenerationResult> cres = Rounds.generate(model, creqs, batchSize);
    List<GenerationRequest> ireqs = new ArrayList<>();
    for (int i = 0; i < live.size(); i++) {
      if (cres.get(i).ok()) {
        ireqs.add(instancesRequest(live.get(i), isYes(cres.get(i).choices().get(0).text())));
      }
    }
    List<GenerationResult> ires = Rounds.generate(model, ireqs, batchSize);
    List<Outcome> out = new ArrayList<>();
    int k = 0;
    for (int i = 0; i < live.size(); i++) {
      Candidate c = live.get(i);
      if (!cres.get(i).ok()) {
        failures.add(new Rounds.Failure(creqs.get(i).id(), c.location(), cres.get(i), c));
        out.add(null);
        continue;
      }
      GenerationResult ir = ires.get(k++);
      if (!ir.ok()) {
        failures.add(new Rounds.Failure(ireqs.get(k - 1).id(), c.location(), ir, c));
        out.add(null);
        continue;
      }
      out.add(complete(c, cres.get(i), ir, ref));
    }
    return out;
  }

  /**
   * The outcome of a kept candidate given its classification and instance responses (both successful):
   * one record per parsed instance, with its {@link InstanceRules} verdict, or one filtered record
   * ({@value InstanceRules#NONE_PARSED}) when the response held none.
   */
  public Outcome complete(Candidate c, GenerationResult classify, GenerationResult instances, ModelRef model) {
    if (!classify.ok() || !instances.ok()) {
      throw new IllegalArgumentException("task " + c.location() + ": failed requests go to the rejects");
    }
    String answer = classify.choices().get(0).text();
    boolean clf = isYes(answer);
    InstanceRules.Order order = InstanceRules.Order.of(clf);
    Completion ic = instances.choices().get(0);
    boolean truncated = ic.finishReason() == FinishReason.LENGTH;
    List<SeedTask.Instance> parsed = order.parse(ic.text());
    GenerationRequest creq = classifyRequest(c);
    GenerationRequest ireq = instancesRequest(c, clf);
    Map<String, Object> cp = new LinkedHashMap<>();
    cp.put("answer", answer);
    cp.put("is_classification", clf);
    cp.put("sampling", settings().classifyParams().asMap());
    Step classifyStep = new Step(STEP_CLASSIFY, VERSION, cp, Verdict.KEPT, List.of(), null, model,
        templates().get(T_CLASSIFY).ref(), creq.seed());
    Provenance base = generated(c, model).plus(filterStep(c)).plus(classifyStep);
    Map<String, Object> meta = meta(c, clf);
    List<Verdict> verdicts = instanceRules.verdicts(parsed, truncated);
    long keptCount = verdicts.stream().filter(v -> v instanceof Verdict.Kept).count();
    List<Example> kept = new ArrayList<>();
    List<Example> filtered = new ArrayList<>();
    for (int i = 0; i < parsed.size(); i++) {
      SeedTask.Instance x = parsed.get(i);
      Map<String, Object> ip = instanceParams(order, i, parsed.size(), keptCount, ic);
      Step st = new Step(STEP_INSTANCES, VERSION, ip, verdicts.get(i), List.of(c.taskId()), null, model,
          templates().get(order.templateId()).ref(), ireq.seed());
      Example e = Example.single(c.instruction(), emptyToNull(x.input()), x.output(), meta, base.plus(st));
      (verdicts.get(i) instanceof Verdict.Kept ? kept : filtered).add(e);
    }
    if (parsed.isEmpty()) {
      Map<String, Object> ip = instanceParams(order, -1, 0, 0, ic);
      ip.put("response", ic.text());
      Step st = new Step(STEP_INSTANCES, VERSION, ip,
          new Verdict.Dropped(InstanceRules.FILTER, InstanceRules.NONE_PARSED, Map.of()),
          List.of(), null, model, templates().get(order.templateId()).ref(), ireq.seed());
      filtered.add(Example.single(c.instruction(), null, null, meta, base.plus(st)));
    }
    return new Outcome(kept, filtered, c.poolEntry());
  }

  private Map<String, Object> instanceParams(InstanceRules.Order order, int index, int parsed, long kept, Completion ic) {
    Map<String, Object> ip = new LinkedHashMap<>();
    ip.put("order", order.id());
    if (index >= 0) {
      ip.put("instance", index);
    }
    ip.put("parsed", parsed);
    ip.put("kept", kept);
    ip.put("max_instances", instanceRules.maxInstances());
    ip.put("finish_reason", ic.finishReason().name().toLowerCase(Locale.ROOT));
    ip.put("sampling", settings().instanceParams().asMap());
    return ip;
  }

  @Override
  String similarityKey() {
    return "most_similar";
  }

  @Override
  List<String> taskFilters() {
    return List.of();
  }
}
