package io.instructflow.generators.selfinstruct;

import io.instructflow.filters.instruction.InstructionRules;
import io.instructflow.filters.instruction.PyText;
import io.instructflow.filters.rouge.RougeGate;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.Seeds;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;

/**
 * The Self-Instruct generator (and its Alpaca variant) as plain functions of a round: plan the
 * prompts, parse and test what the model wrote, gate by ROUGE-L against the pool, classify, write and
 * test instances, and build the output records with their provenance. The Beam pipeline and
 * {@link Rounds} call the same functions, so what the unit tests check is what runs.
 *
 * <p>A round, for the {@code self-instruct} preset:
 *
 * <ol>
 *   <li>{@link #plan}: each prompt shows {@code seedExamples + machineExamples} instructions, up to
 *       {@code machineExamples} of them sampled from the machine-generated pool and the rest from the
 *       seeds, shuffled, as a numbered list the model continues.
 *   <li>{@link #candidates}: the continuation is split into tasks ({@link ListParser}) and each is tested
 *       by the {@link InstructionRules}; every task of a response cut by the token limit is dropped
 *       ({@value #TRUNCATED}), as the reference discards such responses.
 *   <li>{@link #gate}: in (prompt, item) order, a task whose ROUGE-L F against any pool instruction or
 *       any task kept before it is above the threshold is dropped ({@value #ROUGE_REASON}); a task it
 *       keeps joins the pool at once, with its {@link Similarity} to the pool.
 *   <li>{@link #classifyRequest}, {@link #instancesRequest}, {@link #complete}: a few-shot yes/no
 *       classification check, then instances written input-first (or output-first for classification
 *       tasks), parsed ({@link InstanceParser}) and tested; a task keeps up to {@code maxInstances}
 *       instances.
 * </ol>
 *
 * <p>The {@code alpaca} preset writes whole tasks (instruction, input, output) from 3 seed examples per
 * prompt, tests them with the Alpaca rules and the same ROUGE-L gate, and keeps them directly.
 *
 * <p>Everything random is drawn from generators seeded by {@link Seeds#derive} of the run seed and a
 * name of the draw (round, prompt), so a run's prompts, and with a deterministic engine its output, are
 * the same on every run, whatever the batching or the runner.
 */
public final class SelfInstruct implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Filter: the response was cut by the token limit. */
  public static final String TRUNCATED_FILTER = "response_truncated";
  /** A task from a response that stopped at the token limit. */
  public static final String TRUNCATED = "response_truncated.length";
  /** Filter: the ROUGE-L rule (the same id as the {@code dedup} command's). */
  public static final String ROUGE_FILTER = "rouge_l";
  /** ROUGE-L F above the threshold against an earlier instruction (details: score, matched_id, matched_text). */
  public static final String ROUGE_REASON = "rouge_l.near_duplicate";
  /** Filter: Alpaca piece without the three labelled fields. */
  public static final String FORMAT_FILTER = "task_format";
  /** A piece of an Alpaca response that is not {@code n. Instruction / n. Input / n. Output}. */
  public static final String FORMAT_MALFORMED = "task_format.malformed";
  /** Filter: the instances of a task. */
  public static final String INSTANCES_FILTER = "instances";
  /** The model's instance response held no instance. */
  public static final String INSTANCES_NONE = "instances.none_parsed";
  /** Every instance of the task was dropped by an instance rule. */
  public static final String INSTANCES_NONE_KEPT = "instances.none_kept";
  /** The last instance of a response cut by the token limit. */
  public static final String INSTANCE_TRUNCATED = "instances.truncated";
  /** Two instances with the same non-empty input and different outputs: all of the task's are dropped. */
  public static final String INSTANCE_CONFLICT = "instances.same_input_different_output";
  /** An exact repeat of an earlier instance of the task. */
  public static final String INSTANCE_DUPLICATE = "instances.duplicate";
  /** Input identical to output. */
  public static final String INSTANCE_SAME = "instances.input_equals_output";
  /** Empty output. */
  public static final String INSTANCE_EMPTY_OUTPUT = "instances.empty_output";
  /** Input or output ending with ':' (usually an unfinished generation). */
  public static final String INSTANCE_COLON = "instances.ends_with_colon";
  /** Beyond {@code maxInstances} kept instances. */
  public static final String INSTANCE_OVER_MAX = "instances.over_max";

  /** Provenance step names. */
  public static final String STEP_GENERATE = "self_instruct.generate";
  public static final String STEP_FILTER = "self_instruct.filter";
  public static final String STEP_CLASSIFY = "self_instruct.classify";
  public static final String STEP_INSTANCES = "self_instruct.instances";
  static final String VERSION = "1";

  /** Template ids. */
  public static final String T_INSTRUCTIONS = "self-instruct/instructions@1";
  /** The instruction prompt of the classification-only mode. */
  public static final String T_INSTRUCTIONS_CLF = "self-instruct/instructions-classification@1";
  public static final String T_CLASSIFY = "self-instruct/is-classification@1";
  public static final String T_INPUT_FIRST = "self-instruct/instances-input-first@1";
  public static final String T_OUTPUT_FIRST = "self-instruct/instances-output-first@1";
  public static final String T_ALPACA = "alpaca/tasks@1";

  /** The two presets. */
  public enum Preset {
    SELF_INSTRUCT("self-instruct"),
    ALPACA("alpaca");

    private final String id;

    Preset(String id) {
      this.id = id;
    }

    /** The preset's name on the command line and in provenance. */
    public String id() {
      return id;
    }

    /** The preset called {@code name}. */
    public static Preset named(String name) {
      for (Preset p : values()) {
        if (p.id.equals(name)) {
          return p;
        }
      }
      throw new IllegalArgumentException("unknown preset '" + name + "', expected self-instruct or alpaca");
    }
  }

  /**
   * What a run is configured with. {@link #defaults} gives the published settings of each preset.
   *
   * @param preset the algorithm
   * @param seed the run seed
   * @param promptsPerRound instruction-generation prompts per round
   * @param seedExamples seed instructions per prompt (when the machine pool has enough)
   * @param machineExamples machine instructions per prompt (fewer while the pool has fewer)
   * @param maxInstances instances kept per task
   * @param rougeThreshold drop at ROUGE-L F above this
   * @param tokenizer ROUGE-L tokenizer: {@code rouge} (the rouge_score package's, English) or
   *     {@code unicode} (also splits CJK text into characters)
   * @param rules the instruction rules
   * @param instructionParams sampling of instruction generation
   * @param classifyParams sampling of the classification check
   * @param instanceParams sampling of instance generation
   * @param alpacaTasks tasks asked for per Alpaca prompt
   * @param dataset dataset name written into each record's origin
   * @param license license written into each record's origin
   * @param classificationOnly the reference's {@code --use_clf_seed_tasks_only}: prompts show only the
   *     classification seed tasks, under a header asking for classification tasks, and the ROUGE-L pool's
   *     seeds are those tasks (self-instruct preset only)
   */
  public record Settings(Preset preset, long seed, int promptsPerRound, int seedExamples, int machineExamples,
      int maxInstances, double rougeThreshold, String tokenizer, InstructionRules rules,
      SamplingParams instructionParams, SamplingParams classifyParams, SamplingParams instanceParams, int alpacaTasks,
      String dataset, String license, boolean classificationOnly) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Settings {
      Objects.requireNonNull(preset, "preset");
      Objects.requireNonNull(rules, "rules");
      Objects.requireNonNull(instructionParams, "instructionParams");
      Objects.requireNonNull(classifyParams, "classifyParams");
      Objects.requireNonNull(instanceParams, "instanceParams");
      Objects.requireNonNull(dataset, "dataset");
      Objects.requireNonNull(license, "license");
      Tokenizer.named(tokenizer, false);
      if (seed < 0 || seed > Seeds.MAX) {
        throw new IllegalArgumentException("seed must be in [0, " + Seeds.MAX + "], got " + seed);
      }
      if (promptsPerRound < 1) {
        throw new IllegalArgumentException("prompts per round must be positive, got " + promptsPerRound);
      }
      if (seedExamples < 1 || machineExamples < 0) {
        throw new IllegalArgumentException(
            "examples per prompt: need >= 1 seed and >= 0 machine, got " + seedExamples + " and " + machineExamples);
      }
      if (maxInstances < 1) {
        throw new IllegalArgumentException("max instances must be positive, got " + maxInstances);
      }
      if (!(rougeThreshold > 0 && rougeThreshold <= 1)) {
        throw new IllegalArgumentException("ROUGE-L threshold must be in (0, 1], got " + rougeThreshold);
      }
      if (alpacaTasks < 2) {
        throw new IllegalArgumentException("Alpaca tasks per prompt must be at least 2, got " + alpacaTasks);
      }
      if (instructionParams.n() != 1 || classifyParams.n() != 1 || instanceParams.n() != 1) {
        throw new IllegalArgumentException("Self-Instruct asks for one completion per request (n = 1)");
      }
      if (classificationOnly && preset != Preset.SELF_INSTRUCT) {
        throw new IllegalArgumentException("classification-only prompting is the self-instruct preset's, not "
            + preset.id() + "'s");
      }
    }

    /**
     * The published settings: for {@code self-instruct}, 8 examples per prompt (6 seed + 2 machine),
     * temperature 0.7, top-p 0.5, up to 1024 tokens, stopping at a blank line or at task 16; a
     * classification check at temperature 0 in 3 tokens; instances greedy in up to 350 tokens, stopping
     * at a 6th example or a new task; 5 instances per task; ROUGE-L threshold 0.7. For {@code alpaca}:
     * 3 seed examples, 20 tasks per prompt, temperature 1.0, top-p 1.0, up to 3072 tokens, stopping at
     * task 20. The self-instruct reference's presence penalties are applied: 2 for instruction generation,
     * 1.5 for instances (its bootstrap_instructions.py and generate_instances.py); Alpaca's script uses none.
     */
    public static Settings defaults(Preset preset, long seed) {
      SamplingParams clf = new SamplingParams(3, 0, 1, 0, List.of("\n", "Task:"), 1);
      SamplingParams inst = new SamplingParams(350, 0, 1, 0, List.of("Example 6", "Task:"), 1);
      if (preset == Preset.ALPACA) {
        SamplingParams gen = new SamplingParams(3072, 1.0, 1.0, 0, List.of("\n20", "20."), 1);
        return new Settings(preset, seed, 20, 3, 0, 5, 0.7, "rouge", InstructionRules.alpaca(), gen, clf, inst, 20,
            "alpaca", "unknown", false);
      }
      SamplingParams gen = new SamplingParams(1024, 0.7, 0.5, 0, List.of("\n\n", "\n16", "16.", "16 ."), 1)
          .withPenalties(2, 0, 1);
      return new Settings(preset, seed, 20, 6, 2, 5, 0.7, "rouge", InstructionRules.selfInstruct(), gen, clf,
          inst.withPenalties(1.5, 0, 1), 20,
          "self-instruct", "unknown", false);
    }

    /** A copy with other prompts per round. */
    public Settings withPromptsPerRound(int n) {
      return new Settings(preset, seed, n, seedExamples, machineExamples, maxInstances, rougeThreshold, tokenizer, rules,
          instructionParams, classifyParams, instanceParams, alpacaTasks, dataset, license, classificationOnly);
    }

    /** A copy with other examples per prompt. */
    public Settings withExamples(int seeds, int machine) {
      return new Settings(preset, seed, promptsPerRound, seeds, machine, maxInstances, rougeThreshold, tokenizer, rules,
          instructionParams, classifyParams, instanceParams, alpacaTasks, dataset, license, classificationOnly);
    }

    /** A copy with other sampling. */
    public Settings withParams(SamplingParams instruction, SamplingParams classify, SamplingParams instances) {
      return new Settings(preset, seed, promptsPerRound, seedExamples, machineExamples, maxInstances, rougeThreshold,
          tokenizer, rules, instruction, classify, instances, alpacaTasks, dataset, license, classificationOnly);
    }

    /** A copy with other rules, tokenizer and threshold. */
    public Settings withFiltering(InstructionRules r, String tok, double threshold) {
      return new Settings(preset, seed, promptsPerRound, seedExamples, machineExamples, maxInstances, threshold, tok, r,
          instructionParams, classifyParams, instanceParams, alpacaTasks, dataset, license, classificationOnly);
    }

    /** A copy with another origin dataset name and license. */
    public Settings withOrigin(String datasetName, String licenseId) {
      return new Settings(preset, seed, promptsPerRound, seedExamples, machineExamples, maxInstances, rougeThreshold,
          tokenizer, rules, instructionParams, classifyParams, instanceParams, alpacaTasks, datasetName, licenseId, classificationOnly);
    }

    /** A copy that prompts with the classification seed tasks only (the reference's --use_clf_seed_tasks_only). */
    public Settings withClassificationOnly(boolean only) {
      return new Settings(preset, seed, promptsPerRound, seedExamples, machineExamples, maxInstances, rougeThreshold,
          tokenizer, rules, instructionParams, classifyParams, instanceParams, alpacaTasks, dataset, license, only);
    }

    /** The settings for the run summary. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("preset", preset.id());
      m.put("seed", seed);
      m.put("promptsPerRound", promptsPerRound);
      m.put("seedExamples", seedExamples);
      m.put("machineExamples", machineExamples);
      m.put("maxInstances", maxInstances);
      m.put("rougeThreshold", rougeThreshold);
      m.put("tokenizer", tokenizer);
      m.put("rules", rules.asMap());
      m.put("instructionParams", instructionParams.asMap());
      if (preset == Preset.SELF_INSTRUCT) {
        m.put("classifyParams", classifyParams.asMap());
        m.put("instanceParams", instanceParams.asMap());
      } else {
        m.put("alpacaTasks", alpacaTasks);
      }
      if (classificationOnly) {
        m.put("classificationOnly", true);
      }
      m.put("dataset", dataset);
      m.put("license", license);
      return m;
    }
  }

  private final Settings settings;
  private final List<SeedTask> allSeeds;
  private final List<SeedTask> seeds;
  private final Map<String, PromptTemplate> templates;
  private final String classifyExamples;
  private final String inputFirstExamples;
  private final String outputFirstExamples;

  /**
   * @param settings the configuration
   * @param seeds the seed file's tasks (at least {@code seedExamples} of them, classification tasks in
   *     the classification-only mode); all of them give the few-shot examples of the classification
   *     check and the instance prompts
   * @param templates folder of template overrides, or null for the built-in ones
   * @throws IllegalArgumentException on too few seeds or a template with the wrong placeholders
   */
  public SelfInstruct(Settings settings, List<SeedTask> seeds, Path templates) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.allSeeds = List.copyOf(seeds);
    this.seeds = settings.classificationOnly()
        ? this.allSeeds.stream().filter(SeedTask::classification).toList() : this.allSeeds;
    if (this.seeds.size() < settings.seedExamples()) {
      throw new IllegalArgumentException(String.format("the seed pool has %d %stask(s); each prompt shows %d seed "
          + "example(s)", this.seeds.size(), settings.classificationOnly() ? "classification " : "",
          settings.seedExamples()));
    }
    Map<String, PromptTemplate> t = new LinkedHashMap<>();
    try {
      if (settings.preset() == Preset.ALPACA) {
        t.put(T_ALPACA, PromptTemplate.load(T_ALPACA, templates).requirePlaceholders(Set.of("count", "examples", "next")));
      } else {
        String gen = instructionsTemplate();
        t.put(gen, PromptTemplate.load(gen, templates).requirePlaceholders(Set.of("examples", "next")));
        for (String id : List.of(T_CLASSIFY, T_INPUT_FIRST, T_OUTPUT_FIRST)) {
          t.put(id, PromptTemplate.load(id, templates).requirePlaceholders(Set.of("examples", "instruction")));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading prompt templates: " + e.getMessage(), e);
    }
    this.templates = Collections.unmodifiableMap(t);
    this.classifyExamples = classifyExamples(this.allSeeds);
    this.inputFirstExamples = instanceExamples(this.allSeeds, false);
    this.outputFirstExamples = instanceExamples(this.allSeeds, true);
  }

  /** The configuration. */
  public Settings settings() {
    return settings;
  }

  /**
   * The seed pool: the seed tasks the prompts sample and the ROUGE-L rule compares with (in the
   * classification-only mode, the classification ones).
   */
  public List<SeedTask> seeds() {
    return seeds;
  }

  /** The id of the instruction-generation template of the self-instruct preset in this mode. */
  String instructionsTemplate() {
    return settings.classificationOnly() ? T_INSTRUCTIONS_CLF : T_INSTRUCTIONS;
  }

  /**
   * What the seed file lacks when {@code unlabeled} of its tasks have no {@code is_classification}
   * (they count as not classification), for a warning; empty when nothing is missing or the preset
   * does not classify. It names what the classification check's few-shot examples (12 classification
   * and 19 other seed tasks in the reference) and the output-first instance prompt (up to 8 worked
   * classification tasks) will show.
   */
  public java.util.Optional<String> classificationWarning(int unlabeled) {
    if (unlabeled == 0 || settings.preset() != Preset.SELF_INSTRUCT) {
      return java.util.Optional.empty();
    }
    long clf = allSeeds.stream().filter(SeedTask::classification).count();
    long other = allSeeds.size() - clf;
    long worked = Math.min(8, allSeeds.stream().filter(x -> x.classification() && !x.instances().isEmpty()).count());
    return java.util.Optional.of(String.format(java.util.Locale.ROOT, "%d of %d seed task(s) have no is_classification "
        + "and count as not classification: the classification check's few-shot prompt shows %d of its 12 "
        + "classification examples (and %d of 19 others), so it will rarely answer yes; the output-first instance "
        + "prompt for classification tasks shows %d of up to 8 worked examples%s", unlabeled, allSeeds.size(),
        Math.min(12, clf), Math.min(19, other), worked,
        settings.classificationOnly() ? "; the classification-only mode prompts with the " + clf + " marked task(s)" : ""));
  }

  /** The templates in use, by id. */
  public Map<String, PromptTemplate> templates() {
    return templates;
  }

  // ---- few-shot blocks, fixed by the seed pool -------------------------------------------------

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

  /** Worked examples: the first 8 seed tasks of the kind that have instances, up to 2 instances each. */
  private static String instanceExamples(List<SeedTask> seeds, boolean classification) {
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

  // ---- step 1: prompts -------------------------------------------------------------------------

  /**
   * The instruction-generation prompts of round {@code round} (1-based), given the machine-generated
   * pool so far (in the order it was kept).
   */
  public List<PromptSpec> plan(int round, List<PoolEntry> machine) {
    List<PromptSpec> out = new ArrayList<>(settings.promptsPerRound());
    for (int i = 0; i < settings.promptsPerRound(); i++) {
      Random rng = new Random(Seeds.derive(settings.seed(), "plan/round-" + round + "/prompt-" + i));
      long seed = Seeds.derive(settings.seed(), "generate/round-" + round + "/prompt-" + i);
      out.add(settings.preset() == Preset.ALPACA ? alpacaPrompt(round, i, rng, seed) : prompt(round, i, machine, rng, seed));
    }
    return out;
  }

  private PromptSpec prompt(int round, int index, List<PoolEntry> machine, Random rng, long seed) {
    int fromMachine = Math.min(settings.machineExamples(), machine.size());
    int fromSeeds = Math.min(settings.seedExamples() + settings.machineExamples() - fromMachine, seeds.size());
    List<PoolEntry> shown = new ArrayList<>(sample(machine, fromMachine, rng));
    for (SeedTask s : sample(seeds, fromSeeds, rng)) {
      shown.add(PoolEntry.of(s));
    }
    Collections.shuffle(shown, rng);
    StringBuilder list = new StringBuilder();
    List<String> parents = new ArrayList<>();
    for (int k = 0; k < shown.size(); k++) {
      list.append(k + 1).append(". ").append(promptInstruction(shown.get(k).instruction())).append('\n');
      parents.add(shown.get(k).id());
    }
    String prompt = templates.get(instructionsTemplate()).render(
        Map.of("examples", list.toString(), "next", Integer.toString(shown.size() + 1)));
    return new PromptSpec(round, index, prompt, parents, fromMachine, seed);
  }

  private PromptSpec alpacaPrompt(int round, int index, Random rng, long seed) {
    List<SeedTask> shown = sample(seeds, settings.seedExamples(), rng);
    StringBuilder list = new StringBuilder();
    List<String> parents = new ArrayList<>();
    for (int k = 0; k < shown.size(); k++) {
      SeedTask s = shown.get(k);
      SeedTask.Instance x = s.instances().isEmpty() ? new SeedTask.Instance("", "") : s.instances().get(0);
      int n = k + 1;
      list.append("###\n").append(n).append(". Instruction: ").append(promptInstruction(s.instruction())).append('\n')
          .append(n).append(". Input:\n").append(x.input().isEmpty() ? "<noinput>" : x.input()).append('\n')
          .append(n).append(". Output:\n").append(x.output()).append('\n');
      parents.add(s.taskId());
    }
    String prompt = templates.get(T_ALPACA).render(Map.of("count", Integer.toString(settings.alpacaTasks()),
        "examples", list.toString(), "next", Integer.toString(shown.size() + 1)));
    return new PromptSpec(round, index, prompt, parents, 0, seed);
  }

  /**
   * An example instruction as both references write it into a prompt: every run of whitespace made one
   * space, stripped, trailing colons dropped ({@code re.sub(r"\s+", " ", s).strip().rstrip(":")}).
   */
  public static String promptInstruction(String instruction) {
    String text = PyText.collapse(instruction);
    int end = text.length();
    while (end > 0 && text.charAt(end - 1) == ':') {
      end--;
    }
    return text.substring(0, end);
  }

  /** {@code k} distinct elements drawn uniformly, in draw order (a partial Fisher-Yates shuffle). */
  static <T> List<T> sample(List<T> from, int k, Random rng) {
    List<T> pool = new ArrayList<>(from);
    List<T> out = new ArrayList<>(k);
    for (int i = 0; i < k; i++) {
      int j = i + rng.nextInt(pool.size() - i);
      Collections.swap(pool, i, j);
      out.add(pool.get(i));
    }
    return out;
  }

  /** The request of a prompt. */
  public GenerationRequest request(PromptSpec p) {
    return GenerationRequest.text(p.requestId(), p.prompt(), settings.instructionParams(), p.seed());
  }

  // ---- step 2: parse and test ------------------------------------------------------------------

  /**
   * The tasks of a successful response, each with the verdict of the cheap rules (the ROUGE-L rule
   * comes in {@link #gate}).
   */
  public List<Candidate> candidates(PromptSpec p, GenerationResult res) {
    if (!res.ok()) {
      throw new IllegalArgumentException("request " + res.requestId() + " failed: route it to the rejects, not here");
    }
    Completion c = res.choices().get(0);
    boolean truncated = c.finishReason() == FinishReason.LENGTH;
    String finish = c.finishReason().name().toLowerCase(java.util.Locale.ROOT);
    List<Candidate> out = new ArrayList<>();
    if (settings.preset() == Preset.ALPACA) {
      List<AlpacaParser.Task> tasks = AlpacaParser.parse(c.text(), p.parents().size() + 1);
      for (int i = 0; i < tasks.size(); i++) {
        AlpacaParser.Task t = tasks.get(i);
        boolean cut = truncated && i == tasks.size() - 1;
        if (!t.wellFormed()) {
          Verdict v = cut ? truncatedVerdict() : new Verdict.Dropped(FORMAT_FILTER, FORMAT_MALFORMED, Map.of());
          out.add(new Candidate(p.round(), p.index(), i, PyText.collapse(t.raw()), null, null, v, p.parents(), p.seed(),
              finish, null));
          continue;
        }
        String instruction = settings.rules().normalize(t.instruction());
        Verdict v = cut ? truncatedVerdict() : settings.rules().test(instruction);
        if (instruction.isEmpty()) {
          instruction = PyText.collapse(t.raw());
        }
        out.add(new Candidate(p.round(), p.index(), i, instruction, t.input(), t.output(), v, p.parents(), p.seed(),
            finish, null));
      }
      return out;
    }
    ListParser.Items items = ListParser.parse(c.text());
    for (int i = 0; i < items.items().size(); i++) {
      String instruction = settings.rules().normalize(items.items().get(i));
      Verdict v = truncated ? truncatedVerdict() : settings.rules().test(instruction);
      out.add(new Candidate(p.round(), p.index(), i, instruction, null, null, v, p.parents(), p.seed(), finish, null));
    }
    return out;
  }

  private static Verdict truncatedVerdict() {
    return new Verdict.Dropped(TRUNCATED_FILTER, TRUNCATED, Map.of("finish_reason", "length"));
  }

  // ---- step 3: ROUGE-L gate --------------------------------------------------------------------

  /**
   * Applies the ROUGE-L rule to a round's candidates in (prompt, item) order: a candidate that passed
   * the cheap rules is dropped when its F against a pool instruction or an earlier kept candidate is
   * above the threshold, else it joins the comparison set, and with it the pool (the machine-task list,
   * at once, as in the reference and the paper's §2.3: whatever becomes of its instances, a later task
   * is compared with it) and carries its {@link Similarity} to the pool it was checked against. Returns
   * the candidates in that order.
   */
  public List<Candidate> gate(List<Candidate> candidates, List<PoolEntry> pool) {
    List<Candidate> ordered = new ArrayList<>(candidates);
    ordered.sort(java.util.Comparator.comparingInt(Candidate::prompt).thenComparingInt(Candidate::item));
    List<Candidate> live = new ArrayList<>();
    List<String> texts = new ArrayList<>();
    for (Candidate c : ordered) {
      if (c.kept()) {
        live.add(c);
        texts.add(c.instruction());
      }
    }
    List<String> poolTexts = new ArrayList<>();
    pool.forEach(e -> poolTexts.add(e.instruction()));
    List<RougeGate.Drop> drops = new RougeGate(settings.rougeThreshold(), Tokenizer.named(settings.tokenizer(), false))
        .apply(texts, poolTexts);
    Map<Candidate, Verdict> dropped = new java.util.IdentityHashMap<>();
    for (int i = 0; i < live.size(); i++) {
      RougeGate.Drop d = drops.get(i);
      if (d != null) {
        String id = d.inPool() ? pool.get(d.index()).id() : live.get(d.index()).taskId();
        String text = d.inPool() ? pool.get(d.index()).instruction() : live.get(d.index()).instruction();
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("score", d.score());
        details.put("threshold", settings.rougeThreshold());
        details.put("matched_id", id);
        details.put("matched_text", text);
        dropped.put(live.get(i), new Verdict.Dropped(ROUGE_FILTER, ROUGE_REASON, details));
      }
    }
    // the kept ones' scores against everything they were checked against: the pool, then the earlier kept
    PoolScores scores = new PoolScores(Tokenizer.named(settings.tokenizer(), false), poolTexts);
    Map<Candidate, Similarity> similar = new java.util.IdentityHashMap<>();
    for (Candidate c : live) {
      if (!dropped.containsKey(c)) {
        similar.put(c, scores.score(c.instruction()));
        scores.add(c.instruction());
      }
    }
    List<Candidate> out = new ArrayList<>(ordered.size());
    for (Candidate c : ordered) {
      Verdict v = dropped.get(c);
      out.add(v != null ? c.withVerdict(v) : similar.containsKey(c) ? c.withSimilarity(similar.get(c)) : c);
    }
    return out;
  }

  // ---- step 4: classification and instances ------------------------------------------------------

  /** The classification-check request of a kept candidate. */
  public GenerationRequest classifyRequest(Candidate c) {
    String prompt = templates.get(T_CLASSIFY).render(
        Map.of("examples", classifyExamples, "instruction", PyText.collapse(c.instruction())));
    return GenerationRequest.text("classify/" + c.taskId(), prompt, settings.classifyParams(),
        Seeds.derive(settings.seed(), "classify/" + c.taskId()));
  }

  /** Whether the classification answer says yes: its first word, in any case. */
  public static boolean isYes(String answer) {
    List<String> words = PyText.split(answer.replaceAll("[^\\p{L}\\p{N}]+", " "));
    return !words.isEmpty() && words.get(0).equalsIgnoreCase("yes");
  }

  /** The instance-generation request of a kept candidate: output-first when it is a classification task. */
  public GenerationRequest instancesRequest(Candidate c, boolean classification) {
    String id = classification ? T_OUTPUT_FIRST : T_INPUT_FIRST;
    String prompt = templates.get(id).render(Map.of("examples", classification ? outputFirstExamples : inputFirstExamples,
        "instruction", PyText.strip(c.instruction())));
    return GenerationRequest.text("instances/" + c.taskId(), prompt, settings.instanceParams(),
        Seeds.derive(settings.seed(), "instances/" + c.taskId()));
  }

  /**
   * The verdict of each parsed instance, in order, in the reference's order of filters
   * ({@code prepare_for_finetuning.py}): the last one dropped when the response was cut; then the
   * invalid ones: input equal to output, empty output, or a trailing ':'; then, among the rest, all
   * dropped on a same-input, different-output conflict (the model does not know the task); repeats
   * dropped; beyond {@code maxInstances} kept, dropped. An invalid instance never takes part in a
   * conflict, so one empty output does not wipe out a task's good instances (issue 19).
   */
  public List<Verdict> instanceVerdicts(List<SeedTask.Instance> parsed, boolean truncated) {
    int n = parsed.size();
    Verdict[] v = new Verdict[n];
    int live = n;
    if (truncated && n > 0) {
      v[n - 1] = new Verdict.Dropped(INSTANCES_FILTER, INSTANCE_TRUNCATED, Map.of("finish_reason", "length"));
      live = n - 1;
    }
    List<Integer> valid = new ArrayList<>();
    for (int i = 0; i < live; i++) {
      SeedTask.Instance x = parsed.get(i);
      if (x.input().equals(x.output())) {
        v[i] = new Verdict.Dropped(INSTANCES_FILTER, INSTANCE_SAME, Map.of());
      } else if (x.output().isEmpty()) {
        v[i] = new Verdict.Dropped(INSTANCES_FILTER, INSTANCE_EMPTY_OUTPUT, Map.of());
      } else if (PyText.strip(x.input()).endsWith(":") || PyText.strip(x.output()).endsWith(":")) {
        v[i] = new Verdict.Dropped(INSTANCES_FILTER, INSTANCE_COLON, Map.of());
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
        v[i] = new Verdict.Dropped(INSTANCES_FILTER, INSTANCE_CONFLICT, Map.of());
      } else if (!seen.add(x)) {
        v[i] = new Verdict.Dropped(INSTANCES_FILTER, INSTANCE_DUPLICATE, Map.of());
      } else if (kept >= settings.maxInstances()) {
        v[i] = new Verdict.Dropped(INSTANCES_FILTER, INSTANCE_OVER_MAX, Map.of("max", settings.maxInstances()));
      } else {
        v[i] = Verdict.KEPT;
        kept++;
      }
    }
    return List.of(v);
  }

  /**
   * What became of one task after the model's answers.
   *
   * @param kept records for {@code data/} (one per kept instance; for Alpaca the task itself)
   * @param filtered records for {@code filtered/}
   * @param entry the task's pool entry when it passed the ROUGE-L gate (it joined the pool then, whatever
   *     became of its instances), else null
   */
  public record Outcome(List<Example> kept, List<Example> filtered, PoolEntry entry) {
    public Outcome {
      kept = List.copyOf(kept);
      filtered = List.copyOf(filtered);
    }
  }

  /** The outcome of a candidate the rules dropped (its one filtered record). */
  public Outcome dropped(Candidate c, ModelRef model) {
    Provenance p = generated(c, model).plus(filterStep(c));
    Map<String, Object> meta = meta(c, null);
    return new Outcome(List.of(), List.of(Example.single(c.instruction(), c.input(), c.output(), meta, p)), null);
  }

  /** The outcome of an Alpaca task that passed every rule: kept as written. */
  public Outcome keptAlpaca(Candidate c, ModelRef model) {
    if (settings.preset() != Preset.ALPACA || !c.kept()) {
      throw new IllegalStateException("keptAlpaca takes a kept Alpaca candidate, got " + c.location());
    }
    Provenance p = generated(c, model).plus(filterStep(c));
    Example e = Example.single(c.instruction(), emptyToNull(c.input()), c.output(), meta(c, null), p);
    return new Outcome(List.of(e), List.of(), c.poolEntry());
  }

  /**
   * The outcome of a kept Self-Instruct candidate given its classification and instance responses
   * (both successful).
   */
  public Outcome complete(Candidate c, GenerationResult classify, GenerationResult instances, ModelRef model) {
    if (!classify.ok() || !instances.ok()) {
      throw new IllegalArgumentException("task " + c.location() + ": failed requests go to the rejects");
    }
    String answer = classify.choices().get(0).text();
    boolean clf = isYes(answer);
    Completion ic = instances.choices().get(0);
    boolean truncated = ic.finishReason() == FinishReason.LENGTH;
    List<SeedTask.Instance> parsed = clf ? InstanceParser.outputFirst(ic.text()) : InstanceParser.inputFirst(ic.text());
    GenerationRequest creq = classifyRequest(c);
    GenerationRequest ireq = instancesRequest(c, clf);
    Map<String, Object> cp = new LinkedHashMap<>();
    cp.put("answer", answer);
    cp.put("is_classification", clf);
    cp.put("sampling", settings.classifyParams().asMap());
    Step classifyStep = new Step(STEP_CLASSIFY, VERSION, cp, Verdict.KEPT, List.of(), null, model,
        templates.get(T_CLASSIFY).ref(), creq.seed());
    Provenance base = generated(c, model).plus(filterStep(c)).plus(classifyStep);
    Map<String, Object> meta = meta(c, clf);
    List<Verdict> verdicts = instanceVerdicts(parsed, truncated);
    long keptCount = verdicts.stream().filter(v -> v instanceof Verdict.Kept).count();
    List<Example> kept = new ArrayList<>();
    List<Example> filtered = new ArrayList<>();
    String templateId = clf ? T_OUTPUT_FIRST : T_INPUT_FIRST;
    for (int i = 0; i < parsed.size(); i++) {
      SeedTask.Instance x = parsed.get(i);
      Map<String, Object> ip = instanceParams(clf, i, parsed.size(), keptCount, ic);
      Step st = new Step(STEP_INSTANCES, VERSION, ip, verdicts.get(i), List.of(c.taskId()), null, model,
          templates.get(templateId).ref(), ireq.seed());
      Example e = Example.single(c.instruction(), emptyToNull(x.input()), x.output(), meta, base.plus(st));
      (verdicts.get(i) instanceof Verdict.Kept ? kept : filtered).add(e);
    }
    if (parsed.isEmpty()) {
      Map<String, Object> ip = instanceParams(clf, -1, 0, 0, ic);
      ip.put("response", ic.text());
      Step st = new Step(STEP_INSTANCES, VERSION, ip, new Verdict.Dropped(INSTANCES_FILTER, INSTANCES_NONE, Map.of()),
          List.of(), null, model, templates.get(templateId).ref(), ireq.seed());
      filtered.add(Example.single(c.instruction(), null, null, meta, base.plus(st)));
    }
    return new Outcome(kept, filtered, c.poolEntry());
  }

  private Map<String, Object> instanceParams(boolean clf, int index, int parsed, long kept, Completion ic) {
    Map<String, Object> ip = new LinkedHashMap<>();
    ip.put("order", clf ? "output_first" : "input_first");
    if (index >= 0) {
      ip.put("instance", index);
    }
    ip.put("parsed", parsed);
    ip.put("kept", kept);
    ip.put("max_instances", settings.maxInstances());
    ip.put("finish_reason", ic.finishReason().name().toLowerCase(java.util.Locale.ROOT));
    ip.put("sampling", settings.instanceParams().asMap());
    return ip;
  }

  private static String emptyToNull(String s) {
    return s == null || s.isEmpty() ? null : s;
  }

  private Map<String, Object> meta(Candidate c, Boolean clf) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("task_id", c.taskId());
    m.put("round", c.round());
    m.put("preset", settings.preset().id());
    if (clf != null) {
      m.put("is_classification", clf);
    }
    if (c.similarity() != null) {
      // the references' own keys: self-instruct's bootstrap_instructions.py writes most_similar, Alpaca's
      // generate_instruction.py most_similar_instructions; both avg_similarity_score
      m.put(settings.preset() == Preset.ALPACA ? "most_similar_instructions" : "most_similar", c.similarity().asMap());
      m.put("avg_similarity_score", c.similarity().average());
    }
    return m;
  }

  private Provenance generated(Candidate c, ModelRef model) {
    Origin origin = new Origin(settings.dataset(), settings.license(), c.location(), null, "generated", null);
    Map<String, Object> params = new LinkedHashMap<>();
    params.put("preset", settings.preset().id());
    params.put("round", c.round());
    params.put("prompt", c.prompt());
    params.put("item", c.item());
    params.put("examples", c.parents().size());
    params.put("finish_reason", c.finishReason());
    params.put("sampling", settings.instructionParams().asMap());
    String template = settings.preset() == Preset.ALPACA ? T_ALPACA : instructionsTemplate();
    Step gen = new Step(STEP_GENERATE, VERSION, params, Verdict.KEPT, c.parents(), null, model,
        templates.get(template).ref(), c.seed());
    return new Provenance(origin, List.of(gen));
  }

  private Step filterStep(Candidate c) {
    Map<String, Object> params = new LinkedHashMap<>();
    List<String> applied = new ArrayList<>();
    if (settings.preset() == Preset.ALPACA) {
      applied.add(FORMAT_FILTER);
    }
    applied.add(TRUNCATED_FILTER);
    applied.addAll(settings.rules().filterIds());
    applied.add(ROUGE_FILTER);
    params.put("filters", applied);
    params.put("rules", settings.rules().preset());
    params.put("rouge_threshold", settings.rougeThreshold());
    params.put("tokenizer", settings.tokenizer());
    return new Step(STEP_FILTER, VERSION, params, c.verdict(), List.of(), null, null, null, null);
  }
}
