package io.instructflow.generators.pairs;

import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.Seeds;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;

/**
 * The LLM judge of the {@code pairs} command, in one of three protocols ({@link Protocol}):
 *
 * <ul>
 *   <li>{@code per-candidate} (the cheap mode): one request per candidate, which rates it on the four
 *       UltraFeedback aspects at once ({@value #ASPECTS_TEMPLATE}).
 *   <li>{@code ultrafeedback} (UltraFeedback's annotation protocol): one request per aspect, showing
 *       every unrated candidate of the prompt together, in an order shuffled per aspect with a seed
 *       derived from the run seed, the prompt and the aspect; the answer gives each text a rating and
 *       a rationale (truthfulness and helpfulness first a type line and its rationale, as in the
 *       reference). A system prompt frames the task.
 *   <li>{@code pairwise} (MT-Bench / Arena-Hard style, with position swap): every pair of the prompt's
 *       candidates is judged twice, once in each order; the pair has a winner only when both orders
 *       name the same candidate. Disagreeing verdicts, and a tie verdict in either order, make the
 *       pair a tie. A candidate's score is its win rate over the pairs with a result (a tie is half a
 *       win); {@link Tournament#beats} is the relation the binarization uses.
 * </ul>
 *
 * Requests are chat requests (a system message where the protocol has one, then the user message) or
 * text (system text, a blank line, the user text), as the caller decided for the model. With the
 * embedded engine a GBNF grammar holds the answer to the asked format. Answers that cannot be read,
 * and requests that fail, are recorded as problems and leave the candidates concerned unrated; the
 * pipeline drops a prompt left with fewer than two scored candidates as {@value #UNREADABLE} or
 * {@value #FAILED}, with the problems as evidence. Nothing here throws on a model's answer.
 */
public final class PairJudge {
  private PairJudge() {}

  /** A prompt with too few scored candidates because the judge's answers could not be read. */
  public static final String UNREADABLE = "pairs.judge_unreadable";
  /** A prompt with too few scored candidates because judge requests failed (context, endpoint). */
  public static final String FAILED = "pairs.judge_failed";

  public static final String ASPECTS_TEMPLATE = "judge/ultrafeedback-aspects@1";
  public static final String UF_SYSTEM = "judge/ultrafeedback-system@1";
  public static final String PAIRWISE_SYSTEM = "judge/pairwise-system@1";
  public static final String PAIRWISE_TEMPLATE = "judge/pairwise@1";
  /** The per-aspect templates of the ultrafeedback protocol, in {@link Aspects#ALL} order. */
  public static final Map<String, String> UF_TEMPLATES;

  static {
    Map<String, String> m = new LinkedHashMap<>();
    for (String a : Aspects.ALL) {
      m.put(a, "judge/ultrafeedback-" + a.replace('_', '-') + "@1");
    }
    UF_TEMPLATES = java.util.Collections.unmodifiableMap(m);
  }

  /** What the per-candidate rubric's text prompt ends with, and the answer continues. */
  static final String ASPECTS_PREFIX = "Instruction following:";
  /** Per-candidate, text mode: the four ratings after the rubric's last line. */
  public static final String ASPECTS_GRAMMAR_TEXT = "root ::= \" \" [1-5] \"\\nHonesty: \" [1-5] \"\\nTruthfulness: \" [1-5] "
      + "\"\\nHelpfulness: \" [1-5]\n";
  /** Per-candidate, chat mode: the four labelled ratings. */
  public static final String ASPECTS_GRAMMAR_CHAT = "root ::= \"Instruction following: \" [1-5] \"\\nHonesty: \" [1-5] "
      + "\"\\nTruthfulness: \" [1-5] \"\\nHelpfulness: \" [1-5]\n";
  /** Longest rationale or explanation line the grammars allow, in characters. */
  static final int LINE = 200;
  /** The aspects whose blocks start with a type line and its rationale, as in the reference. */
  static final Set<String> TYPED = Set.of("truthfulness", "helpfulness");

  /** The judging protocols, by their CLI names. */
  public enum Protocol {
    PER_CANDIDATE("per-candidate"), ULTRAFEEDBACK("ultrafeedback"), PAIRWISE("pairwise");

    private final String code;

    Protocol(String code) {
      this.code = code;
    }

    public String code() {
      return code;
    }

    public static Protocol fromCode(String code) {
      for (Protocol p : values()) {
        if (p.code.equals(code)) {
          return p;
        }
      }
      throw new IllegalArgumentException("unknown judge protocol '" + code + "', expected per-candidate, ultrafeedback or pairwise");
    }

    /** The templates the protocol uses, each with the placeholders it must have. */
    public Map<String, Set<String>> templates() {
      Map<String, Set<String>> m = new LinkedHashMap<>();
      switch (this) {
        case PER_CANDIDATE -> m.put(ASPECTS_TEMPLATE, Set.of("instruction", "response"));
        case ULTRAFEEDBACK -> {
          m.put(UF_SYSTEM, Set.of());
          UF_TEMPLATES.values().forEach(t -> m.put(t, Set.of("instruction", "texts", "count")));
        }
        case PAIRWISE -> {
          m.put(PAIRWISE_SYSTEM, Set.of());
          m.put(PAIRWISE_TEMPLATE, Set.of("instruction", "answer_a", "answer_b"));
        }
      }
      return m;
    }
  }

  /** Loads a protocol's templates (built in, or overridden by {@code overrides/<id>.txt}) and checks them. */
  public static Map<String, PromptTemplate> templates(Protocol p, Path overrides) throws IOException {
    Map<String, PromptTemplate> m = new LinkedHashMap<>();
    for (Map.Entry<String, Set<String>> e : p.templates().entrySet()) {
      m.put(e.getKey(), PromptTemplate.load(e.getKey(), overrides).requirePlaceholders(e.getValue()));
    }
    return m;
  }

  /**
   * How the judge runs.
   *
   * @param protocol the protocol
   * @param templates the protocol's templates by id (see {@link #templates})
   * @param chat send chat requests (else text)
   * @param grammar constrain answers with a GBNF grammar (the embedded engine; an endpoint has none)
   * @param temperature sampling temperature (0: greedy)
   * @param seed run seed; every request's seed derives from it and the request's id
   */
  public record Settings(Protocol protocol, Map<String, PromptTemplate> templates, boolean chat, boolean grammar,
      double temperature, long seed) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Settings {
      Objects.requireNonNull(protocol, "protocol");
      templates = new LinkedHashMap<>(templates);
      for (Map.Entry<String, Set<String>> e : protocol.templates().entrySet()) {
        PromptTemplate t = templates.get(e.getKey());
        if (t == null) {
          throw new IllegalArgumentException("judge protocol " + protocol.code() + " needs template " + e.getKey());
        }
        t.requirePlaceholders(e.getValue());
      }
      if (temperature < 0) {
        throw new IllegalArgumentException("judge temperature must not be negative, got " + temperature);
      }
    }

    /** The settings for the run summary: protocol, format, template ids and hashes. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("judgeProtocol", protocol.code());
      m.put("judgeFormat", chat ? "chat" : "text");
      m.put("judgeGrammar", grammar);
      Map<String, String> t = new LinkedHashMap<>();
      templates.forEach((id, tpl) -> t.put(id, tpl.hash()));
      m.put("judgeTemplates", t);
      m.put("judgeTemperature", temperature);
      return m;
    }
  }

  /**
   * One pair of a pairwise tournament, by candidate index ({@code first < second}).
   *
   * @param first the lower candidate index
   * @param second the higher one
   * @param firstAsA the verdict ("A", "B", "C") with {@code first} shown as assistant A, or null (unreadable or failed)
   * @param secondAsA the verdict with {@code second} shown as assistant A, or null
   * @param winner the candidate that won in both orders, -1 for a tie, -2 when a verdict is missing
   */
  public record Game(int first, int second, String firstAsA, String secondAsA, int winner) implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The result in words, for the outputs. */
    public String result() {
      return winner >= 0 ? "won by " + winner : winner == -1 ? "tie" : "no result";
    }
  }

  /**
   * A pairwise tournament's results.
   *
   * @param winRates each candidate's win rate over its games with a result (ties count half), null without any
   * @param games every pair, in (first, second) order
   */
  public record Tournament(List<Double> winRates, List<Game> games) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Tournament {
      winRates = new ArrayList<>(winRates);
      games = List.copyOf(games);
    }

    /** Whether {@code winner} won its game against {@code loser} in both orders. */
    public boolean beats(int winner, int loser) {
      for (Game g : games) {
        if ((g.first() == winner && g.second() == loser || g.first() == loser && g.second() == winner) && g.winner() == winner) {
          return true;
        }
      }
      return false;
    }

    /** The game between two candidates, or null. */
    public Game game(int a, int b) {
      for (Game g : games) {
        if (g.first() == Math.min(a, b) && g.second() == Math.max(a, b)) {
          return g;
        }
      }
      return null;
    }
  }

  /**
   * What judging a prompt gave.
   *
   * @param candidates the candidates, the judged ones with their ratings (or pairwise record) and judge info
   * @param tournament the pairwise results, null for the other protocols
   * @param problems unreadable answers and failed requests: request id, kind, error or the start of the answer
   * @param requests model requests
   * @param cacheHits requests answered from the response cache
   * @param judged candidates put before the judge
   * @param unreadable answers from which nothing could be read
   * @param failures failed requests
   */
  public record Outcome(List<Candidate> candidates, Tournament tournament, List<Map<String, Object>> problems, long requests,
      long cacheHits, long judged, long unreadable, long failures) {}

  /** Problems kept per prompt (the count is kept whole). */
  static final int MAX_PROBLEMS = 8;

  /**
   * Judges a prompt's candidates. Per-candidate and ultrafeedback rate the candidates that have neither
   * a score nor ratings; pairwise compares all of them.
   *
   * @param promptId the prompt's id (request ids and seeds derive from it)
   */
  public static Outcome judge(LanguageModel model, Settings s, String promptId, String prompt, List<Candidate> candidates) {
    Run run = new Run(model, s, promptId, prompt, candidates);
    switch (s.protocol()) {
      case PER_CANDIDATE -> run.perCandidate();
      case ULTRAFEEDBACK -> run.ultraFeedback();
      case PAIRWISE -> run.pairwise();
    }
    return run.outcome();
  }

  /** The state of one prompt's judging. */
  private static final class Run {
    final LanguageModel model;
    final Settings s;
    final String promptId;
    final String prompt;
    final List<Candidate> out;
    final ModelRef ref;
    final List<Map<String, Object>> problems = new ArrayList<>();
    Tournament tournament;
    long requests;
    long cacheHits;
    long judged;
    long unreadable;
    long failures;
    long problemCount;

    Run(LanguageModel model, Settings s, String promptId, String prompt, List<Candidate> candidates) {
      this.model = model;
      this.s = s;
      this.promptId = promptId;
      this.prompt = prompt;
      this.out = new ArrayList<>(candidates);
      this.ref = model.ref();
    }

    Outcome outcome() {
      if (problemCount > problems.size()) {
        problems.add(Map.of("more_problems", problemCount - problems.size()));
      }
      return new Outcome(out, tournament, problems, requests, cacheHits, judged, unreadable, failures);
    }

    List<Integer> unrated() {
      List<Integer> todo = new ArrayList<>();
      for (int i = 0; i < out.size(); i++) {
        if (out.get(i).rank() == null) {
          todo.add(i);
        }
      }
      return todo;
    }

    PromptTemplate template(String id) {
      return s.templates().get(id);
    }

    GenerationRequest request(String id, String system, String user, int maxTokens, String grammar) {
      SamplingParams p = new SamplingParams(maxTokens, s.temperature(), 1, 0, List.of(), 1);
      if (s.grammar() && grammar != null) {
        p = p.withGrammar(grammar);
      }
      long seed = Seeds.derive(s.seed(), id);
      if (s.chat()) {
        List<Message> m = new ArrayList<>();
        if (system != null) {
          m.add(new Message("system", system.strip()));
        }
        m.add(new Message("user", user));
        return GenerationRequest.chat(id, m, p, seed);
      }
      return GenerationRequest.text(id, system == null ? user : system.strip() + "\n\n" + user, p, seed);
    }

    List<GenerationResult> send(List<GenerationRequest> reqs) {
      List<GenerationResult> res = model.generate(reqs);
      for (GenerationResult r : res) {
        requests++;
        if (r.cached()) {
          cacheHits++;
        }
      }
      return res;
    }

    /** The reply's text, or null after recording the failure. */
    String reply(GenerationRequest req, GenerationResult r) {
      if (!r.ok()) {
        failures++;
        problem(req.id(), "failed", "error", r.error());
        return null;
      }
      return r.choices().get(0).text();
    }

    void problem(String request, String kind, String key, Object value) {
      problemCount++;
      if (problems.size() < MAX_PROBLEMS) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("request", request);
        m.put("kind", kind);
        m.put(key, value);
        problems.add(m);
      }
    }

    Map<String, Object> baseInfo() {
      Map<String, Object> info = new LinkedHashMap<>();
      info.put("judge", ref.id());
      info.put("judge_sha256", ref.sha256());
      info.put("judge_protocol", s.protocol().code());
      info.put("judge_format", s.chat() ? "chat" : "text");
      return info;
    }

    void perCandidate() {
      PromptTemplate t = template(ASPECTS_TEMPLATE);
      List<Integer> todo = unrated();
      List<GenerationRequest> reqs = new ArrayList<>();
      for (int i : todo) {
        String user = t.render(Map.of("instruction", prompt, "response", out.get(i).text()));
        reqs.add(request(promptId + "/judge/" + i, null, user, 48, s.chat() ? ASPECTS_GRAMMAR_CHAT : ASPECTS_GRAMMAR_TEXT));
      }
      if (reqs.isEmpty()) {
        return;
      }
      List<GenerationResult> res = send(reqs);
      for (int k = 0; k < todo.size(); k++) {
        Map<String, Object> info = baseInfo();
        info.put("judge_template", t.id());
        info.put("judge_template_hash", t.hash());
        info.put("judge_seed", reqs.get(k).seed());
        int i = todo.get(k);
        String reply = reply(reqs.get(k), res.get(k));
        if (reply == null) {
          info.put("judge_error", res.get(k).error());
          out.set(i, out.get(i).rated(Map.of(), info));
          continue;
        }
        judged++;
        Map<String, Double> ratings = aspects(reply);
        info.put("judge_reply", excerpt(reply, 300));
        if (ratings.isEmpty()) {
          unreadable++;
          problem(reqs.get(k).id(), "unreadable", "reply", excerpt(reply, 200));
        }
        out.set(i, out.get(i).rated(ratings, info));
      }
    }

    void ultraFeedback() {
      List<Integer> todo = unrated();
      if (todo.isEmpty()) {
        return;
      }
      int n = todo.size();
      String system = template(UF_SYSTEM).render(Map.of());
      List<GenerationRequest> reqs = new ArrayList<>();
      List<List<Integer>> orders = new ArrayList<>();
      for (String aspect : Aspects.ALL) {
        List<Integer> order = shuffled(todo, s.seed(), promptId + "/" + aspect);
        orders.add(order);
        StringBuilder texts = new StringBuilder();
        for (int k = 0; k < n; k++) {
          texts.append(k == 0 ? "" : "\n").append("<text ").append(k + 1).append("> ").append(out.get(order.get(k)).text());
        }
        String user = template(UF_TEMPLATES.get(aspect)).render(Map.of("instruction", prompt, "texts", texts.toString(),
            "count", String.valueOf(n)));
        int perText = TYPED.contains(aspect) ? 320 : 192;
        reqs.add(request(promptId + "/judge/uf/" + aspect, system, user, 32 + n * perText, ultraFeedbackGrammar(aspect, n)));
      }
      List<GenerationResult> res = send(reqs);
      Map<Integer, Map<String, Double>> ratings = new TreeMap<>();
      Map<Integer, Map<String, Object>> notes = new TreeMap<>();
      todo.forEach(i -> {
        ratings.put(i, new LinkedHashMap<>());
        notes.put(i, new LinkedHashMap<>());
      });
      List<String> failed = new ArrayList<>();
      for (int a = 0; a < Aspects.ALL.size(); a++) {
        String aspect = Aspects.ALL.get(a);
        String reply = reply(reqs.get(a), res.get(a));
        if (reply == null) {
          failed.add(aspect + ": " + res.get(a).error());
          continue;
        }
        Map<Integer, JudgeReplies.Annotation> ann = JudgeReplies.ultraFeedback(reply, n);
        if (ann.isEmpty()) {
          unreadable++;
          problem(reqs.get(a).id(), "unreadable", "reply", excerpt(reply, 200));
          continue;
        }
        if (ann.size() < n) {
          List<Integer> missing = new ArrayList<>();
          for (int k = 1; k <= n; k++) {
            if (!ann.containsKey(k)) {
              missing.add(k);
            }
          }
          problem(reqs.get(a).id(), "partial", "missing_texts", missing);
        }
        for (Map.Entry<Integer, JudgeReplies.Annotation> e : ann.entrySet()) {
          int cand = orders.get(a).get(e.getKey() - 1);
          JudgeReplies.Annotation an = e.getValue();
          Map<String, Object> note = new LinkedHashMap<>();
          note.put("position", e.getKey());
          note.put("rating", an.rating() == null ? "N/A" : an.rating());
          note.put("rationale", excerpt(an.rationale(), 300));
          if (an.type() != null) {
            note.put("type", excerpt(an.type(), 100));
          }
          notes.get(cand).put(aspect, note);
          if (an.rating() != null) {
            ratings.get(cand).put(aspect, an.rating());
          }
        }
      }
      Map<String, String> templateHashes = new LinkedHashMap<>();
      templateHashes.put(UF_SYSTEM, template(UF_SYSTEM).hash());
      UF_TEMPLATES.values().forEach(id -> templateHashes.put(id, template(id).hash()));
      for (int i : todo) {
        Map<String, Object> info = baseInfo();
        info.put("judge_templates", templateHashes);
        info.put("judge_seed", reqs.get(0).seed());
        info.put("judge_annotations", notes.get(i));
        if (!failed.isEmpty()) {
          info.put("judge_error", String.join("; ", failed));
        }
        if (failed.size() < Aspects.ALL.size()) {
          judged++;
        }
        out.set(i, out.get(i).rated(ratings.get(i), info));
      }
    }

    void pairwise() {
      int n = out.size();
      if (n < 2) {
        return;
      }
      String system = template(PAIRWISE_SYSTEM).render(Map.of());
      PromptTemplate t = template(PAIRWISE_TEMPLATE);
      List<GenerationRequest> reqs = new ArrayList<>();
      List<int[]> shown = new ArrayList<>();
      int maxTokens = s.grammar() ? LINE + 64 : 1024;
      for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
          for (int[] ab : List.of(new int[] {i, j}, new int[] {j, i})) {
            String user = t.render(Map.of("instruction", prompt, "answer_a", out.get(ab[0]).text(), "answer_b",
                out.get(ab[1]).text()));
            reqs.add(request(promptId + "/judge/pw/" + ab[0] + "-" + ab[1], system, user, maxTokens, PAIRWISE_GRAMMAR));
            shown.add(ab);
          }
        }
      }
      List<GenerationResult> res = send(reqs);
      List<Game> games = new ArrayList<>();
      double[] points = new double[n];
      int[] played = new int[n];
      int[] wins = new int[n];
      int[] ties = new int[n];
      boolean[] answered = new boolean[n];
      for (int k = 0; k < reqs.size(); k += 2) {
        String[] v = new String[2];
        for (int o = 0; o < 2; o++) {
          String reply = reply(reqs.get(k + o), res.get(k + o));
          if (reply != null) {
            answered[shown.get(k)[0]] = true;
            answered[shown.get(k)[1]] = true;
            v[o] = JudgeReplies.verdict(reply);
            if (v[o] == null) {
              unreadable++;
              problem(reqs.get(k + o).id(), "unreadable", "reply", excerpt(reply, 200));
            }
          }
        }
        int i = shown.get(k)[0];
        int j = shown.get(k)[1];
        int winner;
        if (v[0] == null || v[1] == null) {
          winner = -2;
        } else {
          // v[0]: i shown as A; v[1]: j shown as A
          int w0 = v[0].equals("A") ? i : v[0].equals("B") ? j : -1;
          int w1 = v[1].equals("A") ? j : v[1].equals("B") ? i : -1;
          winner = w0 >= 0 && w0 == w1 ? w0 : -1;
        }
        games.add(new Game(i, j, v[0], v[1], winner));
        if (winner != -2) {
          played[i]++;
          played[j]++;
          if (winner == -1) {
            points[i] += 0.5;
            points[j] += 0.5;
            ties[i]++;
            ties[j]++;
          } else {
            points[winner] += 1;
            wins[winner]++;
          }
        }
      }
      List<Double> rates = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        Double rate = played[i] == 0 ? null : points[i] / played[i];
        rates.add(rate);
        Map<String, Object> info = baseInfo();
        info.put("judge_template", t.id());
        info.put("judge_template_hash", t.hash());
        info.put("judge_system_template_hash", template(PAIRWISE_SYSTEM).hash());
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("games", played[i]);
        record.put("wins", wins[i]);
        record.put("ties", ties[i]);
        record.put("losses", played[i] - wins[i] - ties[i]);
        record.put("win_rate", rate);
        info.put("pairwise", record);
        if (answered[i]) {
          judged++;
        }
        out.set(i, out.get(i).withInfo(info));
      }
      tournament = new Tournament(rates, games);
    }
  }

  /** Pairwise: a short comparison on one line, then the verdict. */
  public static final String PAIRWISE_GRAMMAR = "root ::= [^\\n\\[]{1," + LINE + "} \"\\n[[\" [ABC] \"]]\"\n";

  /**
   * The ultrafeedback protocol's answer for {@code n} texts: for each, in order, its header, (for
   * truthfulness and helpfulness a type line and its rationale,) a rating 1–5 (or N/A for honesty)
   * and a one-line rationale, blocks separated by a blank line.
   */
  public static String ultraFeedbackGrammar(String aspect, int n) {
    StringBuilder b = new StringBuilder("root ::=");
    for (int k = 1; k <= n; k++) {
      b.append(k == 1 ? " \"" : " \"\\n\\n").append("#### Output for Text ").append(k).append("\\n");
      if (TYPED.contains(aspect)) {
        b.append("Type: \" line \"\\nRationale: \" line \"\\n");
      }
      b.append("Rating: \" ").append(aspect.equals("honesty") ? "rating" : "[1-5]").append(" \"\\nRationale: \" line");
    }
    b.append("\nline ::= [^\\n]{1,").append(LINE).append("}\n");
    if (aspect.equals("honesty")) {
      b.append("rating ::= [1-5] | \"N/A\"\n");
    }
    return b.toString();
  }

  /** The four aspect ratings in a per-candidate answer, whether it repeats the first label or continues after it. */
  static Map<String, Double> aspects(String reply) {
    Map<String, Double> r = Aspects.parse(reply);
    if (!r.containsKey("instruction_following")) {
      Double first = Aspects.parse(ASPECTS_PREFIX + reply).get("instruction_following");
      if (first != null) {
        Map<String, Double> all = new LinkedHashMap<>();
        all.put("instruction_following", first);
        all.putAll(r);
        return all;
      }
    }
    return r;
  }

  /** The candidates {@code todo} in an order shuffled by a seed derived from the run seed and {@code key}. */
  static List<Integer> shuffled(List<Integer> todo, long seed, String key) {
    List<Integer> order = new ArrayList<>(todo);
    java.util.Collections.shuffle(order, new Random(Binarize.mix(Seeds.derive(seed, key) ^ 0x5f3759dfL)));
    return order;
  }

  static String excerpt(String s, int max) {
    String one = s == null ? "" : s.strip();
    return one.codePointCount(0, one.length()) <= max ? one : one.substring(0, one.offsetByCodePoints(0, max)) + "…";
  }
}
