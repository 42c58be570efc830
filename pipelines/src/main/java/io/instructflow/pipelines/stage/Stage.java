package io.instructflow.pipelines.stage;

import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import java.util.Map;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;

/**
 * One step of a run: records in, a {@link StageResult} out. A stage names itself the way provenance
 * does: {@link #id()} is the step name written into each record's {@code provenance.steps} (for
 * example {@code filter}), {@link #version()} that step's version, and {@link #params()} the settings
 * that decide its output, which go into each record's step and into the run summary. Two runs of a
 * stage with equal params over equal input write equal bytes.
 *
 * <p>A stage only wires Beam steps in {@code expand}; its rules live in plain classes tested without
 * Beam. Stages that see one record at a time fuse with their neighbours into one pipeline
 * ({@link StageResult#then}); a stage that decides over all records at once ({@code DecideGlobally}) or
 * a round of a generator is a boundary whose output can be written and resumed.
 */
public abstract class Stage extends PTransform<PCollection<KV<OrderKey, Example>>, StageResult> {
  private static final long serialVersionUID = 1L;

  /** The provenance step name, stored in the data: never renamed. */
  public abstract String id();

  /** The step's version; a change of output for equal input changes it. */
  public abstract String version();

  /** The settings that decide the output, in a stable order, as they go into provenance and the summary. */
  public abstract Map<String, Object> params();
}
