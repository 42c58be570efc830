package io.instructflow.filters.chain;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.Iterator;
import java.util.Map;

/**
 * The worked example of docs/extending.md, "Adding a filter": a filter that is not built in, added with this one
 * class, its factory and a line in a {@code META-INF/services} file (here the test resources'). It
 * drops a chat record with more than {@code max} user turns.
 *
 * @param max the most user turns a record may have
 */
public record MaxTurnsFilter(int max) implements RecordFilter {
  private static final long serialVersionUID = 1L;

  /** The type in chain configs and the filter's id. */
  public static final String TYPE = "max_turns";
  /** The reason of a drop. */
  public static final String TOO_MANY = "max_turns.too_many";

  public MaxTurnsFilter {
    if (max < 1) {
      throw new IllegalArgumentException("max must be at least 1, got " + max);
    }
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    long turns = e.messages().stream().filter(m -> m.role().equals("user")).count();
    return turns <= max ? Verdict.KEPT : new Verdict.Dropped(TYPE, TOO_MANY, Map.of("turns", turns, "max", max));
  }

  /** Reads {@code {"type": "max_turns", "max": N}}. */
  public static final class Factory implements FilterFactory {
    @Override
    public String type() {
      return TYPE;
    }

    @Override
    public RecordFilter create(JsonNode config, String at) {
      for (Iterator<String> it = config.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        if (!k.equals("type") && !k.equals("max")) {
          throw new IllegalArgumentException(at + ": unknown field '" + k + "', expected [type, max]");
        }
      }
      try {
        return new MaxTurnsFilter(config.path("max").asInt(4));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(at + ": " + e.getMessage());
      }
    }
  }
}
