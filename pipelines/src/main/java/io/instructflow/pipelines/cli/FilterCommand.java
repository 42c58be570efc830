package io.instructflow.pipelines.cli;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.generators.selfinstruct.SeedTask;
import io.instructflow.generators.selfinstruct.SeedTasks;
import io.instructflow.pipelines.filter.FilterPipeline;
import io.instructflow.pipelines.runtime.RunReport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow filter}: a filter chain over a dataset, every drop with its filter, reason and evidence. */
@Command(
    name = "filter",
    mixinStandardHelpOptions = true,
    description = {
      "Apply a filter chain: per-record filters in order (the first drop decides), then, when the chain ends with "
          + "rouge_l, the ROUGE-L rule in input order against the records kept before and the --pool texts.",
      "Presets: self-instruct and alpaca (the instruction rules of those papers, then ROUGE-L F > 0.7). "
          + "--config FILE gives a chain as JSON (see README).",
      "Writes OUT/data/ (kept), OUT/filtered/ (dropped, with filter, reason and evidence), OUT/rejects/, "
          + "OUT/run-summary.json."
    })
public final class FilterCommand implements Callable<Integer> {
  @Mixin InputOptions input;
  @Mixin RunOptions run;
  @Mixin OutputOptions output;

  @Option(names = "--preset", paramLabel = "NAME", description = "A built-in chain: self-instruct or alpaca.")
  String preset;

  @Option(names = "--config", paramLabel = "FILE", description = "A chain as JSON, instead of --preset.")
  Path config;

  @Option(names = "--pool", paramLabel = "JSONL",
      description = "Instructions that count as already kept by the ROUGE-L rule (e.g. the seed tasks): records or "
          + "seed tasks with an 'instruction'.")
  Path pool;

  @Override
  public Integer call() throws Exception {
    FilterPipeline.Config c;
    try {
      if ((preset == null) == (config == null)) {
        throw new IllegalArgumentException("give --preset NAME or --config FILE");
      }
      FilterChain chain = preset != null ? FilterChain.preset(preset) : FilterChain.read(config);
      c = new FilterPipeline.Config(input.toReadOptions(), output.out, chain, poolTexts(),
          pool == null ? null : pool.toString(), output.shardSize, run.toRunner());
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
    return RunReport.exitCode(FilterPipeline.run(c, System.out));
  }

  /** The pool's instructions; a pool with a bad line is a usage error (it is configuration, not data). */
  private List<String> poolTexts() throws IOException {
    List<String> out = new ArrayList<>();
    if (pool == null) {
      return out;
    }
    if (!Files.isRegularFile(pool)) {
      throw new IllegalArgumentException("--pool: no such file: " + pool);
    }
    SeedTasks.Result r = SeedTasks.read(pool);
    if (!r.problems().isEmpty()) {
      SeedTasks.Problem p = r.problems().get(0);
      throw new IllegalArgumentException(String.format("--pool: %d bad line(s), the first at %s: %s",
          r.problems().size(), p.location(), p.message()));
    }
    r.tasks().forEach((SeedTask t) -> out.add(t.instruction()));
    return out;
  }
}
