package io.instructflow.schemas;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * One step a record went through, appended to its {@link Provenance}.
 *
 * @param name step id, e.g. {@code import}, {@code dedup.rouge_l}
 * @param version version of the step's logic; bump it when the step's behaviour changes
 * @param parameters the step's effective parameters (key-sorted)
 * @param verdict what the step decided for this record
 * @param parents ids of the records this one was derived from (generation and evolution lineage)
 * @param location where the step read the record when it came from a file, else null
 * @param model the model the step used, else null
 * @param prompt the prompt template the step rendered, else null
 * @param seed the effective random seed the step used for this record, else null
 */
public record Step(
    String name,
    String version,
    Map<String, Object> parameters,
    Verdict verdict,
    List<String> parents,
    String location,
    ModelRef model,
    PromptRef prompt,
    Long seed) {
  public Step {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(version, "version");
    Objects.requireNonNull(verdict, "verdict");
    parameters = Maps.sortedCopy(parameters);
    parents = Maps.listCopy(parents, "parents");
  }

  /** A step without model, prompt or parents. */
  public static Step of(String name, String version, Map<String, ?> parameters, Verdict verdict, String location) {
    return new Step(name, version, Maps.sortedCopy(parameters), verdict, List.of(), location, null, null, null);
  }
}
