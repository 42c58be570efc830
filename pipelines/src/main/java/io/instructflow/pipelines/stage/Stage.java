package io.instructflow.pipelines.stage;

import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OrderedPass;
import io.instructflow.schemas.Example;
import java.util.Map;
import java.util.Objects;
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
 * ({@link StageResult#then}); a stage that decides over all records at once ({@link DecideGlobally}) or
 * a round of a generator is a boundary whose output can be written and resumed.
 *
 * <p>A stage whose decision streams over records in input order with bounded memory (the ordered
 * dedup rules, {@code dedup}'s sequential ROUGE-L rule) leaves it for after the pipeline: it says so
 * with {@link #needsOrderedPass()}, its result's kept records are still pending
 * ({@link StageResult#pending()}), and the caller stages them with {@link OrderedPass#stage}, runs the
 * pipeline, then runs the gate of {@link #orderedPass()} over the stage. Such a stage ends a chain.
 */
public abstract class Stage extends PTransform<PCollection<KV<OrderKey, Example>>, StageResult> {
  private static final long serialVersionUID = 1L;

  private final String id;
  private final String version;

  /** A stage whose records get steps named {@code id} at {@code version}. */
  protected Stage(String id, String version) {
    this.id = Objects.requireNonNull(id, "id");
    this.version = Objects.requireNonNull(version, "version");
  }

  /** The provenance step name, stored in the data: never renamed. */
  public final String id() {
    return id;
  }

  /** The step's version; a change of output for equal input changes it. */
  public final String version() {
    return version;
  }

  /** The settings that decide the output, in a stable order, as they go into provenance and the summary. */
  public abstract Map<String, Object> params();

  /**
   * Whether this stage's decision is an {@link OrderedPass} after the pipeline rather than a step in
   * it; then its kept records are pending ({@link StageResult#pending()}). False unless a stage says so.
   */
  public boolean needsOrderedPass() {
    return false;
  }

  /**
   * A new gate for the pass after the pipeline, for a stage that {@link #needsOrderedPass()}; the
   * caller closes it.
   *
   * @throws UnsupportedOperationException for a stage that decides inside the pipeline
   */
  public OrderedPass.Gate<?> orderedPass() {
    throw new UnsupportedOperationException("stage " + id() + " decides inside the pipeline: it has no ordered pass");
  }
}
