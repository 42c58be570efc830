package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.runtime.PipelineRun;

/**
 * A command whose pipeline can share one Beam pipeline with its neighbours in a recipe: a fused run
 * (issue 20, docs/recipes.md). A stage that {@link #handsOnInPipeline hands on} gives its kept records to
 * the next stage inside the pipeline; a stage that {@link #readsInPipeline reads in the pipeline} takes
 * them there instead of reading the published output. Both write exactly what they write run one after
 * the other ({@link io.instructflow.pipelines.io.HandOff}).
 *
 * @param <C> the command's configuration
 */
interface Fusible<C> {
  /** Whether, so configured, it can read the previous stage's kept records inside the pipeline. */
  boolean readsInPipeline(C config);

  /** Whether, so configured, its kept records exist inside the pipeline (not only after an ordered pass). */
  boolean handsOnInPipeline(C config);

  /** Builds its pipeline into a run that shares the pipeline as {@code fusion} says. */
  PipelineRun.Part plan(C config, PipelineRun.Fusion fusion) throws Exception;
}
