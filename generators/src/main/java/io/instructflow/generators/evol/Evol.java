package io.instructflow.generators.evol;

import io.instructflow.filters.evol.EvolRules;
import io.instructflow.filters.instruction.PyText;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.Seeds;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
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
import java.util.regex.Matcher;
import java.util.regex.Pattern;

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
 * <p>Prompts go out in the run's {@link PromptFormat}: as chat messages (a system message, then the
 * prompt as the user's turn, as WizardLM's reference code sends them to its chat model) or as raw
 * text, the rewrite then stopping at the template's own {@code #labels#} so a completion model does
 * not go on into another task block. A rewrite or a response cut by its token limit is eliminated
 * ({@value #TRUNCATED}) before the four rules; a cut rewrite costs no judge or response call.
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
  /** The system message of chat requests (no placeholders). */
  public static final String T_SYSTEM = "evol/system@1";

  /** Filter: an evolution whose rewrite or response stopped at the token limit. */
  public static final String TRUNCATED = "evol_truncated";
  /** The rewrite stopped at its token limit ({@code finish_reason} length; details: max_tokens). */
  public static final String TRUNCATED_REWRITE = "evol_truncated.rewrite";
  /** The response stopped at its token limit ({@code finish_reason} length; details: max_tokens). */
  public static final String TRUNCATED_RESPONSE = "evol_truncated.response";

  /** A {@code #Label#} of a template, such as {@code #New Task#}: the rewrite's stop strings in text format. */
  private static final Pattern LABEL = Pattern.compile("#[^#\\r\\n]{1,60}#");

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
   * @param format chat messages or raw text; {@link PromptFormat#AUTO} until the run resolves it for its
   *     model ({@link Evol} takes only a resolved one)
   */
  public record Settings(long seed, Map<Operation, Double> weights, int maxAddedWords, SamplingParams evolveParams,
      SamplingParams judgeParams, SamplingParams responseParams, PromptFormat format) implements Serializable {
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
      Objects.requireNonNull(format, "format");
    }

    /** Settings whose prompt format the run picks for its model ({@link PromptFormat#AUTO}). */
    public Settings(long seed, Map<Operation, Double> weights, int maxAddedWords, SamplingParams evolveParams,
        SamplingParams judgeParams, SamplingParams responseParams) {
      this(seed, weights, maxAddedWords, evolveParams, judgeParams, responseParams, PromptFormat.AUTO);
    }

    /**
     * The reference's sampling for the rewrite and the response (WizardLM's {@code openai_access.py}:
     * temperature 1, top-p 0.95, up to 2,048 tokens, no stop); the judge, for which the reference has
     * no code, greedy in 4 tokens, so that its verdict does not depend on a draw.
     */
    public static SamplingParams referenceSampling() {
      return new SamplingParams(2048, 1.0, 0.95, 0, List.of(), 1);
    }

    /**
     * The defaults: every operation equally likely (the paper), at most 20 added words; rewrite and
     * response sampled as the reference ({@link #referenceSampling}); judge greedy in 4 tokens, stopping
     * at a newline; the prompt format picked for the model ({@link PromptFormat#AUTO}).
     */
    public static Settings defaults(long seed) {
      Map<Operation, Double> w = new EnumMap<>(Operation.class);
      for (Operation o : Operation.values()) {
        w.put(o, 1.0);
      }
      return new Settings(seed, w, 20, referenceSampling(), new SamplingParams(4, 0, 1, 0, List.of("\n"), 1),
          referenceSampling(), PromptFormat.AUTO);
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
      return new Settings(seed, w, maxAddedWords, evolveParams, judgeParams, responseParams, format);
    }

    /** A copy with other sampling. */
    public Settings withParams(SamplingParams evolve, SamplingParams judge, SamplingParams response) {
      return new Settings(seed, weights, maxAddedWords, evolve, judge, response, format);
    }

    /** A copy with another prompt format. */
    public Settings withFormat(PromptFormat f) {
      return new Settings(seed, weights, maxAddedWords, evolveParams, judgeParams, responseParams, f);
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
      m.put("promptFormat", format.code());
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
  private final Map<Operation, SamplingParams> rewriteParams;

  /**
   * @param settings the configuration, its prompt format resolved (chat or text)
   * @param templates folder of template overrides, or null for the built-in ones
   * @throws IllegalArgumentException on an unresolved format, a template with the wrong placeholders,
   *     or more than 16 stop strings once a template's labels are added
   */
  public Evol(Settings settings, Path templates) {
    this.settings = Objects.requireNonNull(settings, "settings");
    if (settings.format() == PromptFormat.AUTO) {
      throw new IllegalArgumentException("the prompt format must be resolved for the model first (chat or text)");
    }
    Map<String, PromptTemplate> t = new LinkedHashMap<>();
    try {
      for (Operation o : Operation.values()) {
        Set<String> names = o.inDepth ? Set.of("instruction", "max_words") : Set.of("instruction");
        t.put(o.template(), PromptTemplate.load(o.template(), templates).requirePlaceholders(names));
      }
      t.put(T_JUDGE, PromptTemplate.load(T_JUDGE, templates).requirePlaceholders(Set.of("parent", "evolved")));
      if (chat()) {
        t.put(T_SYSTEM, PromptTemplate.load(T_SYSTEM, templates).requirePlaceholders(Set.of()));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading prompt templates: " + e.getMessage(), e);
    }
    this.templates = Collections.unmodifiableMap(t);
    Map<Operation, SamplingParams> rp = new EnumMap<>(Operation.class);
    for (Operation o : Operation.values()) {
      rp.put(o, chat() ? settings.evolveParams() : withStops(settings.evolveParams(), labels(t.get(o.template()))));
    }
    this.rewriteParams = Collections.unmodifiableMap(rp);
  }

  /** Whether prompts go out as chat messages. */
  public boolean chat() {
    return settings.format() == PromptFormat.CHAT;
  }

  /** The {@code #Label#} marks of a template, in order of first use ({@code #Original Task#}, {@code #New Task#}). */
  static List<String> labels(PromptTemplate t) {
    Set<String> out = new java.util.LinkedHashSet<>();
    Matcher m = LABEL.matcher(t.text());
    while (m.find()) {
      out.add(m.group());
    }
    return List.copyOf(out);
  }

  private static SamplingParams withStops(SamplingParams p, List<String> more) {
    List<String> stop = new ArrayList<>(p.stop());
    more.stream().filter(x -> !stop.contains(x)).forEach(stop::add);
    if (stop.size() > 16) {
      throw new IllegalArgumentException("the rewrite's stop strings and the template's labels " + stop
          + " are more than 16");
    }
    return new SamplingParams(p.maxTokens(), p.temperature(), p.topP(), p.topK(), stop, p.n(), p.grammar(),
        p.presencePenalty(), p.frequencyPenalty(), p.repetitionPenalty());
  }

  /** A request for {@code prompt}: chat messages (system, then user) or the text as is. */
  private GenerationRequest request(String key, String prompt, SamplingParams params) {
    long seed = Seeds.derive(settings.seed(), key);
    if (chat()) {
      return GenerationRequest.chat(key, List.of(new Message("system", templates.get(T_SYSTEM).text().strip()),
          new Message("user", prompt)), params, seed);
    }
    return GenerationRequest.text(key, prompt, params, seed);
  }

  /** The sampling of an operation's rewrite: in text format, stopping at the template's labels too. */
  public SamplingParams rewriteParams(Operation op) {
    return rewriteParams.get(op);
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
    return request(key, templates.get(op.template()).render(values), rewriteParams(op));
  }

  /** The equality-judge request for a rewrite. */
  public GenerationRequest judgeRequest(int epoch, Member m, String evolved) {
    String key = "judge/epoch-" + epoch + "/" + m.rootId();
    return request(key, templates.get(T_JUDGE).render(Map.of("parent", m.text(), "evolved", evolved)),
        settings.judgeParams());
  }

  /** The request for the response to a rewrite: the evolved instruction itself (the user's turn in chat). */
  public GenerationRequest responseRequest(int epoch, Member m, String evolved) {
    String key = "respond/epoch-" + epoch + "/" + m.rootId();
    return request(key, evolved, settings.responseParams());
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

  /** Whether a successful result stopped at its token limit. */
  public static boolean truncated(GenerationResult r) {
    return r.choices().get(0).finishReason() == FinishReason.LENGTH;
  }

  /**
   * The outcome of a member's evolution given the model's answers (the judge and response results are
   * null when the rewrite was {@link #truncated} or {@link #failsWithoutAsking} skipped them; all given
   * results are successful). A truncated rewrite, then a truncated response, is eliminated
   * ({@value #TRUNCATED}) before the four rules of {@link EvolRules} are tried.
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
    ep.put("prompt_format", settings.format().code());
    ep.put("sampling", ereq.params().asMap());
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
      jp.put("prompt_format", settings.format().code());
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
      rp.put("prompt_format", settings.format().code());
      rp.put("sampling", settings.responseParams().asMap());
      p = p.plus(new Step(STEP_RESPOND, VERSION, rp, Verdict.KEPT, List.of(), null, model, null,
          responseRequest(epoch, m, evolved).seed()));
    }
    Verdict v;
    if (ec.finishReason() == FinishReason.LENGTH) {
      v = new Verdict.Dropped(TRUNCATED, TRUNCATED_REWRITE, Map.of("finish_reason", "length", "max_tokens",
          ereq.params().maxTokens()));
    } else if (response != null && truncated(response)) {
      v = new Verdict.Dropped(TRUNCATED, TRUNCATED_RESPONSE, Map.of("finish_reason", "length", "max_tokens",
          settings.responseParams().maxTokens()));
    } else {
      v = EvolRules.test(m.text(), evolved, verdict, answer, out == null ? "" : out);
    }
    p = p.plus(new Step(STEP_ELIMINATE, VERSION, Map.of("rules", List.of(TRUNCATED, EvolRules.NO_GAIN, EvolRules.SORRY,
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
      if (!truncated(eres.get(i)) && !failsWithoutAsking(members.get(i), evolved)) {
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
