package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/** Reading a filter's settings from its JSON object, strictly: unknown fields and wrong types are errors. */
final class Config {
  private final JsonNode node;
  private final String at;

  Config(JsonNode node, String at, Set<String> allowed) {
    this.node = node;
    this.at = at;
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!k.equals("type") && !allowed.contains(k)) {
        throw new IllegalArgumentException(at + ": unknown field '" + k + "', expected " + allowed);
      }
    }
  }

  IllegalArgumentException error(String message) {
    return new IllegalArgumentException(at + ": " + message);
  }

  int integer(String key, int fallback) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return fallback;
    }
    if (!v.isInt() || v.asInt() < 0) {
      throw error("'" + key + "' must be a non-negative integer, got " + v);
    }
    return v.asInt();
  }

  double number(String key, double fallback) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return fallback;
    }
    if (!v.isNumber()) {
      throw error("'" + key + "' must be a number, got " + v);
    }
    return v.asDouble();
  }

  String text(String key, String fallback) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return fallback;
    }
    if (!v.isTextual()) {
      throw error("'" + key + "' must be a string, got " + v);
    }
    return v.asText();
  }

  List<String> texts(String key, List<String> fallback) {
    JsonNode v = node.get(key);
    if (v == null || v.isNull()) {
      return fallback;
    }
    if (!v.isArray()) {
      throw error("'" + key + "' must be an array of strings, got " + v);
    }
    List<String> out = new ArrayList<>();
    for (JsonNode x : v) {
      if (!x.isTextual() || x.asText().isBlank()) {
        throw error("'" + key + "' must hold non-blank strings, got " + x);
      }
      out.add(x.asText());
    }
    return out;
  }

  TextField field(String key, TextField fallback) {
    String f = text(key, null);
    try {
      return f == null ? fallback : TextField.fromCode(f);
    } catch (IllegalArgumentException e) {
      throw error(e.getMessage());
    }
  }

  List<TextField> fields(String key, List<TextField> fallback) {
    List<String> names = texts(key, null);
    if (names == null) {
      return fallback;
    }
    List<TextField> out = new ArrayList<>();
    for (String n : names) {
      try {
        out.add(TextField.fromCode(n));
      } catch (IllegalArgumentException e) {
        throw error(e.getMessage());
      }
    }
    return out;
  }
}
