package io.instructflow.pipelines.select;

import io.instructflow.filters.chain.GateInput;
import io.instructflow.filters.chain.OrderedRule;
import io.instructflow.filters.dedup.SemanticDedup;
import io.instructflow.pipelines.dedup.DecisionRuns;
import io.instructflow.pipelines.dedup.SortValue;
import io.instructflow.pipelines.dedup.StageInSortOrder;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OrderedPass;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stage.ConfigChecks;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * {@code select}: a budgeted, diversity-aware choice of the best records (Deita's rule, issue 22). The
 * records are ranked by a score expression over {@code metadata.scores} (highest first, ties in input
 * order); walking down that ranking, a record is selected when the cosine similarity of its sentence
 * embedding to every record selected before it is below the diversity threshold, until {@code budget}
 * records are selected. The rest go to {@code filtered/}: {@value #TOO_SIMILAR} naming the nearest
 * selected record and the cosine, {@value #OVER_BUDGET} once the budget is full, {@value #NO_SCORE} for
 * a record without a number for every name in the expression. Outputs are in input order.
 *
 * <p>How it runs, in bounded memory: the scored records are staged in score order by ranges of the
 * score ({@link StageInSortOrder}) and in input order ({@link OrderedPass#stage}); a pass on the driver
 * walks the ranking with the ordered {@code semantic_dedup} decider at the diversity threshold (an
 * on-disk HNSW index of the selected records' embeddings, each candidate verified with the exact
 * cosine), and its decisions are sorted back into input order on disk ({@link DecisionRuns}) and
 * applied in a second pass. Memory: one staged fragment at a time, the selected records' ids and
 * locations, and a sort buffer of decisions.
 */
public final class SelectPipeline {
  /** Step name written into provenance. */
  public static final String STEP = "select";
  /** Version of the step's logic. */
  public static final String STEP_VERSION = "1";
  /** Filter id in dropped verdicts. */
  public static final String FILTER = "select";
  /** A record as close as the threshold or closer to one selected before it. */
  public static final String TOO_SIMILAR = "select.too_similar";
  /** A record ranked after the budget was full. */
  public static final String OVER_BUDGET = "select.over_budget";
  /** A record without a number for a name of the expression. */
  public static final String NO_SCORE = "select.missing_score";

  private SelectPipeline() {}

  /**
   * Settings of a select run.
   *
   * @param read what to read
   * @param out the output folder
   * @param budget records to select, at least 1
   * @param by the score expression
   * @param diversity select a record only when its cosine to every selected one is below this, in (0, 1]
   * @param model the embedding model: {@code auto} (Chinese text to BGE-small-zh, the rest to MiniLM),
   *     or one model's code, as {@code semantic_dedup}'s
   * @param field the embedded text: {@code prompt}, {@code instruction} or {@code all}
   * @param shardSize records per output shard
   * @param runner where to run
   */
  public record Config(ReadOptions read, String out, long budget, ScoreExpression by, double diversity, String model,
      String field, long shardSize, Runner runner) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(by, "by");
      if (budget < 1) {
        throw new IllegalArgumentException("--budget must be at least 1, got " + budget);
      }
      if (!(diversity > 0 && diversity <= 1)) {
        throw new IllegalArgumentException("--diversity must be in (0, 1], got " + diversity);
      }
      ConfigChecks.output(out, shardSize, runner);
      rule(model, diversity, field);
    }

    /** The ordered semantic rule that decides diversity. */
    SemanticDedup rule() {
      return rule(model, diversity, field);
    }

    private static SemanticDedup rule(String model, double diversity, String field) {
      try {
        return new SemanticDedup(model, diversity, field, 32, 1000);
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(e.getMessage().replace("semantic_dedup: ", "select: "));
      }
    }

    /** The step parameters recorded in provenance. */
    Map<String, Object> stepParameters() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("budget", budget);
      m.put("by", by.text());
      m.put("diversity", diversity);
      m.put("model", model);
      m.put("field", field);
      return m;
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.putAll(stepParameters());
      m.put("out", out);
      m.put("shardSize", shardSize);
      m.put("runner", runner.describe());
      return m;
    }
  }

  static final TupleTag<KV<OrderKey, Example>> SCORED = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Example>> UNSCORED = new TupleTag<>() {};

  /** Runs the selection and returns its summary; configuration problems throw before anything runs. */
  public static RunSummary run(Config c, PrintStream console) throws InputFiles.InputException, IOException {
    return run(c, console, StageInSortOrder.DEFAULT_TARGET, DecisionRuns.RUN);
  }

  /**
   * {@link #run} with ranges of about {@code rangeTarget} records and decision runs of
   * {@code decisionRun} (tests make them small: the result must not depend on them).
   */
  static RunSummary run(Config c, PrintStream console, long rangeTarget, int decisionRun)
      throws InputFiles.InputException, IOException {
    PipelineRun run = PipelineRun.start("select", c.runner(), c.read(), c.out(), c.asMap(), console);
    console.printf(Locale.ROOT, "select: %,d records by %s, highest first, each below cosine %s to those selected before%n",
        c.budget(), c.by().text(), c.diversity());
    ReadRecords.Result r = run.read();
    Map<String, Object> params = c.stepParameters();
    KvCoder<OrderKey, Example> coder = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class));
    PCollectionTuple split = r.examples().apply("Score", ParDo.of(new ScoreFn(c.by(), params))
        .withOutputTags(SCORED, TupleTagList.of(UNSCORED)));
    PCollection<KV<OrderKey, Example>> scored = split.get(SCORED).setCoder(coder);
    OrderedPass.stage(run.layout(), scored, split.get(UNSCORED).setCoder(coder), "Ordered");
    ScoreExpression by = c.by();
    scored.apply("StageRanked", StageInSortOrder.by(e -> rankOf(by, e), run.layout().staging(OrderedPass.SORTED))
        .withRangeTarget(rangeTarget));
    run.write(r.rejects(), OutputLayout.Kind.REJECTS, "Rejects");
    run.execute("read+stage", Progress.READ);
    try (DecisionRuns decisions = new DecisionRuns(decisionRun)) {
      long t0 = System.nanoTime();
      try (SelectGate gate = new SelectGate(c);
          Progress.Ticker t = Progress.start("select (ranked by " + by.text() + ")", new String[] {Progress.DECIDED}, console)) {
        OrderedPass.decideSorted(run.layout(), gate, (key, e, v) -> decisions.add(new DecisionRuns.Entry(key, e.id(), v)));
        run.report().note(String.format(Locale.ROOT, "work: %,d selected of %,d ranked; %,d too similar, %,d over the budget",
            gate.selected, gate.seen, gate.tooSimilar, gate.seen - gate.selected - gate.tooSimilar));
        if (gate.selected < c.budget()) {
          run.report().note(String.format(Locale.ROOT, "only %,d records could be selected, fewer than the budget of %,d",
              gate.selected, c.budget()));
        }
      }
      run.report().stage("select", (System.nanoTime() - t0) / 1_000_000);
      DecisionRuns.Replay apply = new DecisionRuns.Replay(decisions.inInputOrder(), (e, v) -> stamp(e, v, params));
      run.pass("apply", apply);
      apply.requireDone();
    }
    return run.finish(c.shardSize(), null, null);
  }

  /** The ranking: the negated score, so that the highest comes first; then input order. */
  static SortValue rankOf(ScoreExpression by, Example e) {
    double v = by.valueOf(e).orElseThrow(() -> new IllegalStateException("record " + e.id() + " was staged without a score"));
    return new SortValue(0, v == 0 ? 0.0 : -v, null);
  }

  static Example stamp(Example e, Verdict v, Map<String, Object> parameters) {
    return e.withStep(Step.of(STEP, STEP_VERSION, parameters, v, null));
  }

  /** Splits records into those with a score and those without (stamped with {@value #NO_SCORE}). */
  static final class ScoreFn extends DoFn<KV<OrderKey, Example>, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final ScoreExpression by;
    private final Map<String, Object> parameters;

    ScoreFn(ScoreExpression by, Map<String, Object> parameters) {
      this.by = by;
      this.parameters = new LinkedHashMap<>(parameters);
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, MultiOutputReceiver out) {
      Example e = kv.getValue();
      if (by.valueOf(e).isPresent()) {
        out.get(SCORED).output(kv);
        return;
      }
      Map<String, Object> d = new LinkedHashMap<>();
      d.put("by", by.text());
      d.put("missing", by.missing(e));
      Progress.add(Progress.DECIDED, 1);
      out.get(UNSCORED).output(KV.of(kv.getKey(), stamp(e, new Verdict.Dropped(FILTER, NO_SCORE, d), parameters)));
    }
  }

  /** Deita's walk down the ranking: the ordered semantic rule at the diversity threshold, up to the budget. */
  static final class SelectGate implements OrderedPass.Gate<SemanticDedup.Prepared> {
    private final SemanticDedup rule;
    private final OrderedRule.Decider decider;
    private final ScoreExpression by;
    private final long budget;
    private final Map<String, Object> parameters;
    long seen;
    volatile long selected;
    long tooSimilar;

    SelectGate(Config c) {
      rule = c.rule();
      decider = rule.open();
      by = c.by();
      budget = c.budget();
      parameters = c.stepParameters();
    }

    /** The embedding; none once the budget is full, since every later record is over it (the costly part skipped). */
    @Override
    public SemanticDedup.Prepared prepare(Example e) {
      return selected >= budget ? null : rule.prepare(GateInput.of(e));
    }

    @Override
    public Verdict decide(Example e, SemanticDedup.Prepared prepared) {
      seen++;
      double score = by.valueOf(e).orElseThrow();
      Map<String, Object> d = new LinkedHashMap<>();
      d.put("score", score);
      if (selected >= budget) {
        d.put("budget", budget);
        return new Verdict.Dropped(FILTER, OVER_BUDGET, d);
      }
      Verdict v = decider.decide(GateInput.of(e), prepared);
      if (v instanceof Verdict.Dropped near) {
        tooSimilar++;
        d.put("cosine", near.details().get("cosine"));
        d.put("threshold", near.details().get("threshold"));
        d.put("model", near.details().get("model"));
        d.put("nearest_id", near.details().get("matched_id"));
        d.put("nearest_location", near.details().get("matched_location"));
        return new Verdict.Dropped(FILTER, TOO_SIMILAR, d);
      }
      selected++;
      return Verdict.KEPT;
    }

    @Override
    public Example stamp(Example e, Verdict v) {
      return SelectPipeline.stamp(e, v, parameters);
    }

    @Override
    public void close() {
      decider.close();
    }
  }
}
