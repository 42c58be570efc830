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

  /**
   * A factory of a fixed type that hands the config entry to a function, for filters that read their
   * own config ({@code fromJson}): {@code public Factory() { super(TYPE, MyFilter::fromJson); }}.
   */
  abstract class Of implements FilterFactory {
    private final String type;
    private final java.util.function.BiFunction<JsonNode, String, ? extends RecordFilter> make;

    protected Of(String type, java.util.function.BiFunction<JsonNode, String, ? extends RecordFilter> make) {
      this.type = type;
      this.make = make;
    }

    @Override
    public final String type() {
      return type;
    }

    @Override
    public final RecordFilter create(JsonNode config, String at) {
      return make.apply(config, at);
    }
  }
}
