package io.instructflow.pipelines.importer;

import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.RunSummary;
import io.instructflow.pipelines.io.ReadOptions;
import java.io.IOException;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The {@code import} command: any supported input shape to our records, with rejects.
 *
 * <p>Reads {@link Config#in} in defined order, converts every record, writes {@code data/} and
 * {@code rejects/} in input order (byte-identical on every run and runner) and the run summary.
 */
public final class ImportPipeline {
  private ImportPipeline() {}

  /**
   * Settings of an import.
   *
   * @param read what to read and how
   * @param out the output folder
   * @param shardSize records per output shard
   * @param maxRejectRatio allowed share of rejects, or null
   * @param runner where to run
   */
  public record Config(ReadOptions read, String out, long shardSize, Double maxRejectRatio, Runner runner) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(runner, "runner");
      if (shardSize < 1) {
        throw new IllegalArgumentException("--shard-size must be positive, got " + shardSize);
      }
      if (maxRejectRatio != null && (maxRejectRatio < 0 || maxRejectRatio > 1)) {
        throw new IllegalArgumentException("--max-reject-ratio must be within [0, 1], got " + maxRejectRatio);
      }
    }

    /** The settings as they go into the run summary. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.put("out", out);
      m.put("shardSize", shardSize);
      if (maxRejectRatio != null) {
        m.put("maxRejectRatio", maxRejectRatio);
      }
      m.put("runner", runner.describe());
      return m;
    }
  }

  /** Runs the import and returns its summary; a bad {@code --in} throws before anything runs. */
  public static RunSummary run(Config c, PrintStream console) throws InputFiles.InputException, IOException {
    return plan(c, console, PipelineRun.Fusion.NONE).runAlone();
  }

  /** Builds the import into a run, alone or fused with the commands around it (issue 20). */
  public static PipelineRun.Part plan(Config c, PrintStream console, PipelineRun.Fusion fusion)
      throws InputFiles.InputException, IOException {
    PipelineRun run = PipelineRun.start("import", c.runner(), c.read(), c.out(), c.asMap(), console, fusion)
        .shardSize(c.shardSize());
    ReadRecords.Result r = run.read();
    run.write(r.examples(), OutputLayout.Kind.DATA, "Data");
    run.write(r.rejects(), OutputLayout.Kind.REJECTS, "Rejects");
    return new PipelineRun.Part(run, "read+convert+write", List.of(Progress.READ),
        result -> run.finish(c.shardSize(), null, c.maxRejectRatio()));
  }
}
