package io.instructflow.pipelines.stage;

import io.instructflow.inference.LanguageModel;
import io.instructflow.pipelines.runtime.ModelCounters;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.KV;

/**
 * The base of every DoFn that sends a batch of items, gathered under one key, to a model: the model is
 * opened once per DoFn instance from its {@link CallModel.ModelSource} (for a model spec, the JVM's shared
 * model, loaded once per JVM behind the response cache), and every request it answers is counted by the
 * {@link ModelCounters} of the namespace ({@code requests}, {@code cache_hits}, {@code failures}, tokens).
 * A subclass writes only what it does with a batch: {@link CallModel}'s step, and the round steps of
 * Self-Instruct and Evol, whose batches are keyed by their prompt, task or lineage index.
 *
 * @param <K> the batch key
 * @param <I> the items
 * @param <O> what the subclass outputs
 */
public abstract class ModelBatchFn<K, I, O> extends DoFn<KV<K, Iterable<I>>, O> {
  private static final long serialVersionUID = 1L;
  private final CallModel.ModelSource source;
  private final ModelCounters counters;
  private transient LanguageModel model;

  /** A step with its model counters under {@code namespace}, calling the model of {@code source}. */
  protected ModelBatchFn(String namespace, CallModel.ModelSource source) {
    this.source = Objects.requireNonNull(source, "source");
    this.counters = new ModelCounters(namespace);
  }

  /** Opens the model (a shared one is only looked up) and counts what it answers. */
  @Setup
  public void setupModel() {
    model = counters.counting(source.open());
  }

  /** The model, every answered request counted. */
  protected final LanguageModel model() {
    return model;
  }

  /** The namespace's model counters (a subclass counts the records it emits with {@link ModelCounters#record}). */
  protected final ModelCounters counters() {
    return counters;
  }

  /** The items of a batch in {@code order}: the order in which they are sent, whatever the runner gave. */
  protected static <I> List<I> sorted(Iterable<I> batch, Comparator<? super I> order) {
    List<I> items = new ArrayList<>();
    batch.forEach(items::add);
    items.sort(order);
    return items;
  }
}
