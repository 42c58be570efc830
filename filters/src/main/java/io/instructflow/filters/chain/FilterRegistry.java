package io.instructflow.filters.chain;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * The per-record filters a chain config may name, by type: every {@link FilterFactory} on the
 * classpath ({@link ServiceLoader}), in the order the services files list them. Two factories for one
 * type, or one for a type the chain itself reserves (the dedup rules, {@code llm_judge},
 * {@code rouge_l}), stop the registry from loading, naming both classes.
 */
public final class FilterRegistry {
  private static volatile FilterRegistry installed;

  private final Map<String, FilterFactory> byType;

  private FilterRegistry(Map<String, FilterFactory> byType) {
    this.byType = Collections.unmodifiableMap(byType);
  }

  /** The registry of this class's class loader, loaded once. */
  public static FilterRegistry installed() {
    FilterRegistry r = installed;
    if (r == null) {
      synchronized (FilterRegistry.class) {
        r = installed;
        if (r == null) {
          List<FilterFactory> found = new ArrayList<>();
          ServiceLoader.load(FilterFactory.class, FilterRegistry.class.getClassLoader()).forEach(found::add);
          installed = r = of(found);
        }
      }
    }
    return r;
  }

  /**
   * A registry of the given factories.
   *
   * @throws IllegalStateException when two share a type or one takes a reserved type
   */
  public static FilterRegistry of(List<? extends FilterFactory> factories) {
    Map<String, FilterFactory> m = new LinkedHashMap<>();
    for (FilterFactory f : factories) {
      String type = f.type();
      if (type == null || type.isBlank()) {
        throw new IllegalStateException("filter factory " + f.getClass().getName() + " has no type");
      }
      if (FilterChain.RESERVED_TYPES.contains(type)) {
        throw new IllegalStateException("filter factory " + f.getClass().getName() + " takes type '" + type
            + "', which the chain reserves for its own rule");
      }
      FilterFactory before = m.putIfAbsent(type, f);
      if (before != null) {
        throw new IllegalStateException("two filter factories for type '" + type + "': " + before.getClass().getName()
            + " and " + f.getClass().getName());
      }
    }
    return new FilterRegistry(m);
  }

  /** The factory of {@code type}, if one is registered. */
  public Optional<FilterFactory> factory(String type) {
    return Optional.ofNullable(byType.get(type));
  }

  /** The registered types, in registration order. */
  public List<String> types() {
    return List.copyOf(byType.keySet());
  }
}
