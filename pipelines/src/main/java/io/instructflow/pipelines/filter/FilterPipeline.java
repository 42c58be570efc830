package io.instructflow.pipelines.filter;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.dedup.MinHashComponents;
import io.instructflow.filters.judge.JudgeRule;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.OrderedPass;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stage.ApplyFilters;
import io.instructflow.pipelines.stage.StageResult;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.PipelineResult;

/**
 * The {@code filter} command: a {@link FilterChain} over a dataset. The per-record filters run in
 * parallel; the ROUGE-L rule, when the chain ends with it, sees the records that passed them in input
 * order, in one place, against the records kept before each one and the {@code --pool} texts. Every
 * record gets a {@value #STEP} step with the chain's name and hash and its verdict; dropped records go
 * to {@code filtered/} with the filter, the reason and the evidence (for ROUGE-L the matched record's
 * id and location, or the pool text). A chain whose first dedup rule is {@code minhash_dedup} with
 * {@code "mode": "components"} (or {@code semantic_dedup} with it) runs that rule first as a distributed
 * stage ({@link FindMinHashComponents}, {@link FindSemanticComponents}),
 * and the ordered rules after it see its survivors.
 */
public final class FilterPipeline {
  private FilterPipeline() {}

  /** Provenance step name. */
  public static final String STEP = ApplyFilters.STEP;

  /**
   * Settings of a filter run.
   *
   * @param read what to read
   * @param out output folder
   * @param chain the chain
   * @param pool texts that count as already kept by the ROUGE-L rule
   * @param poolSource where the pool came from, for the summary (null without a pool)
   * @param shardSize records per output shard
   * @param runner where to run
   * @param judging the judge model and rubric, exactly when the chain has an {@code llm_judge}
   */
  public record Config(ReadOptions read, String out, FilterChain chain, List<String> pool, String poolSource,
      long shardSize, Runner runner, JudgeStage.Settings judging) {
    /** A run of a chain without an {@code llm_judge}. */
    public Config(ReadOptions read, String out, FilterChain chain, List<String> pool, String poolSource, long shardSize,
        Runner runner) {
      this(read, out, chain, pool, poolSource, shardSize, runner, null);
    }

    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(chain, "chain");
      Objects.requireNonNull(runner, "runner");
      pool = List.copyOf(pool);
      FilterRecords.of(chain).withPool(pool);
      if (shardSize < 1) {
        throw new IllegalArgumentException("--shard-size must be positive, got " + shardSize);
      }
      if (chain.judge() != null && judging == null) {
        throw new IllegalArgumentException("chain " + chain.name() + " has an llm_judge: give the judge with --model GGUF or "
            + "--endpoint URL --model-name NAME");
      }
      if (chain.judge() == null && judging != null) {
        throw new IllegalArgumentException("a judge model was given but chain " + chain.name() + " has no llm_judge");
      }
      if (chain.judge() != null && (chain.judge().systemTemplate() == null) != (judging.system() == null)) {
        throw new IllegalArgumentException("the llm_judge rubric " + chain.judge().rubric().code() + " "
            + (judging.system() == null ? "needs its system template " + chain.judge().systemTemplate() : "has no system template"));
      }
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.putAll(FilterRecords.of(chain).params());
      m.put("pool", poolSource == null ? "none" : poolSource + " (" + pool.size() + " texts)");
      m.put("out", out);
      m.put("shardSize", shardSize);
      m.put("runner", runner.describe());
      if (judging != null) {
        m.putAll(judging.asMap());
      }
      return m;
    }

    /** Settings for the judge model and a rubric without a system message. */
    public static JudgeStage.Settings judging(ModelSpec model, PromptTemplate template, long seed, int batchSize) {
      return new JudgeStage.Settings(model, template, null, seed, batchSize);
    }

    /**
     * Settings for the judge model and the rubric of {@code rule}: its template and, for a rubric that has
     * one, its system template, each built in or overridden from {@code templates}.
     */
    public static JudgeStage.Settings judging(ModelSpec model, JudgeRule rule, java.nio.file.Path templates, long seed,
        int batchSize) throws IOException {
      return new JudgeStage.Settings(model, PromptTemplate.load(rule.template(), templates),
          rule.systemTemplate() == null ? null : PromptTemplate.load(rule.systemTemplate(), templates), seed, batchSize);
    }
  }

  /**
   * Runs the chain and returns the summary; configuration problems throw before anything runs.
   *
   * @throws InvalidModelException when the judge's model file is missing or not GGUF
   */
  public static RunSummary run(Config c, PrintStream console)
      throws InputFiles.InputException, IOException, InvalidModelException {
    return plan(c, console, PipelineRun.Fusion.NONE).runAlone();
  }

  /**
   * Whether the chain decides in an ordered pass after the pipeline (it ends with the ROUGE-L rule or an
   * ordered dedup rule): then its kept records exist only after the pipeline, and cannot be handed on in a
   * fused run.
   */
  public static boolean decidesAfterPipeline(Config c) {
    return FilterRecords.of(c.chain()).withPool(c.pool()).needsOrderedPass();
  }

  /**
   * Builds the filter run, alone or fused with the commands around it (issue 20).
   *
   * @throws InvalidModelException when the judge's model file is missing or not GGUF
   */
  public static PipelineRun.Part plan(Config c, PrintStream console, PipelineRun.Fusion fusion)
      throws InputFiles.InputException, IOException, InvalidModelException {
    boolean chat = false;
    Map<String, Object> settings = c.asMap();
    if (c.judging() != null) {
      io.instructflow.inference.llama.GgufMetadata meta = c.judging().model().check();
      Boolean asked = c.chain().judge().chat();
      chat = asked != null ? asked : PromptFormat.AUTO.resolve(c.judging().model().isRemote(),
          meta != null && meta.chatTemplate().isPresent()) == PromptFormat.CHAT;
      settings.put("judgeFormat", (chat ? "chat" : "text") + (asked == null ? " (auto)" : ""));
    }
    PipelineRun run = PipelineRun.start("filter", c.runner(), c.read(), c.out(), settings, console, fusion)
        .shardSize(c.shardSize());
    console.printf(Locale.ROOT, "filter: chain %s (%s)%s%n", c.chain().name(), String.join(", ",
        castList(c.chain().asMap().get("filters"))), c.pool().isEmpty() ? "" : ", pool of " + c.pool().size() + " texts");
    ReadRecords.Result r = run.read();
    FilterRecords stage = FilterRecords.of(c.chain()).withPool(c.pool());
    if (c.chain().judge() != null) {
      console.printf(Locale.ROOT, "filter: llm_judge %s, rubric %s, %s requests, threshold %s%n",
          c.judging().model().ref().id(), c.chain().judge().rubric().code(), chat ? "chat" : "text",
          c.chain().judge().threshold());
      stage = stage.withJudge(c.judging(), chat, run.inputNames());
    }
    StageResult filtered = r.examples().apply("Filter", stage).withRejects("AllRejects", r.rejects());
    if (stage.needsOrderedPass()) {
      // staged in input order and decided by a pass over the stage after the pipeline (bounded memory)
      OrderedPass.stage(run.layout(), filtered.kept(), filtered.filtered(), "Ordered");
    } else {
      run.write(filtered.kept(), OutputLayout.Kind.DATA, "Data");
      run.write(filtered.filtered(), OutputLayout.Kind.FILTERED, "Filtered");
    }
    run.write(filtered.rejects(), OutputLayout.Kind.REJECTS, "Rejects");
    FilterRecords decided = stage;
    List<String> counters = c.judging() == null ? List.of(Progress.READ, Progress.DECIDED)
        : List.of(Progress.READ, Progress.DECIDED, Progress.GENERATED, Progress.TOKENS);
    return new PipelineRun.Part(run, c.judging() == null ? "read+filter+write" : "read+filter+judge+write", counters,
        result -> finish(c, run, decided, result, console));
  }

  /** What follows the pipeline: the ordered pass, notes of the work done, publishing. */
  private static RunSummary finish(Config c, PipelineRun run, FilterRecords stage, PipelineResult result,
      PrintStream console) throws IOException {
    if (stage.needsOrderedPass()) {
      try (OrderedPass.Gate<?> gate = stage.orderedPass()) {
        run.pass("ordered rules", gate);
      }
    }
    if (c.chain().components().isPresent() && c.chain().components().get() instanceof MinHashComponents) {
      String ns = FindMinHashComponents.NAMESPACE;
      run.report().note(String.format(Locale.ROOT,
          "work: %,d band buckets of two or more records (%,d distinct member lists), %,d shingle sets sent to them, "
              + "%,d links, %,d components",
          PipelineRun.counter(result, ns, "shared_buckets"), PipelineRun.counter(result, ns, "distinct_buckets"),
          PipelineRun.counter(result, ns, "shingle_sets_sent"), PipelineRun.counter(result, ns, "edges"),
          PipelineRun.counter(result, ns, "components")));
    }
    if (c.judging() != null) {
      Map<String, Object> m = new LinkedHashMap<>();
      for (String name : List.of("requests", "cache_hits", "failures", "completion_tokens")) {
        m.put(name, PipelineRun.counter(result, JudgeStage.NAMESPACE, name));
      }
      run.report().metrics(JudgeStage.NAMESPACE, m);
      console.printf(Locale.ROOT, "filter: judge %s made %,d requests (%,d from the cache, %,d failed)%n",
          c.judging().model().ref().id(), m.get("requests"), m.get("cache_hits"), m.get("failures"));
    }
    return run.finish(c.shardSize(), null, null);
  }

  @SuppressWarnings("unchecked")
  private static List<String> castList(Object o) {
    return (List<String>) o;
  }

  static Example withVerdict(Example e, Map<String, Object> params, Verdict v) {
    return ApplyFilters.withVerdict(e, params, v);
  }
}
