package io.instructflow.schemas;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Where a record came from and everything that happened to it. Append-only: {@link #plus} returns a
 * copy with one more step.
 *
 * @param origin the source row
 * @param steps the steps in the order they ran
 */
public record Provenance(Origin origin, List<Step> steps) {
  public Provenance {
    Objects.requireNonNull(origin, "origin");
    steps = Maps.listCopy(steps, "steps");
  }

  /** A copy with {@code step} appended. */
  public Provenance plus(Step step) {
    List<Step> next = new ArrayList<>(steps.size() + 1);
    next.addAll(steps);
    next.add(Objects.requireNonNull(step, "step"));
    return new Provenance(origin, next);
  }
}
