package io.instructflow.pipelines.stage;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.RejectReason;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What one command does with the model, for {@link CallModel}: it turns a batch of items into requests,
 * sends them, and says what became of each item. It is a plain serializable class, tested without Beam;
 * {@link CallModel} does the batching, loads the model, counts the requests and routes the outcomes.
 *
 * <p>Contract: {@link #call} returns exactly one {@link Outcome} per item, in the batch's order, and the
 * outcome of an item depends only on that item and the model (never on the other items of the batch).
 * The model's answers guarantee this at temperature 0 or with a per-request seed (the engine's default
 * {@code invariant} schedule), so a record's output is the same whatever batch it shared.
 *
 * @param <T> the items: records, or a command's own unit (a prompt with its candidates)
 */
public interface ModelCall<T> extends Serializable {
  /** One outcome per item of {@code batch}, in order. */
  List<Outcome<T>> call(LanguageModel model, List<T> batch);

  /**
   * What became of one item. Each outcome may add to named counters of the call's namespace
   * ({@code counts}: name to amount), beside the model counters {@link CallModel} keeps itself.
   */
  sealed interface Outcome<T> {
    /** Counters to add for this item. */
    Map<String, Long> counts();

    /**
     * The item goes on, changed as the model said.
     *
     * @param decided whether its fate is settled here (it counts as decided on the progress line), or a
     *     later step still decides it
     */
    record Kept<T>(T value, boolean decided, Map<String, Long> counts) implements Outcome<T> {
      public Kept {
        Objects.requireNonNull(value, "value");
        counts = Map.copyOf(counts);
      }
    }

    /** The item was dropped by the model's verdict; it carries its step and verdict. */
    record Filtered<T>(T value, Map<String, Long> counts) implements Outcome<T> {
      public Filtered {
        Objects.requireNonNull(value, "value");
        counts = Map.copyOf(counts);
      }
    }

    /**
     * The item could not be processed: it goes to the rejects with the input file of its key, its
     * {@code location} in that file, the reason and message, the {@code step} that failed and
     * {@code payload} (written as one JSON line) as its raw input, so that it can be replayed.
     */
    record Failed<T>(String location, RejectReason reason, String message, String step, Object payload,
        Map<String, Long> counts) implements Outcome<T> {
      public Failed {
        Objects.requireNonNull(reason, "reason");
        Objects.requireNonNull(step, "step");
        Objects.requireNonNull(payload, "payload");
        counts = Map.copyOf(counts);
      }
    }

    /** Kept, with no counters of its own. */
    static <T> Outcome<T> kept(T value, boolean decided) {
      return new Kept<>(value, decided, Map.of());
    }

    /** Filtered, with no counters of its own. */
    static <T> Outcome<T> filtered(T value) {
      return new Filtered<>(value, Map.of());
    }

    /** Failed, with no counters of its own. */
    static <T> Outcome<T> failed(String location, RejectReason reason, String message, String step, Object payload) {
      return new Failed<>(location, reason, message, step, payload, Map.of());
    }
  }

  /**
   * A call in which every item makes exactly one generation request and is decided by its result: the
   * batch's requests go to the model in one call.
   */
  interface PerRequest<T> extends ModelCall<T> {
    /** The request for {@code item}. */
    GenerationRequest request(T item);

    /** What {@code item} becomes, given the result of its request and the model that answered. */
    Outcome<T> answer(T item, GenerationRequest request, GenerationResult result, ModelRef model);

    @Override
    default List<Outcome<T>> call(LanguageModel model, List<T> batch) {
      List<GenerationRequest> reqs = new ArrayList<>(batch.size());
      for (T item : batch) {
        reqs.add(request(item));
      }
      List<GenerationResult> res = reqs.isEmpty() ? List.of() : model.generate(reqs);
      if (res.size() != reqs.size()) {
        throw new IllegalStateException("model " + model.ref().id() + " answered " + res.size() + " of " + reqs.size()
            + " requests");
      }
      ModelRef ref = model.ref();
      List<Outcome<T>> out = new ArrayList<>(batch.size());
      for (int i = 0; i < batch.size(); i++) {
        out.add(answer(batch.get(i), reqs.get(i), res.get(i), ref));
      }
      return out;
    }
  }

  /** {@code name} counted once. */
  static Map<String, Long> count(String name) {
    return Map.of(name, 1L);
  }

  /** The counters of {@code names} and amounts, alternating, leaving out zero amounts. */
  static Map<String, Long> counts(Object... namesAndAmounts) {
    Map<String, Long> m = new LinkedHashMap<>();
    for (int i = 0; i + 1 < namesAndAmounts.length; i += 2) {
      long n = ((Number) namesAndAmounts[i + 1]).longValue();
      if (n != 0) {
        m.put((String) namesAndAmounts[i], n);
      }
    }
    return m;
  }
}
