package io.instructflow.pipelines.dedup;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import java.io.Serializable;
import java.util.Comparator;

/**
 * The value of {@code --order-by FIELD} for one record: a top-level field ({@code instruction},
 * {@code output}, {@code id}...), {@code metadata.KEY}, or a bare metadata key. Numbers sort
 * numerically before strings; records without the field sort last; ties keep input order.
 *
 * @param rank 0 number, 1 string, 2 absent
 * @param number the numeric value when rank is 0
 * @param text the text value when rank is 1
 */
public record SortValue(int rank, double number, String text) implements Serializable {
  /** Orders values as described above. */
  public static final Comparator<SortValue> ORDER =
      Comparator.comparingInt(SortValue::rank)
          .thenComparingDouble(SortValue::number)
          .thenComparing(SortValue::text, Comparator.nullsFirst(Comparator.naturalOrder()));

  /** The value of {@code field} in {@code e}. */
  public static SortValue of(Example e, String field) {
    JsonNode root = Json.tree(e);
    JsonNode v = field.startsWith("metadata.") ? root.path("metadata").path(field.substring(9)) : root.path(field);
    if (v.isMissingNode() && !field.startsWith("metadata.")) {
      v = root.path("metadata").path(field);
    }
    if (v.isNumber()) {
      return new SortValue(0, v.doubleValue(), null);
    }
    if (v.isMissingNode() || v.isNull()) {
      return new SortValue(2, 0, null);
    }
    return new SortValue(1, 0, v.isTextual() ? v.textValue() : v.toString());
  }
}
