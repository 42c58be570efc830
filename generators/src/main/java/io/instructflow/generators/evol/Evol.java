package io.instructflow.generators.evol;

import io.instructflow.filters.evol.EvolRules;
import io.instructflow.filters.instruction.PyText;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.Completion;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.Seeds;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;

/**
 * Evol-Instruct (WizardLM) as plain functions of an epoch: pick an operation for each instruction of
 * the pool, have the model rewrite the instruction with it, ask a judge whether the rewrite equals its
 * parent, answer the rewrite, and eliminate failed evolutions with the four rules of
 * {@link EvolRules}. A surviving evolution replaces its parent in the pool; a failed one is recorded
 * and its parent goes back into the pool for the next epoch.
 *
 * <p>Operations: five in-depth rewrites (add a constraint, deepen, concretize, add reasoning steps,
 * complicate the input with structured data), each told to add at most {@code maxAddedWords} words,
 * and the in-breadth mutation (a new, rarer task of the same domain). Each epoch draws one operation per
 * instruction with the configured weights (uniform by default, as in the paper) from a generator seeded
 * by the run seed, the epoch and the lineage's root id, so draws do not depend on order or batching.
 *
 * <p>Every record carries its lineage: {@code metadata.evol_root_id}, {@code evol_parent_id},
 * {@code evol_parent_instruction}, {@code evol_epoch}, {@code evol_operation}, {@code evol_judge}, and
 * the parent's provenance followed by the steps {@value #STEP_EVOLVE}, {@value #STEP_JUDGE},
 * {@value #STEP_RESPOND} and {@value #STEP_ELIMINATE}; walking {@code evol_parent_id} (also the
 * {@code parents} of the evolve step) leads back to the input record.
 */
public final class Evol implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Provenance step names. */
  public static final String STEP_EVOLVE = "evol.evolve";
  public static final String STEP_JUDGE = "evol.judge";
  public static final String STEP_RESPOND = "evol.respond";
  public static final String STEP_ELIMINATE = "evol.eliminate";
  static final String VERSION = "1";
  /** The judge's template id. */
  public static final String T_JUDGE = "evol/judge-equal@1";

  /** The evolution operations. */
  public enum Operation {
    ADD_CONSTRAINTS("add_constraints", "evol/add-constraints@1", true),
    DEEPEN("deepen", "evol/deepen@1", true),
    CONCRETIZE("concretize", "evol/concretize@1", true),
    ADD_REASONING("add_reasoning", "evol/add-reasoning@1", true),
    COMPLICATE_INPUT("complicate_input", "evol/complicate-input@1", true),
    BREADTH("breadth", "evol/breadth@1", false);

    private final String code;
    private final String template;
    private final boolean inDepth;

    Operation(String code, String template, boolean inDepth) {
      this.code = code;
      this.template = template;
      this.inDepth = inDepth;
    }

    /** The name on the command line and in the data. */
    public String code() {
      return code;
    }

    /** The operation's template id. */
    public String template() {
      return template;
    }

    /** The operation called {@code code}. */
    public static Operation fromCode(String code) {
      for (Operation o : values()) {
        if (o.code.equals(code)) {
          return o;
        }
      }
      throw new IllegalArgumentException("unknown operation '" + code + "', expected one of add_constraints, deepen, "
          + "concretize, add_reasoning, complicate_input, breadth");
    }
  }

  /**
   * What a run is configured with.
   *
   * @param seed the run seed
   * @param weights relative weight of each operation (an operation with weight 0 is never drawn)
   * @param maxAddedWords how many words an in-depth rewrite may add (the paper: 10 to 20)
   * @param evolveParams sampling of the rewrite
   * @param judgeParams sampling of the equality judge
   * @param responseParams sampling of the response to the evolved instruction
   */
  public record Settings(long seed, Map<Operation, Double> weights, int maxAddedWords, SamplingParams evolveParams,
      SamplingParams judgeParams, SamplingParams responseParams) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Settings {
      if (seed < 0 || seed > Seeds.MAX) {
        throw new IllegalArgumentException("seed must be in [0, " + Seeds.MAX + "], got " + seed);
      }
      EnumMap<Operation, Double> w = new EnumMap<>(Operation.class);
      double sum = 0;
      for (Operation o : Operation.values()) {
        double x = weights.getOrDefault(o, 0.0);
        if (!(x >= 0) || Double.isInfinite(x)) {
          throw new IllegalArgumentException("weight of " + o.code() + " must be finite and >= 0, got " + x);
        }
        w.put(o, x);
        sum += x;
      }
      if (sum <= 0) {
        throw new IllegalArgumentException("at least one operation needs a positive weight");
      }
      weights = Collections.unmodifiableMap(w);
      if (maxAddedWords < 1) {
        throw new IllegalArgumentException("max added words must be positive, got " + maxAddedWords);
      }
      Objects.requireNonNull(evolveParams, "evolveParams");
      Objects.requireNonNull(judgeParams, "judgeParams");
      Objects.requireNonNull(responseParams, "responseParams");
      if (evolveParams.n() != 1 || judgeParams.n() != 1 || responseParams.n() != 1) {
        throw new IllegalArgumentException("Evol-Instruct asks for one completion per request (n = 1)");
      }
    }

    /**
     * Our defaults: every operation equally likely (the paper), at most 20 added words; rewrite at
     * temperature 0.7, top-p 0.95, up to 512 tokens; judge greedy in 4 tokens; response greedy in up
     * to 1024 tokens.
     */
    public static Settings defaults(long seed) {
      Map<Operation, Double> w = new EnumMap<>(Operation.class);
      for (Operation o : Operation.values()) {
        w.put(o, 1.0);
      }
      return new Settings(seed, w, 20, new SamplingParams(512, 0.7, 0.95, 0, List.of(), 1),
          new SamplingParams(4, 0, 1, 0, List.of("\n"), 1), SamplingParams.greedy(1024));
    }

    /** Weights from {@code op=w,op=w...}; operations left out get weight 0. */
    public static Map<Operation, Double> parseWeights(String spec) {
      Map<Operation, Double> w = new EnumMap<>(Operation.class);
      for (String part : spec.split(",")) {
        String[] kv = part.trim().split("=");
        if (kv.length != 2) {
          throw new IllegalArgumentException("--ops: expected op=weight pairs, got '" + part + "'");
        }
        try {
          w.put(Operation.fromCode(kv[0].trim()), Double.parseDouble(kv[1].trim()));
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("--ops: weight of " + kv[0] + " is not a number: '" + kv[1] + "'");
        }
      }
      return w;
    }

    /** A copy with other weights. */
    public Settings withWeights(Map<Operation, Double> w) {
      return new Settings(seed, w, maxAddedWords, evolveParams, judgeParams, responseParams);
    }

    /** A copy with other sampling. */
    public Settings withParams(SamplingParams evolve, SamplingParams judge, SamplingParams response) {
      return new Settings(seed, weights, maxAddedWords, evolve, judge, response);
    }

    /** The settings for the run summary. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("seed", seed);
      Map<String, Object> w = new LinkedHashMap<>();
      weights.forEach((o, x) -> w.put(o.code(), x));
      m.put("weights", w);
      m.put("maxAddedWords", maxAddedWords);
      m.put("evolveParams", evolveParams.asMap());
      m.put("judgeParams", judgeParams.asMap());
      m.put("responseParams", responseParams.asMap());
      return m;
    }
  }

  /**
   * One instruction of the pool: the current version of a lineage.
   *
   * @param lineage the lineage's index (its root's position in the input)
   * @param current the record now standing for the lineage (the root itself before its first success)
   */
  public record Member(int lineage, Example current) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Member {
      Objects.requireNonNull(current, "current");
    }

    /** The root record's id. */
    public String rootId() {
      Object r = current.metadata().get("evol_root_id");
      return r == null ? current.id() : r.toString();
    }

    /** The text that is evolved: the instruction, with the input after a blank line when there is one. */
    public String text() {
      String i = current.instructionText();
      return current.input() == null || current.input().isEmpty() ? i : i + "\n\n" + current.input();
    }
  }

  /**
   * What became of one member in an epoch.
   *
   * @param record the evolution's record: for {@code data/} when it survived, else for {@code filtered/}
   * @param next the member for the next epoch: the evolution when it survived, else the same member
   */
  public record Outcome(Example record, Member next) {
    /** Whether the evolution survived. */
    public boolean survived() {
      return next.current() == record;
    }
  }

  private final Settings settings;
  private final Map<String, PromptTemplate> templates;

  /**
   * @param settings the configuration
   * @param templates folder of template overrides, or null for the built-in ones
   */
  public Evol(Settings settings, Path templates) {
    this.settings = Objects.requireNonNull(settings, "settings");
    Map<String, PromptTemplate> t = new LinkedHashMap<>();
    try {
      for (Operation o : Operation.values()) {
        Set<String> names = o.inDepth ? Set.of("instruction", "max_words") : Set.of("instruction");
        t.put(o.template(), PromptTemplate.load(o.template(), templates).requirePlaceholders(names));
      }
      t.put(T_JUDGE, PromptTemplate.load(T_JUDGE, templates).requirePlaceholders(Set.of("parent", "evolved")));
    } catch (IOException e) {
      throw new UncheckedIOException("reading prompt templates: " + e.getMessage(), e);
    }
    this.templates = Collections.unmodifiableMap(t);
  }

  /** The configuration. */
  public Settings settings() {
    return settings;
  }

  /** The templates in use, by id. */
  public Map<String, PromptTemplate> templates() {
    return templates;
  }

  /** The operation drawn for a lineage in an epoch. */
  public Operation pick(int epoch, Member m) {
    Random rng = new Random(Seeds.derive(settings.seed(), "evol/epoch-" + epoch + "/op/" + m.rootId()));
    double total = 0;
    for (double w : settings.weights().values()) {
      total += w;
    }
    double x = rng.nextDouble() * total;
    Operation last = null;
    for (Map.Entry<Operation, Double> e : settings.weights().entrySet()) {
      if (e.getValue() <= 0) {
        continue;
      }
      last = e.getKey();
      x -= e.getValue();
      if (x < 0) {
        return e.getKey();
      }
    }
    return last;
  }

  /** The rewrite request of a member in an epoch. */
  public GenerationRequest evolveRequest(int epoch, Member m, Operation op) {
    Map<String, String> values = new LinkedHashMap<>();
    values.put("instruction", m.text());
    if (op.inDepth) {
      values.put("max_words", Integer.toString(settings.maxAddedWords()));
    }
    String key = "evol/epoch-" + epoch + "/" + m.rootId();
    return GenerationRequest.text(key, templates.get(op.template()).render(values), settings.evolveParams(),
        Seeds.derive(settings.seed(), key));
  }

  /** The equality-judge request for a rewrite. */
  public GenerationRequest judgeRequest(int epoch, Member m, String evolved) {
    String key = "judge/epoch-" + epoch + "/" + m.rootId();
    return GenerationRequest.text(key, templates.get(T_JUDGE).render(Map.of("parent", m.text(), "evolved", evolved)),
        settings.judgeParams(), Seeds.derive(settings.seed(), key));
  }

  /** The request for the response to a rewrite: the evolved instruction, sent as is. */
  public GenerationRequest responseRequest(int epoch, Member m, String evolved) {
    String key = "respond/epoch-" + epoch + "/" + m.rootId();
    return GenerationRequest.text(key, evolved, settings.responseParams(), Seeds.derive(settings.seed(), key));
  }

  /**
   * The judge's verdict: {@code different}, {@code not equal}, {@code unequal} or a leading {@code no}
   * mean different; otherwise {@code equal}, {@code same} or a leading {@code yes} mean equal; anything
   * else is unknown (and no evidence of a failed evolution).
   */
  public static EvolRules.Judge parseJudge(String answer) {
    String a = PyText.collapse(answer).toLowerCase(Locale.ROOT);
    String first = a.replaceAll("^[^\\p{L}]+", "");
    if (a.contains("different") || a.contains("not equal") || a.contains("unequal") || a.contains("not the same")
        || first.matches("^no\\b.*")) {
      return EvolRules.Judge.NOT_EQUAL;
    }
    if (a.contains("equal") || a.contains("same") || first.matches("^yes\\b.*")) {
      return EvolRules.Judge.EQUAL;
    }
    return EvolRules.Judge.UNKNOWN;
  }

  /** The rewrite a response holds: its text, trimmed. */
  public static String evolvedText(GenerationResult evolve) {
    return PyText.strip(evolve.choices().get(0).text());
  }

  /**
   * Whether the judge and response calls can be skipped: an empty or unchanged rewrite fails rule 1
   * whatever they say.
   */
  public static boolean failsWithoutAsking(Member m, String evolved) {
    return EvolRules.test(m.text(), evolved, EvolRules.Judge.UNKNOWN, null, "x") instanceof Verdict.Dropped d
        && d.filter().equals(EvolRules.NO_GAIN);
  }

  /**
   * The outcome of a member's evolution given the model's answers (the judge and response results are
   * null when {@link #failsWithoutAsking} skipped them; all given results are successful).
   */
  public Outcome outcome(int epoch, Member m, Operation op, GenerationResult evolve, GenerationResult judge,
      GenerationResult response, ModelRef model) {
    String evolved = evolvedText(evolve);
    GenerationRequest ereq = evolveRequest(epoch, m, op);
    Completion ec = evolve.choices().get(0);
    Example parent = m.current();
    Map<String, Object> ep = new LinkedHashMap<>();
    ep.put("epoch", epoch);
    ep.put("operation", op.code());
    ep.put("finish_reason", ec.finishReason().json());
    ep.put("sampling", settings.evolveParams().asMap());
    ep.put("added_words", PyText.split(evolved).size() - PyText.split(m.text()).size());
    Provenance p = parent.provenance().plus(new Step(STEP_EVOLVE, VERSION, ep, Verdict.KEPT, List.of(parent.id()), null,
        model, templates.get(op.template()).ref(), ereq.seed()));
    EvolRules.Judge verdict = EvolRules.Judge.UNKNOWN;
    String answer = null;
    if (judge != null) {
      answer = judge.choices().get(0).text();
      verdict = parseJudge(answer);
      Map<String, Object> jp = new LinkedHashMap<>();
      jp.put("answer", answer);
      jp.put("judge", verdict.code());
      jp.put("sampling", settings.judgeParams().asMap());
      p = p.plus(new Step(STEP_JUDGE, VERSION, jp, Verdict.KEPT, List.of(), null, model, templates.get(T_JUDGE).ref(),
          judgeRequest(epoch, m, evolved).seed()));
    }
    String out = null;
    if (response != null) {
      Completion rc = response.choices().get(0);
      out = PyText.strip(rc.text());
      Map<String, Object> rp = new LinkedHashMap<>();
      rp.put("finish_reason", rc.finishReason().json());
      rp.put("sampling", settings.responseParams().asMap());
      p = p.plus(new Step(STEP_RESPOND, VERSION, rp, Verdict.KEPT, List.of(), null, model, null,
          responseRequest(epoch, m, evolved).seed()));
    }
    Verdict v = EvolRules.test(m.text(), evolved, verdict, answer, out == null ? "" : out);
    p = p.plus(new Step(STEP_ELIMINATE, VERSION, Map.of("rules", List.of(EvolRules.NO_GAIN, EvolRules.SORRY,
        EvolRules.STOPWORDS, EvolRules.COPIED)), v, List.of(), null, null, null, null));
    Map<String, Object> meta = new LinkedHashMap<>(parent.metadata());
    meta.put("evol_root_id", m.rootId());
    meta.put("evol_parent_id", parent.id());
    meta.put("evol_parent_instruction", m.text());
    meta.put("evol_epoch", epoch);
    meta.put("evol_operation", op.code());
    meta.put("evol_judge", verdict.code());
    String instruction = evolved.isEmpty() ? m.text() : evolved;
    Example record = Example.single(instruction, null, out == null || out.isEmpty() ? null : out, meta, p);
    return new Outcome(record, v instanceof Verdict.Kept ? new Member(m.lineage(), record) : m);
  }

  /**
   * A failed request of an epoch.
   *
   * @param member the member whose evolution it was (it goes on unchanged)
   * @param request the request
   * @param result the failed result
   */
  public record Failure(Member member, GenerationRequest request, GenerationResult result) {}

  /**
   * The results of one batch of members in an epoch, in member order.
   *
   * @param outcomes one per member whose requests all succeeded, else null
   * @param failures the failed requests (their members go on unchanged)
   */
  public record BatchResult(List<Outcome> outcomes, List<Failure> failures) {}

  /** Runs one epoch's evolution of {@code members} on {@code model}: rewrites, judge, responses. */
  public BatchResult evolve(int epoch, List<Member> members, LanguageModel model) {
    ModelRef ref = model.ref();
    List<Operation> ops = new ArrayList<>();
    List<GenerationRequest> ereqs = new ArrayList<>();
    for (Member m : members) {
      Operation op = pick(epoch, m);
      ops.add(op);
      ereqs.add(evolveRequest(epoch, m, op));
    }
    List<GenerationResult> eres = model.generate(ereqs);
    List<Failure> failures = new ArrayList<>();
    List<GenerationRequest> follow = new ArrayList<>();
    List<Integer> asked = new ArrayList<>();
    for (int i = 0; i < members.size(); i++) {
      if (!eres.get(i).ok()) {
        failures.add(new Failure(members.get(i), ereqs.get(i), eres.get(i)));
        continue;
      }
      String evolved = evolvedText(eres.get(i));
      if (!failsWithoutAsking(members.get(i), evolved)) {
        follow.add(judgeRequest(epoch, members.get(i), evolved));
        follow.add(responseRequest(epoch, members.get(i), evolved));
        asked.add(i);
      }
    }
    List<GenerationResult> fres = model.generate(follow);
    List<Outcome> outcomes = new ArrayList<>(Collections.nCopies(members.size(), null));
    int k = 0;
    for (int i = 0; i < members.size(); i++) {
      if (!eres.get(i).ok()) {
        continue;
      }
      Member m = members.get(i);
      if (k < asked.size() && asked.get(k) == i) {
        GenerationResult j = fres.get(2 * k);
        GenerationResult r = fres.get(2 * k + 1);
        k++;
        if (!j.ok() || !r.ok()) {
          failures.add(!j.ok() ? new Failure(m, follow.get(2 * k - 2), j) : new Failure(m, follow.get(2 * k - 1), r));
          continue;
        }
        outcomes.set(i, outcome(epoch, m, ops.get(i), eres.get(i), j, r, ref));
      } else {
        outcomes.set(i, outcome(epoch, m, ops.get(i), eres.get(i), null, null, ref));
      }
    }
    return new BatchResult(outcomes, failures);
  }
}
