package io.instructflow.pipelines.filter;

import io.instructflow.filters.judge.JudgeRule;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.Seeds;
import io.instructflow.pipelines.generate.GenerateRequests;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.runtime.ModelCounters;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalDouble;
import java.util.Set;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptors;

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
      Objects.requireNonNull(model, "model");
      Objects.requireNonNull(template, "template");
      template.requirePlaceholders(PLACEHOLDERS);
      if (system != null) {
        system.requirePlaceholders(Set.of());
      }
      if (batchSize < 1) {
        throw new IllegalArgumentException("--batch-size must be positive, got " + batchSize);
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
      Map<String, Object> chainParams, boolean last, List<String> inputs, boolean chat) {
    KvCoder<OrderKey, Example> coder = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class));
    int size = s.batchSize();
    PCollectionTuple out = passed
        .apply("JudgeBatchKeys", WithKeys.of((KV<OrderKey, Example> kv) -> kv.getKey().source() + "/"
            + kv.getKey().position() / size).withKeyType(TypeDescriptors.strings()))
        .setCoder(KvCoder.of(StringUtf8Coder.of(), coder))
        .apply("JudgeBatches", GroupByKey.create())
        .apply("Judge", ParDo.of(new JudgeFn(rule, s, chainParams, last, inputs, chat))
            .withOutputTags(JUDGED, TupleTagList.of(FILTERED).and(FAILED)));
    out.get(JUDGED).setCoder(coder);
    out.get(FILTERED).setCoder(coder);
    out.get(FAILED).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class)));
    return out;
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

  /** Rates one batch of records. */
  static final class JudgeFn extends DoFn<KV<String, Iterable<KV<OrderKey, Example>>>, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final JudgeRule rule;
    private final Settings settings;
    private final Map<String, Object> chainParams;
    private final boolean last;
    private final List<String> inputs;
    private final boolean chat;
    private final ModelCounters counters = new ModelCounters(NAMESPACE);
    private transient LanguageModel model;

    JudgeFn(JudgeRule rule, Settings settings, Map<String, Object> chainParams, boolean last, List<String> inputs,
        boolean chat) {
      this.chat = chat;
      this.rule = rule;
      this.settings = settings;
      this.chainParams = new LinkedHashMap<>(chainParams);
      this.last = last;
      this.inputs = List.copyOf(inputs);
    }

    @Setup
    public void setup() {
      model = counters.counting(settings.model().open());
    }

    @ProcessElement
    public void process(@Element KV<String, Iterable<KV<OrderKey, Example>>> batch, MultiOutputReceiver out) {
      List<KV<OrderKey, Example>> items = new ArrayList<>();
      batch.getValue().forEach(items::add);
      items.sort(Comparator.comparing((KV<OrderKey, Example> kv) -> kv.getKey()));
      SamplingParams params = SamplingParams.greedy(rule.maxTokens());
      if (!settings.model().isRemote()) {
        params = params.withGrammar(grammar(rule.rubric(), chat));
      }
      List<GenerationRequest> reqs = new ArrayList<>(items.size());
      for (KV<OrderKey, Example> kv : items) {
        Example e = kv.getValue();
        reqs.add(request(settings, chat, e, params, Seeds.derive(settings.seed(), e.id())));
      }
      List<GenerationResult> results = model.generate(reqs);
      ModelRef ref = model.ref();
      for (int i = 0; i < items.size(); i++) {
        OrderKey key = items.get(i).getKey();
        Example e = items.get(i).getValue();
        GenerationResult res = results.get(i);
        if (!res.ok()) {
          String source = key.source() >= 0 && key.source() < inputs.size() ? inputs.get(key.source()) : "";
          out.get(FAILED).output(KV.of(key, GenerateRequests.failedRequest(source, e.provenance().origin().location(), res,
              STEP, e)));
          Progress.add(Progress.DECIDED, 1);
          continue;
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
        Step step = new Step(STEP, VERSION, stepParams, v, List.of(), null, ref, settings.template().ref(),
            reqs.get(i).seed());
        if (v instanceof Verdict.Dropped) {
          out.get(FILTERED).output(KV.of(key, e.withStep(step)));
          Progress.add(Progress.DECIDED, 1);
          continue;
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
          Progress.add(Progress.DECIDED, 1);
        }
        out.get(JUDGED).output(KV.of(key, judged));
      }
    }
  }
}
