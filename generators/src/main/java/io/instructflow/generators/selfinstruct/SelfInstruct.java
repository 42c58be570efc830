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
import io.instructflow.inference.LanguageModel;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

/**
 * A Self-Instruct generator as plain functions of a round: plan the prompts, parse and test what the
 * model wrote, gate by ROUGE-L against the pool, complete the tasks it keeps, and build the output
 * records with their provenance. The Beam pipeline and {@link Rounds} call the same functions, so what
 * the unit tests check is what runs. {@link #of} gives the generator of the settings' preset:
 *
 * <ul>
 *   <li>{@link SelfInstructGenerator} ({@code self-instruct}): numbered instruction lists, then a
 *       classification check and instances for each kept task ({@link InstanceRules});
 *   <li>{@link AlpacaGenerator} ({@code alpaca}): whole tasks (instruction, input, output) kept as
 *       written.
 * </ul>
 *
 * <p>What both share, here: a round's {@link #plan} (one prompt per {@code promptsPerRound}), the
 * {@link #request} of a prompt, the {@link #gate} (in (prompt, item) order, a task whose ROUGE-L F
 * against any pool instruction or any task kept before it is above the threshold is dropped with
 * {@value RougeGate#REASON}; a task it keeps joins the pool at once, with its {@link Similarity} to the
 * pool), the records of dropped tasks ({@link #dropped}) and the provenance of every record. The ids a
 * task is dropped with are {@link SelfInstructReasons}'.
 *
 * <p>Everything random is drawn from generators seeded by {@link Seeds#derive} of the run seed and a
 * name of the draw (round, prompt), so a run's prompts, and with a deterministic engine its output, are
 * the same on every run, whatever the batching or the runner.
 *
 * {@code SelfInstruct gen = SelfInstruct.of(Settings.defaults(Preset.SELF_INSTRUCT, 0), seeds, null);}
 */
public abstract sealed class SelfInstruct implements Serializable permits SelfInstructGenerator, AlpacaGenerator {
  private static final long serialVersionUID = 1L;

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

  /**
   * @param settings the configuration
   * @param seeds the seed file's tasks (at least {@code seedExamples} of them, classification tasks in
   *     the classification-only mode)
   * @param templates folder of template overrides, or null for the built-in ones
   * @param placeholders the templates the generator uses, in order, each with the placeholders it must
   *     have
   * @throws IllegalArgumentException on too few seeds or a template with the wrong placeholders
   */
  SelfInstruct(Settings settings, List<SeedTask> seeds, Path templates, Map<String, Set<String>> placeholders) {
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
      for (Map.Entry<String, Set<String>> p : placeholders.entrySet()) {
        t.put(p.getKey(), PromptTemplate.load(p.getKey(), templates).requirePlaceholders(p.getValue()));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading prompt templates: " + e.getMessage(), e);
    }
    this.templates = Collections.unmodifiableMap(t);
  }

  /**
   * The generator of {@code settings}' preset.
   *
   * @param settings the configuration
   * @param seeds the seed file's tasks (at least {@code seedExamples} of them, classification tasks in
   *     the classification-only mode); for {@code self-instruct} all of them give the few-shot examples
   *     of the classification check and the instance prompts
   * @param templates folder of template overrides, or null for the built-in ones
   * @throws IllegalArgumentException on too few seeds or a template with the wrong placeholders
   */
  public static SelfInstruct of(Settings settings, List<SeedTask> seeds, Path templates) {
    return switch (settings.preset()) {
      case SELF_INSTRUCT -> new SelfInstructGenerator(settings, seeds, templates);
      case ALPACA -> new AlpacaGenerator(settings, seeds, templates);
    };
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

  /** Every task of the seed file, whatever the mode. */
  List<SeedTask> allSeeds() {
    return allSeeds;
  }

  /** The templates in use, by id. */
  public Map<String, PromptTemplate> templates() {
    return templates;
  }

  /**
   * What the seed file lacks when {@code unlabeled} of its tasks have no {@code is_classification}, for
   * a warning; empty when nothing is missing or the generator does not classify.
   */
  public Optional<String> classificationWarning(int unlabeled) {
    return Optional.empty();
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
      out.add(prompt(round, i, machine, rng, seed));
    }
    return out;
  }

  /**
   * Prompt {@code index} of round {@code round}, its examples drawn with {@code rng}; {@code seed} is
   * its request's sampling seed.
   */
  abstract PromptSpec prompt(int round, int index, List<PoolEntry> machine, Random rng, long seed);

  /** The id of the instruction-generation template in use. */
  abstract String generateTemplate();

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
    return parse(p, c.text(), truncated, finish);
  }

  /**
   * The tasks of a response's text with their verdicts.
   *
   * @param truncated whether the response stopped at the token limit
   * @param finish its finish reason, for provenance
   */
  abstract List<Candidate> parse(PromptSpec p, String text, boolean truncated, String finish);

  /** The verdict of a task cut by the token limit. */
  static Verdict truncatedVerdict() {
    return new Verdict.Dropped(SelfInstructReasons.TRUNCATED_FILTER, SelfInstructReasons.TRUNCATED,
        Map.of("finish_reason", "length"));
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
        dropped.put(live.get(i), new Verdict.Dropped(RougeGate.FILTER, RougeGate.REASON, details));
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

  // ---- step 4: the kept tasks ------------------------------------------------------------------

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

  /**
   * The outcomes of the tasks the gate kept, in their order, asking {@code model} in batches of
   * {@code batchSize} where the generator needs more answers: one outcome per candidate, null where a
   * request failed (that failure is added to {@code failures}).
   *
   * @param ref the model named in provenance
   */
  public abstract List<Outcome> completeAll(LanguageModel model, ModelRef ref, List<Candidate> live, int batchSize,
      List<Rounds.Failure> failures);

  /** The outcome of a candidate the rules dropped (its one filtered record). */
  public Outcome dropped(Candidate c, ModelRef model) {
    Provenance p = generated(c, model).plus(filterStep(c));
    Map<String, Object> meta = meta(c, null);
    return new Outcome(List.of(), List.of(Example.single(c.instruction(), c.input(), c.output(), meta, p)), null);
  }

  static String emptyToNull(String s) {
    return s == null || s.isEmpty() ? null : s;
  }

  /**
   * The metadata key of a kept task's most similar pool instructions: each reference's own key
   * (self-instruct's bootstrap_instructions.py writes most_similar, Alpaca's generate_instruction.py
   * most_similar_instructions; both avg_similarity_score).
   */
  abstract String similarityKey();

  /** The filters a task passes before the instruction rules, in order. */
  abstract List<String> taskFilters();

  /** A record's metadata; {@code clf} is the classification answer, or null before (or without) it. */
  Map<String, Object> meta(Candidate c, Boolean clf) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("task_id", c.taskId());
    m.put("round", c.round());
    m.put("preset", settings.preset().id());
    if (clf != null) {
      m.put("is_classification", clf);
    }
    if (c.similarity() != null) {
      m.put(similarityKey(), c.similarity().asMap());
      m.put("avg_similarity_score", c.similarity().average());
    }
    return m;
  }

  /** A record's provenance from the start: its origin and the instruction-generation step. */
  Provenance generated(Candidate c, ModelRef model) {
    Origin origin = new Origin(settings.dataset(), settings.license(), c.location(), null, "generated", null);
    Map<String, Object> params = new LinkedHashMap<>();
    params.put("preset", settings.preset().id());
    params.put("round", c.round());
    params.put("prompt", c.prompt());
    params.put("item", c.item());
    params.put("examples", c.parents().size());
    params.put("finish_reason", c.finishReason());
    params.put("sampling", settings.instructionParams().asMap());
    Step gen = new Step(STEP_GENERATE, VERSION, params, Verdict.KEPT, c.parents(), null, model,
        templates.get(generateTemplate()).ref(), c.seed());
    return new Provenance(origin, List.of(gen));
  }

  /** The task's filter step: every filter it went through and its verdict. */
  Step filterStep(Candidate c) {
    Map<String, Object> params = new LinkedHashMap<>();
    List<String> applied = new ArrayList<>(taskFilters());
    applied.add(SelfInstructReasons.TRUNCATED_FILTER);
    applied.addAll(settings.rules().filterIds());
    applied.add(RougeGate.FILTER);
    params.put("filters", applied);
    params.put("rules", settings.rules().preset());
    params.put("rouge_threshold", settings.rougeThreshold());
    params.put("tokenizer", settings.tokenizer());
    return new Step(STEP_FILTER, VERSION, params, c.verdict(), List.of(), null, null, null, null);
  }
}
