package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.PipelineRun;

/**
 * A command whose pipeline can share one Beam pipeline with its neighbours in a recipe: a fused run
 * (issue 20, docs/recipes.md). A stage that {@link #handsOnInPipeline hands on} gives its kept records to
 * the next stage inside the pipeline; a stage that reads records of ours ({@link #read}) can take them
 * there instead of reading the published output. Run alone, a fusible command runs its plan by itself
 * ({@link PipelineCommand#run}). Both write exactly what they write run one after
 * the other ({@link io.instructflow.pipelines.io.HandOff}).
 *
 * @param <C> the command's configuration
 */
interface Fusible<C> {
  /** What it reads: only records of ours, as a published output gives them, can come from the pipeline. */
  ReadOptions read(C config);

  /** Whether, so configured, its kept records exist inside the pipeline (not only after an ordered pass). */
  default boolean handsOnInPipeline(C config) {
    return true;
  }

  /** Builds its pipeline into a run that shares the pipeline as {@code fusion} says ({@link PipelineRun.Fusion#NONE}: alone). */
  PipelineRun.Part plan(C config, PipelineRun.Fusion fusion) throws Exception;
}
