package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.RunReport;
import io.instructflow.schemas.RunSummary;
import java.util.concurrent.Callable;

/**
 * A command that runs one pipeline: it turns its options into the pipeline's configuration, then runs
 * it. The two steps are apart so that a bad argument is a usage error in one place (issue 20): an
 * {@link IllegalArgumentException} thrown while configuring (a bad value, a missing file, contradicting
 * options; its message names the option) becomes a {@link Main.UsageException}, exit status 2 with the
 * message alone, before anything runs. What the pipeline itself finds before it starts is sorted by
 * {@link Main#usageError}.
 *
 * @param <C> the pipeline's configuration
 */
abstract class PipelineCommand<C> implements Callable<Integer> {
  /**
   * The pipeline's configuration from the options.
   *
   * @throws IllegalArgumentException on a bad argument, with a message that names the option
   */
  abstract C configure() throws Exception;

  /**
   * Runs the pipeline with a configuration {@link #configure} made and returns its summary. A
   * {@link Fusible} command runs its plan alone; any other command overrides this.
   */
  @SuppressWarnings("unchecked")
  RunSummary run(C config) throws Exception {
    if (this instanceof Fusible<?> f) {
      return ((Fusible<C>) f).plan(config, PipelineRun.Fusion.NONE).runAlone();
    }
    throw new UnsupportedOperationException(getClass().getSimpleName() + " must override run");
  }

  /** Configures, then runs; the exit status follows the summary ({@link RunReport#exitCode}). */
  @Override
  public final Integer call() throws Exception {
    C config;
    try {
      config = configure();
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
    return RunReport.exitCode(run(config));
  }
}
