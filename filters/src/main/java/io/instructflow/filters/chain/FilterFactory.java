package io.instructflow.filters.chain;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Makes a per-record filter from its entry in a chain config. Factories are found with
 * {@link java.util.ServiceLoader}: a filter is one class implementing {@link RecordFilter} plus a
 * factory named in a {@code META-INF/services/io.instructflow.filters.chain.FilterFactory} file on the
 * classpath (the built-in filters are listed in this module's own), so adding one edits no switch.
 * {@link FilterRegistry} holds them by {@link #type}.
 *
 * <p>A factory needs a public no-argument constructor. Its filter must follow {@link RecordFilter}'s
 * contract (stateless, thread-safe, serializable: the pipelines ship it to their workers).
 */
public interface FilterFactory {
  /** The {@code type} of the config entries this factory reads, also the filter's {@link RecordFilter#id}. */
  String type();

  /**
   * The filter of one config entry.
   *
   * @param config the entry (an object with at least {@code type})
   * @param at where the entry is, for error messages ("chain.json: filters[2]")
   * @throws IllegalArgumentException on an unknown field or a bad value, naming {@code at} and the field
   */
  RecordFilter create(JsonNode config, String at);
}
