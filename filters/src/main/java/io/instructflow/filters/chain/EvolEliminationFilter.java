package io.instructflow.filters.chain;

import io.instructflow.filters.evol.EvolRules;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;

/**
 * The Evol-Instruct elimination rules ({@link EvolRules}) on a record that carries its evolution: the
 * evolved instruction and its response in the record, the parent instruction in
 * {@code metadata.evol_parent_instruction} and the judge's answer in {@code metadata.evol_judge}
 * ({@code equal}, {@code not_equal} or {@code unknown}; when absent, rule 1 only catches an identical or
 * empty rewrite).
 */
public record EvolEliminationFilter() implements RecordFilter {
  private static final long serialVersionUID = 1L;

  /** The filter's type in chain configs. */
  public static final String TYPE = "evol_elimination";

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    Object parent = e.metadata().get("evol_parent_instruction");
    Object judge = e.metadata().get("evol_judge");
    return EvolRules.test(parent == null ? null : parent.toString(), e.instructionText(),
        EvolRules.Judge.fromCode(judge == null ? "" : judge.toString()), null, e.outputText().orElse(""));
  }

  /** Makes the filter from its chain config entry, which has no field but {@code type}. */
  public static final class Factory implements FilterFactory {
    @Override
    public String type() {
      return TYPE;
    }

    @Override
    public RecordFilter create(com.fasterxml.jackson.databind.JsonNode config, String at) {
      FilterChain.only(config, java.util.Set.of("type"), at);
      return new EvolEliminationFilter();
    }
  }
}
