package io.instructflow.pipelines.bench;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.pipelines.filter.FilterPipeline;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Verdict;
import java.io.BufferedWriter;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code bench filter}: a filter chain as the Beam pipeline (SparkRunner) against a plain
 * single-thread Java loop that reads the same files, applies the same filter objects
 * ({@link FilterChain#apply}) and writes the same JSON lines. Both must keep the same records.
 */
public final class FilterBench {
  private FilterBench() {}

  /**
   * One measurement.
   *
   * @param records records read
   * @param kept records kept (equal in both, or the run fails)
   * @param loopSeconds the plain loop, read to write
   * @param pipelineSeconds the pipeline, start to summary (Spark start included)
   */
  public record Row(long records, long kept, double loopSeconds, double pipelineSeconds) {}

  /** Runs both on {@code in} (a file or folder) and returns the row. */
  public static Row run(Path in, FilterChain chain, Runner runner, Path work, PrintStream log) throws Exception {
    long t0 = System.nanoTime();
    List<Example> records = BenchData.examples(in, false);
    List<Verdict> verdicts = chain.apply(records, List.of());
    long kept = 0;
    Files.createDirectories(work);
    try (BufferedWriter data = Files.newBufferedWriter(work.resolve("loop-data.jsonl"), StandardCharsets.UTF_8);
        BufferedWriter filtered = Files.newBufferedWriter(work.resolve("loop-filtered.jsonl"), StandardCharsets.UTF_8)) {
      for (int i = 0; i < records.size(); i++) {
        boolean k = verdicts.get(i) instanceof Verdict.Kept;
        kept += k ? 1 : 0;
        (k ? data : filtered).write(Json.line(records.get(i)));
        (k ? data : filtered).write('\n');
      }
    }
    double loop = (System.nanoTime() - t0) / 1e9;
    log.printf("loop: %,d records, %,d kept, %.1f s%n", records.size(), kept, loop);
    long t1 = System.nanoTime();
    RunSummary s = FilterPipeline.run(new FilterPipeline.Config(ReadOptions.of(in.toString()), work.resolve("pipeline").toString(),
        chain, List.of(), null, 50_000, runner), log);
    double pipeline = (System.nanoTime() - t1) / 1e9;
    if (s.counts().kept() != kept || s.counts().read() != records.size()) {
      throw new IllegalStateException(String.format("the pipeline kept %d of %d, the loop %d of %d", s.counts().kept(),
          s.counts().read(), kept, records.size()));
    }
    return new Row(records.size(), kept, loop, pipeline);
  }
}
