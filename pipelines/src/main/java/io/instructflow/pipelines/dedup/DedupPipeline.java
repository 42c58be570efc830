package io.instructflow.pipelines.dedup;

import io.instructflow.filters.rouge.DedupText;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OrderedPass;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stage.StageResult;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.RunSummary;
import java.io.IOException;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.join.CoGbkResult;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The {@code dedup} command: the Self-Instruct ROUGE-L rule over any input. In input order (or
 * {@code --order-by}), a record whose ROUGE-L F against any earlier kept record is above the
 * threshold goes to {@code filtered/} with a verdict naming that record and the score; the others go
 * to {@code data/} with a {@code kept} step.
 *
 * <p>Records are read and tokenized in parallel. By default the decision runs in input order with an
 * incremental Lucene index of the kept records, as a pass over the records staged in order
 * ({@link OrderedPass}). With {@code --order-by} the records are also staged in that order, by ranges
 * of the sort key ({@link StageInSortOrder}); the pass decides them in that order and spills its
 * decisions ({@link DecisionRuns}), and a second pass applies them to the records in input order. With
 * {@code components} the pair search spreads over the workers and the rule runs per connected
 * component ({@link FindRougeComponents}); both give exactly the sequential reference result. The
 * sequential form does less work when most records are duplicates (it compares with kept records
 * only); the components form spreads over workers. Records are then joined back with their decisions
 * and written in input order.
 */
public final class DedupPipeline {
  /** Step name written into provenance. */
  public static final String STEP = DedupRecords.STEP;
  /** Version of the step's logic. */
  public static final String STEP_VERSION = DedupRecords.STEP_VERSION;

  static final String NAMESPACE = "dedup";

  private DedupPipeline() {}

  /**
   * Settings of a dedup run.
   *
   * @param read what to read
   * @param out the output folder
   * @param threshold drop above this ROUGE-L F, in (0, 1]
   * @param field the compared text
   * @param tokenizer {@code rouge} (rouge_score-compatible) or {@code unicode}
   * @param stem Porter-stem tokens longer than three characters
   * @param orderBy a field to order by instead of input order, or null
   * @param strategy {@code sequential} (an incremental index of kept records) or {@code components}
   *     (all similar pairs in parallel, then the rule per connected component); same result
   * @param shardSize records per output shard
   * @param runner where to run
   */
  public record Config(ReadOptions read, String out, double threshold, DedupText field, String tokenizer, boolean stem,
      String orderBy, String strategy, long shardSize, Runner runner) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(field, "field");
      Objects.requireNonNull(runner, "runner");
      stage(threshold, field, tokenizer, stem, orderBy, strategy);
      if (shardSize < 1) {
        throw new IllegalArgumentException("--shard-size must be positive, got " + shardSize);
      }
    }

    /** The records part of the run: the rule with these settings. */
    public DedupRecords stage() {
      return stage(threshold, field, tokenizer, stem, orderBy, strategy);
    }

    private static DedupRecords stage(double threshold, DedupText field, String tokenizer, boolean stem, String orderBy,
        String strategy) {
      return DedupRecords.of(threshold, field, tokenizer, stem).withStrategy(strategy).withOrderBy(orderBy);
    }

    /** The step parameters recorded in provenance ({@link DedupRecords#params()}). */
    Map<String, Object> stepParameters() {
      return stage().params();
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.putAll(stepParameters());
      m.put("strategy", strategy);
      m.put("out", out);
      m.put("shardSize", shardSize);
      m.put("runner", runner.describe());
      return m;
    }
  }

  static final TupleTag<KV<OrderKey, Example>> KEPT = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Example>> FILTERED = new TupleTag<>() {};

  /** Runs the dedup and returns its summary; configuration problems throw before anything runs. */
  public static RunSummary run(Config c, PrintStream console) throws InputFiles.InputException, IOException {
    return run(c, console, StageInSortOrder.DEFAULT_TARGET, DecisionRuns.RUN);
  }

  /**
   * {@link #run} with {@code --order-by} ranges of about {@code rangeTarget} records and decision runs
   * of {@code decisionRun} decisions (tests make them small to show that the result does not depend on
   * them).
   */
  static RunSummary run(Config c, PrintStream console, long rangeTarget, int decisionRun)
      throws InputFiles.InputException, IOException {
    return plan(c, console, PipelineRun.Fusion.NONE, rangeTarget, decisionRun).runAlone();
  }

  /**
   * Whether the rule decides in an ordered pass after the pipeline (the sequential strategy): then the
   * kept records exist only after the pipeline, and cannot be handed on in a fused run.
   */
  public static boolean decidesAfterPipeline(Config c) {
    return c.stage().needsOrderedPass();
  }

  /** Builds the dedup run, alone or fused with the commands around it (issue 20). */
  public static PipelineRun.Part plan(Config c, PrintStream console, PipelineRun.Fusion fusion)
      throws InputFiles.InputException, IOException {
    return plan(c, console, fusion, StageInSortOrder.DEFAULT_TARGET, DecisionRuns.RUN);
  }

  private static PipelineRun.Part plan(Config c, PrintStream console, PipelineRun.Fusion fusion, long rangeTarget,
      int decisionRun) throws InputFiles.InputException, IOException {
    DedupRecords stage = c.stage();
    PipelineRun run = PipelineRun.start("dedup", c.runner(), c.read(), c.out(), c.asMap(), console, fusion)
        .shardSize(c.shardSize());
    console.printf(Locale.ROOT, "dedup: a record whose ROUGE-L F against an earlier kept one is > %s is dropped%n", c.threshold());
    ReadRecords.Result r = run.read();
    StageResult deduped = r.examples().apply("Dedup", stage).withRejects("DedupRejects", r.rejects());
    if (stage.needsOrderedPass()) {
      // staged in input order and decided by a pass over the stage (bounded memory)
      OrderedPass.stage(run.layout(), deduped.kept(), deduped.filtered(), "Ordered");
      if (c.orderBy() != null) {
        // and in --order-by order, by ranges of the sort key, for the decision (issue 23)
        r.examples().apply("StageSorted", StageInSortOrder.by(c.orderBy(), run.layout().staging(OrderedPass.SORTED))
            .withRangeTarget(rangeTarget));
      }
      run.write(deduped.rejects(), OutputLayout.Kind.REJECTS, "Rejects");
      return new PipelineRun.Part(run, "read+stage", List.of(Progress.READ), result -> {
        if (c.orderBy() == null) {
          try (DedupRecords.RougeDedupGate gate = stage.orderedPass()) {
            run.pass("rouge_l", gate);
            run.report().note(String.format(Locale.ROOT, "work: %,d candidates from the index, %,d LCS verifications",
                gate.stream.candidates(), gate.stream.verifications()));
          }
        } else {
          decideInSortOrder(run, stage, c, decisionRun, console);
        }
        return run.finish(c.shardSize(), null, null);
      });
    }
    run.write(deduped.kept(), OutputLayout.Kind.DATA, "Data");
    run.write(deduped.filtered(), OutputLayout.Kind.FILTERED, "Filtered");
    run.write(deduped.rejects(), OutputLayout.Kind.REJECTS, "Rejects");
    return new PipelineRun.Part(run, "read+dedup+write", List.of(Progress.READ, Progress.DECIDED), result -> {
      run.report().note(String.format(Locale.ROOT, "work: %,d similar pairs in %,d connected components",
          counter(result, "pairs"), counter(result, "components")));
      return run.finish(c.shardSize(), null, null);
    });
  }

  /**
   * The rule in {@code --order-by} order over the records staged by {@link StageInSortOrder}: a pass
   * over the sorted fragments with the same gate as input order, whose decisions go to
   * {@link DecisionRuns}; then a pass over the records staged in input order applies them, so the
   * outputs are written exactly as in input order.
   */
  private static void decideInSortOrder(PipelineRun run, DedupRecords stage, Config c, int decisionRun, PrintStream console)
      throws IOException {
    try (DecisionRuns decisions = new DecisionRuns(decisionRun)) {
      long t0 = System.nanoTime();
      try (DedupRecords.RougeDedupGate gate = stage.orderedPass();
          Progress.Ticker t = Progress.start("dedup rouge_l (--order-by " + c.orderBy() + ")",
              new String[] {Progress.DECIDED}, console)) {
        OrderedPass.decideSorted(run.layout(), gate, (key, e, v) -> decisions.add(new DecisionRuns.Entry(key, e.id(), v)));
        run.report().note(String.format(Locale.ROOT, "work: %,d candidates from the index, %,d LCS verifications",
            gate.stream.candidates(), gate.stream.verifications()));
      }
      run.report().stage("rouge_l", (System.nanoTime() - t0) / 1_000_000);
      Map<String, Object> params = stage.params();
      DecisionRuns.Replay apply = new DecisionRuns.Replay(decisions.inInputOrder(), (e, v) -> DedupRecords.stamp(e, v, params));
      run.pass("apply", apply);
      apply.requireDone();
    }
  }

  private static long counter(PipelineResult result, String name) {
    return PipelineRun.counter(result, NAMESPACE, name);
  }

  /** Tokenizes the compared text of each record. */
  static final class TokenizeFn extends DoFn<KV<OrderKey, Example>, DedupItem> {
    private static final long serialVersionUID = 1L;
    private final DedupText field;
    private final Tokenizer tokenizer;
    private final String orderBy;

    TokenizeFn(DedupText field, String tokenizer, boolean stem, String orderBy) {
      this.field = field;
      this.tokenizer = Tokenizer.named(tokenizer, stem);
      this.orderBy = orderBy;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Example> kv, OutputReceiver<DedupItem> out) {
      Example e = kv.getValue();
      out.output(new DedupItem(kv.getKey(), orderBy == null ? null : SortValue.of(e, orderBy),
          List.copyOf(tokenizer.tokens(field.of(e))), e.id(), e.provenance().origin().location()));
    }
  }

  /**
   * Adds the dedup step to each record and routes it to kept or filtered, after a CoGroupByKey of the
   * records and their decisions (the form the test reference of {@code --order-by} joins with; the
   * command joins through {@link DedupRecords}).
   */
  static final class ApplyFn extends DoFn<KV<OrderKey, CoGbkResult>, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final TupleTag<Example> exTag;
    private final TupleTag<DedupDecision> decTag;
    private final Map<String, Object> parameters;

    ApplyFn(TupleTag<Example> exTag, TupleTag<DedupDecision> decTag, Map<String, Object> parameters) {
      this.exTag = exTag;
      this.decTag = decTag;
      this.parameters = new LinkedHashMap<>(parameters);
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, CoGbkResult> kv, MultiOutputReceiver out) {
      DedupDecision d = kv.getValue().getOnly(decTag);
      Example e = DedupRecords.stamp(kv.getValue().getOnly(exTag), DedupRecords.verdict(d, parameters), parameters);
      out.get(d.kept() ? KEPT : FILTERED).output(KV.of(kv.getKey(), e));
    }
  }
}
