package io.instructflow.pipelines.filter;

import io.instructflow.filters.judge.JudgeRule;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.Seeds;
import io.instructflow.pipelines.generate.GenerateRequests;
import io.instructflow.pipelines.io.InputNames;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.stage.CallModel;
import io.instructflow.pipelines.stage.ConfigChecks;
import io.instructflow.pipelines.stage.ModelCall;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalDouble;
import java.util.Set;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The {@code llm_judge} rule of a chain in the filter pipeline: each record that passed the per-record
 * filters is rated by the judge model under the rubric template, greedily, with its seed derived from
 * the run seed and the record id. Batches are formed by key (file and line), not by bundle, so every
 * runner sends the same requests, and the response cache makes a rerun free. Every judged record gets a
 * {@value #STEP} step naming the judge model, the template and the seed; a kept one carries its score in
 * {@code metadata.llm_judge}, a dropped one in the evidence. A request that fails goes to
 * {@code rejects/}.
 */
public final class JudgeStage {
  private JudgeStage() {}

  /** Provenance step name. */
  static final String STEP = "filter.llm_judge";
  static final String VERSION = "1";
  /** Metrics namespace. */
  static final String NAMESPACE = "llm_judge";
  /**
   * With the embedded engine the judge's reply is held to the rubric's format by a GBNF grammar: a score
   * from 0 to 5 in half points, then optionally a line of explanation. The anchored rubric's score comes
   * after its closing "Score:" in text mode and with the label in chat mode; the paper rubric's score
   * is the first line, alone, in both. An endpoint judge writes freely and the tolerant parser reads it.
   */
  static final String SCORE = "([0-4] (\".\" [05])? | \"5\" (\".0\")?)";
  static final String GRAMMAR_TEXT = "root ::= \" \" " + SCORE + " (\"\\n\" [^\\n]*)?\n";
  static final String GRAMMAR_CHAT = "root ::= \"Score: \" " + SCORE + " (\"\\n\" [^\\n]*)?\n";
  static final String GRAMMAR_PAPER = "root ::= " + SCORE + " (\"\\n\" [^\\n]*)?\n";

  /** The grammar for a rubric and a request format. */
  static String grammar(JudgeRule.Rubric rubric, boolean chat) {
    return rubric == JudgeRule.Rubric.PAPER ? GRAMMAR_PAPER : chat ? GRAMMAR_CHAT : GRAMMAR_TEXT;
  }

  /** Placeholders the rubric template must use. */
  static final Set<String> PLACEHOLDERS = Set.of("instruction", "input", "output");

  /**
   * How the judge runs.
   *
   * @param model the judge model and its response cache
   * @param template the rubric (already loaded, with its hash)
   * @param system the rubric's system message, or null when it has none
   * @param seed run seed; each request's seed derives from it and the record id
   * @param batchSize records per model call
   */
  public record Settings(ModelSpec model, PromptTemplate template, PromptTemplate system, long seed, int batchSize)
      implements Serializable {
    private static final long serialVersionUID = 1L;

    public Settings {
      ConfigChecks.modelCall(model, batchSize);
      Objects.requireNonNull(template, "template");
      template.requirePlaceholders(PLACEHOLDERS);
      if (system != null) {
        system.requirePlaceholders(Set.of());
      }
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>(model.asMap());
      m.put("judgeTemplateHash", template.hash());
      m.put("judgeTemplateSource", template.source());
      if (system != null) {
        m.put("judgeSystemTemplate", system.id());
        m.put("judgeSystemTemplateHash", system.hash());
      }
      m.put("seed", seed);
      m.put("batchSize", batchSize);
      return m;
    }
  }

  static final TupleTag<KV<OrderKey, Example>> JUDGED = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Example>> FILTERED = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Reject>> FAILED = new TupleTag<>() {};

  /**
   * Judges {@code passed}.
   *
   * @param chainParams the chain's parameters, for the final {@code filter} step of records this stage
   *     decides for good
   * @param last whether nothing follows the judge (then a kept record gets its final step here)
   * @param inputs the input files, to name a failed request's source
   * @param chat whether the requests are chat requests (the rule's {@code chat}, or the automatic choice)
   */
  static PCollectionTuple apply(PCollection<KV<OrderKey, Example>> passed, JudgeRule rule, Settings s,
      Map<String, Object> chainParams, boolean last, InputNames inputs, boolean chat) {
    CallModel.Result<Example> r = passed.apply("Judge", CallModel.of(NAMESPACE, CallModel.ModelSource.of(s.model()),
        new JudgeCall(rule, s, chainParams, last, chat), CallModel.EXAMPLES).withBatchSize(s.batchSize()).withInputs(inputs));
    return PCollectionTuple.of(JUDGED, r.kept()).and(FILTERED, r.filtered()).and(FAILED, r.rejects());
  }

  /** The rubric filled in for a record: its instruction, its input or "(none)", its response. */
  static String prompt(PromptTemplate t, Example e) {
    String input = e.input() == null || e.input().isBlank() ? "(none)" : e.input();
    return t.render(Map.of("instruction", e.instructionText(), "input", input, "output", e.outputText().orElse("")));
  }

  /**
   * The request for a record: in chat, the system message (when the rubric has one) and the rubric as
   * the user message; in text, the system text, a blank line and the rubric.
   */
  static GenerationRequest request(Settings s, boolean chat, Example e, SamplingParams params, long seed) {
    String p = prompt(s.template(), e);
    String system = s.system() == null ? null : s.system().render(Map.of()).strip();
    if (chat) {
      List<Message> m = new ArrayList<>();
      if (system != null) {
        m.add(new Message("system", system));
      }
      m.add(new Message("user", p));
      return GenerationRequest.chat(e.id(), m, params, seed);
    }
    return GenerationRequest.text(e.id(), system == null ? p : system + "\n\n" + p, params, seed);
  }

  /**
   * Rates records, one greedy request each (held to the rubric's format by a grammar on the embedded
   * engine), for {@link CallModel}: a failed request rejects the record; a rating below the threshold
   * filters it; a kept record carries its score in {@code metadata.llm_judge} and, when nothing follows
   * the judge, its final {@code filter} step.
   */
  static final class JudgeCall implements ModelCall.PerRequest<Example> {
    private static final long serialVersionUID = 1L;
    private final JudgeRule rule;
    private final Settings settings;
    private final LinkedHashMap<String, Object> chainParams;
    private final boolean last;
    private final boolean chat;

    JudgeCall(JudgeRule rule, Settings settings, Map<String, Object> chainParams, boolean last, boolean chat) {
      this.rule = rule;
      this.settings = settings;
      this.chainParams = new LinkedHashMap<>(chainParams);
      this.last = last;
      this.chat = chat;
    }

    @Override
    public GenerationRequest request(Example e) {
      SamplingParams params = SamplingParams.greedy(rule.maxTokens());
      if (!settings.model().isRemote()) {
        params = params.withGrammar(grammar(rule.rubric(), chat));
      }
      return JudgeStage.request(settings, chat, e, params, Seeds.derive(settings.seed(), e.id()));
    }

    @Override
    public ModelCall.Outcome<Example> answer(Example e, GenerationRequest req, GenerationResult res, ModelRef ref) {
      if (!res.ok()) {
        return ModelCall.Outcome.failed(e.provenance().origin().location(), GenerateRequests.rejectReason(res), res.error(),
            STEP, e);
      }
      String reply = res.choices().get(0).text();
      Verdict v = rule.verdict(reply, ref.id());
      Map<String, Object> stepParams = new LinkedHashMap<>();
      stepParams.put("threshold", rule.threshold());
      stepParams.put("maxTokens", rule.maxTokens());
      stepParams.put("chat", chat);
      stepParams.put("format", rule.chat() == null ? "auto" : rule.chat() ? "chat" : "text");
      stepParams.put("rubric", rule.rubric().code());
      stepParams.put("keepUnscored", rule.keepUnscored());
      Step step = new Step(STEP, VERSION, stepParams, v, List.of(), null, ref, settings.template().ref(), req.seed());
      if (v instanceof Verdict.Dropped) {
        return ModelCall.Outcome.filtered(e.withStep(step));
      }
      OptionalDouble score = rule.score(reply);
      Map<String, Object> meta = new LinkedHashMap<>();
      meta.put("score", score.isPresent() ? score.getAsDouble() : null);
      meta.put("threshold", rule.threshold());
      meta.put("judge", ref.id());
      meta.put("template", settings.template().id());
      meta.put("templateHash", settings.template().hash());
      meta.put("rubric", rule.rubric().code());
      Example judged = e.withMetadata(NAMESPACE, meta).withStep(step);
      if (last) {
        judged = FilterPipeline.withVerdict(judged, chainParams, Verdict.KEPT);
      }
      return ModelCall.Outcome.kept(judged, last);
    }
  }
}
