package io.instructflow.pipelines.stage;

import io.instructflow.generators.score.Annotation;
import io.instructflow.inference.LanguageModel;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.PromptRef;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A {@link ModelCall} that adds what the model says to each record (scores, tags) and filters nothing: an
 * annotated record is kept with a step of the given name, version, params and prompt template, the model
 * that answered and verdict kept, and counted under {@code doneCounter}; a record that cannot be annotated
 * ({@link Annotation}) is rejected with its reason and message, the record as its payload, and counted
 * under {@value #FAILED}. Both are decided here.
 *
 * <pre>{@code
 * new AnnotatingCall("score", "1", settings.asMap(), null, "scored", (model, batch) -> RecordScorer.score(model, settings, batch))
 * }</pre>
 */
public final class AnnotatingCall implements ModelCall<Example> {
  private static final long serialVersionUID = 1L;
  /** Counter of records rejected. */
  public static final String FAILED = "failed";

  /** The per-command part: annotates a batch of records (plain code over the model, tested without Beam). */
  @FunctionalInterface
  public interface Annotator extends Serializable {
    /** One annotation per record, in order. */
    List<? extends Annotation> annotate(LanguageModel model, List<Example> records);
  }

  private final String step;
  private final String version;
  private final LinkedHashMap<String, Object> params;
  private final String promptId;
  private final String promptHash;
  private final String doneCounter;
  private final Annotator annotator;

  /**
   * @param step the provenance step name of an annotated record, also the failed one's step
   * @param version the step's version
   * @param params the settings that go into each annotated record's step
   * @param prompt the prompt template named in that step, or null for none
   * @param doneCounter the counter of annotated records
   * @param annotator what the command does
   */
  public AnnotatingCall(String step, String version, Map<String, Object> params, PromptRef prompt, String doneCounter,
      Annotator annotator) {
    this.step = Objects.requireNonNull(step, "step");
    this.version = Objects.requireNonNull(version, "version");
    this.params = new LinkedHashMap<>(params);
    this.promptId = prompt == null ? null : prompt.templateId();
    this.promptHash = prompt == null ? null : prompt.templateHash();
    this.doneCounter = Objects.requireNonNull(doneCounter, "doneCounter");
    this.annotator = Objects.requireNonNull(annotator, "annotator");
  }

  /** The provenance step name, also the namespace of the call's counters. */
  String step() {
    return step;
  }

  /** The settings that go into each annotated record's step. */
  Map<String, Object> params() {
    return new LinkedHashMap<>(params);
  }

  /** The counter of annotated records. */
  String doneCounter() {
    return doneCounter;
  }

  @Override
  public List<Outcome<Example>> call(LanguageModel model, List<Example> batch) {
    List<? extends Annotation> done = annotator.annotate(model, batch);
    ModelRef ref = model.ref();
    PromptRef prompt = promptId == null ? null : new PromptRef(promptId, promptHash);
    List<Outcome<Example>> out = new ArrayList<>(batch.size());
    for (int i = 0; i < batch.size(); i++) {
      Example e = batch.get(i);
      Annotation a = done.get(i);
      if (a.record() != null) {
        Step s = new Step(step, version, params, Verdict.KEPT, List.of(), null, ref, prompt, null);
        out.add(new Outcome.Kept<>(a.record().withStep(s), true, ModelCall.count(doneCounter)));
      } else {
        out.add(new Outcome.Failed<>(e.provenance().origin().location(), a.reason(), a.message(), step, e,
            ModelCall.count(FAILED)));
      }
    }
    return out;
  }
}
