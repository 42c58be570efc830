package io.instructflow.schemas;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.annotation.JsonTypeName;
import java.util.Map;
import java.util.Objects;

/**
 * The outcome of one step for one record: kept, or dropped by a named filter for a stated reason.
 *
 * <p>Serialized with an {@code outcome} discriminator: {@code {"outcome":"kept"}} or
 * {@code {"outcome":"dropped","filter":"min_words","reason":"min_words.too_short","details":{...}}}.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "outcome")
@JsonSubTypes({@JsonSubTypes.Type(Verdict.Kept.class), @JsonSubTypes.Type(Verdict.Dropped.class)})
public sealed interface Verdict {

  /** The shared keep verdict. */
  Verdict KEPT = new Kept();

  /** The record passed the step. */
  @JsonTypeName("kept")
  record Kept() implements Verdict {}

  /**
   * A filter dropped the record.
   *
   * @param filter the filter's stable id (lower_snake_case)
   * @param reason the reason code, {@code <filter>.<reason>}
   * @param details evidence: measured values, thresholds, the id of a matched record...
   */
  @JsonTypeName("dropped")
  record Dropped(String filter, String reason, Map<String, Object> details) implements Verdict {
    public Dropped {
      Objects.requireNonNull(filter, "filter");
      Objects.requireNonNull(reason, "reason");
      details = details == null ? Map.of() : Maps.sortedCopy(details);
    }
  }
}
