package io.instructflow.pipelines.stage;

import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Reject;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.POutput;
import org.apache.beam.sdk.values.PValue;
import org.apache.beam.sdk.values.TupleTag;

/**
 * Where the records a {@link Stage} was given went: every input record ends in exactly one of
 * {@link #kept()} (on to the next stage or to {@code data/}), {@link #filtered()} (dropped by a rule,
 * with the rule's step) or {@link #rejects()} (could not be processed, with its source and a reason).
 * All three are keyed by the record's place in the input ({@link OrderKey}), so each can be written
 * in input order.
 *
 * <p>Results compose: {@link #then} applies a further stage to the kept records and carries this
 * result's filtered records and rejects along, so a chain of streaming stages is one result and one
 * Beam pipeline, with no files between them.
 *
 * <p>A result is {@link #pending()} when its stage leaves the decision of its kept records to an
 * ordered pass after the pipeline ({@link Stage#needsOrderedPass()}): those records are not decided
 * yet, so no stage can follow it in the pipeline ({@link #then} refuses).
 */
public final class StageResult implements POutput {
  /** The coder of kept and filtered records. */
  public static final KvCoder<OrderKey, Example> RECORDS = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class));
  /** The coder of rejects. */
  public static final KvCoder<OrderKey, Reject> REJECTS = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class));

  private static final TupleTag<KV<OrderKey, Example>> KEPT = new TupleTag<>("kept");
  private static final TupleTag<KV<OrderKey, Example>> FILTERED = new TupleTag<>("filtered");
  private static final TupleTag<KV<OrderKey, Reject>> REJECTED = new TupleTag<>("rejects");

  private final PCollection<KV<OrderKey, Example>> kept;
  private final PCollection<KV<OrderKey, Example>> filtered;
  private final PCollection<KV<OrderKey, Reject>> rejects;
  private final boolean pending;

  private StageResult(PCollection<KV<OrderKey, Example>> kept, PCollection<KV<OrderKey, Example>> filtered,
      PCollection<KV<OrderKey, Reject>> rejects, boolean pending) {
    this.pending = pending;
    this.kept = Objects.requireNonNull(kept, "kept");
    this.filtered = Objects.requireNonNull(filtered, "filtered");
    this.rejects = Objects.requireNonNull(rejects, "rejects");
    if (kept.getPipeline() != filtered.getPipeline() || kept.getPipeline() != rejects.getPipeline()) {
      throw new IllegalArgumentException("a stage result's three collections must belong to one pipeline");
    }
  }

  /**
   * A result of the three collections; the coders of records and rejects are set here. A collection
   * already in use (a stage's own input, passed on as its kept records) keeps its coder, which must be
   * that coder.
   */
  public static StageResult of(PCollection<KV<OrderKey, Example>> kept, PCollection<KV<OrderKey, Example>> filtered,
      PCollection<KV<OrderKey, Reject>> rejects) {
    return new StageResult(coded(kept, RECORDS), coded(filtered, RECORDS), coded(rejects, REJECTS), false);
  }

  private static <T> PCollection<T> coded(PCollection<T> c, Coder<T> coder) {
    try {
      return c.setCoder(coder);
    } catch (IllegalStateException inUse) {
      // Beam fixes a collection's coder once a transform has read it; only a different coder is wrong
      if (!c.getCoder().equals(coder)) {
        throw new IllegalArgumentException("a stage result's collection " + c.getName() + " has coder " + c.getCoder()
            + ", expected " + coder, inUse);
      }
      return c;
    }
  }

  /**
   * This result with its kept records marked pending: an ordered pass after the pipeline decides them
   * ({@link Stage#needsOrderedPass()}).
   */
  public StageResult pendingOrderedPass() {
    return new StageResult(kept, filtered, rejects, true);
  }

  /** Whether the kept records still wait for an ordered pass after the pipeline. */
  public boolean pending() {
    return pending;
  }

  /** A result that kept everything it was given: no filtered records, no rejects ({@code name} prefixes the steps). */
  public static StageResult keptAll(String name, PCollection<KV<OrderKey, Example>> kept) {
    Pipeline p = kept.getPipeline();
    return of(kept, p.apply(name + "NoFiltered", Create.empty(RECORDS)), p.apply(name + "NoRejects", Create.empty(REJECTS)));
  }

  /** The records that passed. */
  public PCollection<KV<OrderKey, Example>> kept() {
    return kept;
  }

  /** The records a rule dropped, each with the rule's step and verdict. */
  public PCollection<KV<OrderKey, Example>> filtered() {
    return filtered;
  }

  /** The records that could not be processed, each with its source and a reason. */
  public PCollection<KV<OrderKey, Reject>> rejects() {
    return rejects;
  }

  /**
   * Applies {@code next} to the kept records under {@code name}, and returns its kept records with
   * the filtered records and rejects of both stages (pending when {@code next}'s are).
   *
   * @throws IllegalStateException when this result is {@link #pending()}
   */
  public StageResult then(String name, PTransform<PCollection<KV<OrderKey, Example>>, StageResult> next) {
    if (pending) {
      throw new IllegalStateException("stage " + name + " cannot follow a stage whose kept records wait for an ordered pass "
          + "after the pipeline: stage them (OrderedPass.stage) and start the next stage from its output");
    }
    StageResult r = kept.apply(name, next);
    StageResult both = of(r.kept(),
        PCollectionList.of(filtered).and(r.filtered()).apply(name + "Filtered", Flatten.pCollections()),
        PCollectionList.of(rejects).and(r.rejects()).apply(name + "Rejects", Flatten.pCollections()));
    return r.pending() ? both.pendingOrderedPass() : both;
  }

  /** This result with {@code more} rejects added (for example the reader's), under {@code name}. */
  public StageResult withRejects(String name, PCollection<KV<OrderKey, Reject>> more) {
    return new StageResult(kept, filtered,
        PCollectionList.of(rejects).and(more.setCoder(REJECTS)).apply(name, Flatten.pCollections()).setCoder(REJECTS), pending);
  }

  @Override
  public Pipeline getPipeline() {
    return kept.getPipeline();
  }

  @Override
  public Map<TupleTag<?>, PValue> expand() {
    Map<TupleTag<?>, PValue> m = new LinkedHashMap<>();
    m.put(KEPT, kept);
    m.put(FILTERED, filtered);
    m.put(REJECTED, rejects);
    return m;
  }

  @Override
  public void finishSpecifyingOutput(String transformName, org.apache.beam.sdk.values.PInput input,
      PTransform<?, ?> transform) {
    // the three collections are finished by the transforms that made them
  }
}
