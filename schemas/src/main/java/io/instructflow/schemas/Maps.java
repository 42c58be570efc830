package io.instructflow.schemas;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/** Defensive copies for the record types: sorted, unmodifiable, without nulls. */
final class Maps {
  private Maps() {}

  /** An unmodifiable, key-sorted copy of {@code in} that leaves out null values; null gives empty. */
  static Map<String, Object> sortedCopy(Map<String, ?> in) {
    if (in == null || in.isEmpty()) {
      return Map.of();
    }
    TreeMap<String, Object> out = new TreeMap<>();
    in.forEach(
        (k, v) -> {
          if (v != null) {
            out.put(Objects.requireNonNull(k, "map key"), v);
          }
        });
    return Collections.unmodifiableSortedMap(out);
  }

  /** An unmodifiable copy of {@code in}; null gives empty; null elements are refused. */
  static <T> List<T> listCopy(List<T> in, String name) {
    if (in == null || in.isEmpty()) {
      return List.of();
    }
    List<T> out = new ArrayList<>(in.size());
    for (T t : in) {
      out.add(Objects.requireNonNull(t, () -> name + " must not contain null"));
    }
    return Collections.unmodifiableList(out);
  }
}
