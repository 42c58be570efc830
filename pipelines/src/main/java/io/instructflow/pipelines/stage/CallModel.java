package io.instructflow.pipelines.stage;

import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.io.InputNames;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.runtime.ModelCounters;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Reject;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.coders.IterableCoder;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.PTransform;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.PInput;
import org.apache.beam.sdk.values.POutput;
import org.apache.beam.sdk.values.PValue;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * Sends items to a model in batches and routes each by what its {@link ModelCall} says: kept, filtered
 * or rejected. The one model-calling step of every command (score, tag, the filter's judge, generate,
 * both steps of pairs).
 *
 * <p><b>Batches.</b> An item's batch is decided by its place in the input alone: items of input file
 * {@code f} at positions {@code p} (line, or row) with equal {@code p / batchSize} form one batch,
 * gathered by key and sorted by place. So every runner, bundle split and rerun sends the same batches in
 * the same order (which the response cache and the engine's determinism rely on); a batch may hold fewer
 * than {@code batchSize} items where lines are blank or were dropped before. With a batch size of one no
 * grouping is needed and none is made.
 *
 * <p><b>The model</b> is opened with the {@link ModelSource} once per DoFn instance ({@link ModelBatchFn});
 * for a {@link ModelSpec} that is the JVM's shared model ({@link ModelSpec#open}: loaded once per JVM and
 * shared by every DoFn copy, behind the response cache).
 *
 * <p><b>Counters</b> (namespace given): the model counters of {@link ModelCounters} ({@code requests},
 * {@code cache_hits}, {@code failures}, {@code prompt_tokens}, {@code completion_tokens},
 * {@code model_completion_tokens}, and {@code records}: items routed), plus whatever counters the
 * outcomes name. Every counter is updated while an element is processed, never at the end of a bundle.
 *
 * <p><b>Failures.</b> An item whose outcome is {@link ModelCall.Outcome.Failed} goes to
 * {@link Result#rejects()} with its input file (from {@code inputs}, by the key's source index), its
 * location, reason, message and raw payload. An exception from the model fails the bundle (the runner
 * retries it): nothing is logged and dropped.
 *
 * <pre>{@code
 * CallModel.Result<Example> r = records.apply("Score",
 *     CallModel.of("score", CallModel.ModelSource.of(spec), new ScoreCall(settings), CallModel.EXAMPLES)
 *         .withBatchSize(8).withInputs(run.inputPaths()));
 * }</pre>
 *
 * @param <T> the items
 */
public final class CallModel<T> extends PTransform<PCollection<KV<OrderKey, T>>, CallModel.Result<T>> {
  private static final long serialVersionUID = 1L;

  /** The coder of records, for calls over {@link Example}s. */
  public static final Coder<Example> EXAMPLES = StageResult.RECORDS.getValueCoder();

  /** Where the model comes from: opened once per DoFn instance, in its setup. */
  @FunctionalInterface
  public interface ModelSource extends Serializable {
    /** The model to call. */
    LanguageModel open();

    /** The JVM's shared model of {@code spec}. */
    static ModelSource of(ModelSpec spec) {
      Objects.requireNonNull(spec, "spec");
      return spec::open;
    }
  }

  private final String namespace;
  private final ModelSource model;
  private final ModelCall<T> call;
  private final Coder<T> coder;
  private final int batchSize;
  private final InputNames inputs;

  private CallModel(String namespace, ModelSource model, ModelCall<T> call, Coder<T> coder, int batchSize,
      InputNames inputs) {
    this.namespace = Objects.requireNonNull(namespace, "namespace");
    this.model = Objects.requireNonNull(model, "model");
    this.call = Objects.requireNonNull(call, "call");
    this.coder = Objects.requireNonNull(coder, "coder");
    if (batchSize < 1) {
      throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
    }
    this.batchSize = batchSize;
    this.inputs = Objects.requireNonNull(inputs, "inputs");
  }

  /**
   * Calls {@code model} through {@code call} with counters under {@code namespace}; batches of one, no
   * input files known (rejects then name no source).
   */
  public static <T> CallModel<T> of(String namespace, ModelSource model, ModelCall<T> call, Coder<T> coder) {
    return new CallModel<>(namespace, model, call, coder, 1, InputNames.of(List.of()));
  }

  /** This call with batches of {@code size} consecutive input places. */
  public CallModel<T> withBatchSize(int size) {
    return new CallModel<>(namespace, model, call, coder, size, inputs);
  }

  /** This call naming a reject's source as {@code inputs.get(key.source())}. */
  public CallModel<T> withInputs(List<String> inputs) {
    return withInputs(InputNames.of(inputs));
  }

  /** This call naming a reject's source as {@code inputs.name(key.source())} (a fused run's shards). */
  public CallModel<T> withInputs(InputNames inputs) {
    return new CallModel<>(namespace, model, call, coder, batchSize, inputs);
  }

  /** The batch key of an input place: its file and its position divided by the batch size. */
  static String batchKey(OrderKey key, int size) {
    return key.source() + "/" + key.position() / size;
  }

  @Override
  public Result<T> expand(PCollection<KV<OrderKey, T>> items) {
    KvCoder<OrderKey, T> itemCoder = KvCoder.of(OrderKey.Coder.of(), coder);
    KvCoder<String, Iterable<KV<OrderKey, T>>> batchCoder = KvCoder.of(StringUtf8Coder.of(), IterableCoder.of(itemCoder));
    PCollection<KV<String, Iterable<KV<OrderKey, T>>>> batches;
    if (batchSize == 1) {
      batches = items.apply("Singletons", ParDo.of(new SingletonFn<T>())).setCoder(batchCoder);
    } else {
      batches = items
          .apply("BatchKeys", ParDo.of(new BatchKeyFn<T>(batchSize)))
          .setCoder(KvCoder.of(StringUtf8Coder.of(), itemCoder))
          .apply("Batches", GroupByKey.create());
    }
    TupleTag<KV<OrderKey, T>> kept = new TupleTag<>("kept");
    TupleTag<KV<OrderKey, T>> filtered = new TupleTag<>("filtered");
    TupleTag<KV<OrderKey, Reject>> rejects = new TupleTag<>("rejects");
    PCollectionTuple out = batches.apply("Call",
        ParDo.of(new CallFn<>(namespace, model, call, inputs, kept, filtered, rejects))
            .withOutputTags(kept, TupleTagList.of(filtered).and(rejects)));
    out.get(kept).setCoder(itemCoder);
    out.get(filtered).setCoder(itemCoder);
    out.get(rejects).setCoder(StageResult.REJECTS);
    return new Result<>(out, kept, filtered, rejects);
  }

  /**
   * What a {@link CallModel} made of its items: each is in exactly one of {@link #kept()},
   * {@link #filtered()} and {@link #rejects()}, under its input key.
   */
  public static final class Result<T> implements POutput {
    private final PCollectionTuple all;
    private final TupleTag<KV<OrderKey, T>> kept;
    private final TupleTag<KV<OrderKey, T>> filtered;
    private final TupleTag<KV<OrderKey, Reject>> rejects;

    Result(PCollectionTuple all, TupleTag<KV<OrderKey, T>> kept, TupleTag<KV<OrderKey, T>> filtered,
        TupleTag<KV<OrderKey, Reject>> rejects) {
      this.all = all;
      this.kept = kept;
      this.filtered = filtered;
      this.rejects = rejects;
    }

    /** The items that went on. */
    public PCollection<KV<OrderKey, T>> kept() {
      return all.get(kept);
    }

    /** The items the model's verdict dropped. */
    public PCollection<KV<OrderKey, T>> filtered() {
      return all.get(filtered);
    }

    /** The items that could not be processed, with source and reason. */
    public PCollection<KV<OrderKey, Reject>> rejects() {
      return all.get(rejects);
    }

    /** The result of a call over records as a {@link StageResult}. */
    public static StageResult records(Result<Example> r) {
      return StageResult.of(r.kept(), r.filtered(), r.rejects());
    }

    @Override
    public Pipeline getPipeline() {
      return all.getPipeline();
    }

    @Override
    public Map<TupleTag<?>, PValue> expand() {
      return all.expand();
    }

    @Override
    public void finishSpecifyingOutput(String transformName, PInput input, PTransform<?, ?> transform) {
      // the three collections are finished by the step that made them
    }
  }

  /** Keys an item by its batch. */
  static final class BatchKeyFn<T> extends DoFn<KV<OrderKey, T>, KV<String, KV<OrderKey, T>>> {
    private static final long serialVersionUID = 1L;
    private final int size;

    BatchKeyFn(int size) {
      this.size = size;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, T> kv, OutputReceiver<KV<String, KV<OrderKey, T>>> out) {
      out.output(KV.of(batchKey(kv.getKey(), size), kv));
    }
  }

  /** Makes each item a batch of its own. */
  static final class SingletonFn<T> extends DoFn<KV<OrderKey, T>, KV<String, Iterable<KV<OrderKey, T>>>> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<OrderKey, T> kv, OutputReceiver<KV<String, Iterable<KV<OrderKey, T>>>> out) {
      out.output(KV.of(batchKey(kv.getKey(), 1), List.of(kv)));
    }
  }

  /** Calls the model for one batch and routes every item of it. */
  static final class CallFn<T> extends ModelBatchFn<String, KV<OrderKey, T>, KV<OrderKey, T>> {
    private static final long serialVersionUID = 1L;
    private final String namespace;
    private final ModelCall<T> call;
    private final InputNames inputs;
    private final TupleTag<KV<OrderKey, T>> kept;
    private final TupleTag<KV<OrderKey, T>> filtered;
    private final TupleTag<KV<OrderKey, Reject>> rejects;
    private transient Map<String, Counter> named;

    CallFn(String namespace, ModelSource source, ModelCall<T> call, InputNames inputs, TupleTag<KV<OrderKey, T>> kept,
        TupleTag<KV<OrderKey, T>> filtered, TupleTag<KV<OrderKey, Reject>> rejects) {
      super(namespace, source);
      this.namespace = namespace;
      this.call = call;
      this.inputs = inputs;
      this.kept = kept;
      this.filtered = filtered;
      this.rejects = rejects;
    }

    @ProcessElement
    public void process(@Element KV<String, Iterable<KV<OrderKey, T>>> batch, MultiOutputReceiver out) {
      List<KV<OrderKey, T>> items = sorted(batch.getValue(), (a, b) -> a.getKey().compareTo(b.getKey()));
      List<T> values = new ArrayList<>(items.size());
      items.forEach(kv -> values.add(kv.getValue()));
      List<ModelCall.Outcome<T>> outcomes = call.call(model(), values);
      if (named == null) {
        named = new HashMap<>();
      }
      if (outcomes.size() != items.size()) {
        throw new IllegalStateException(call.getClass().getSimpleName() + " gave " + outcomes.size() + " outcomes for "
            + items.size() + " items");
      }
      long decided = 0;
      for (int i = 0; i < items.size(); i++) {
        OrderKey key = items.get(i).getKey();
        ModelCall.Outcome<T> o = outcomes.get(i);
        counters().record();
        o.counts().forEach((name, n) -> named.computeIfAbsent(name, x -> Metrics.counter(namespace, x)).inc(n));
        if (o instanceof ModelCall.Outcome.Kept<T> k) {
          decided += k.decided() ? 1 : 0;
          out.get(kept).output(KV.of(key, k.value()));
        } else if (o instanceof ModelCall.Outcome.Filtered<T> f) {
          decided++;
          out.get(filtered).output(KV.of(key, f.value()));
        } else {
          ModelCall.Outcome.Failed<T> f = (ModelCall.Outcome.Failed<T>) o;
          decided++;
          out.get(rejects).output(KV.of(key, reject(key, f)));
        }
      }
      if (decided > 0) {
        Progress.add(Progress.DECIDED, decided);
      }
    }

    private Reject reject(OrderKey key, ModelCall.Outcome.Failed<T> f) {
      String src = inputs.name(key.source());
      byte[] raw = Json.line(f.payload()).getBytes(StandardCharsets.UTF_8);
      return Reject.of(src, f.location(), f.reason(), f.message(), f.step(), raw, raw.length);
    }
  }
}
