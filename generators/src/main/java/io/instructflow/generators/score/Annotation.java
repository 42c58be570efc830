package io.instructflow.generators.score;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.RejectReason;

/**
 * What became of one record a model annotates (its scores, its tags): the annotated record, or the reject
 * reason and message of a record that could not be annotated, never both. The outcomes of
 * {@link RecordScorer} and {@code RecordTagger} are annotations (their record components implement these
 * methods), so one pipeline step routes both.
 */
public interface Annotation {
  /** The annotated record, or null when the record could not be annotated. */
  default Example record() {
    return null;
  }

  /** Why the record could not be annotated, or null when it was. */
  default RejectReason reason() {
    return null;
  }

  /** What went wrong, naming the score or tag, or null when the record was annotated. */
  default String message() {
    return null;
  }
}
