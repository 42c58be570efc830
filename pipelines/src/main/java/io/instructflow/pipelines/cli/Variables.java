package io.instructflow.pipelines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A recipe's variables: {@code vars} sets defaults, {@code run --set name=value} overrides them, and
 * every {@code ${name}} in a string of the stages is replaced before the recipe is checked. A string
 * that is exactly one variable takes the value as a typed scalar (a number stays a number); a variable
 * inside a longer string is replaced by its text. {@code $${} writes a literal {@code ${}. A variable
 * that is used but not set is an error naming it and the stage; a {@code --set} of a variable that the
 * recipe never uses is an error too (most likely a typo).
 */
final class Variables {
  private Variables() {}

  static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
  private static final Pattern USE = Pattern.compile("\\$\\$\\{|\\$\\{([^}]*)}");
  private static final Pattern WHOLE = Pattern.compile("\\$\\{(" + NAME.pattern() + ")}");
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  /** The recipe with its variables replaced (a copy; {@code vars} holds the effective values). */
  static JsonNode apply(JsonNode root, Map<String, String> sets, String where) {
    if (!root.isObject()) {
      return root;
    }
    ObjectNode out = ((ObjectNode) root).deepCopy();
    Map<String, JsonNode> values = new LinkedHashMap<>();
    JsonNode vars = out.get("vars");
    if (vars != null && vars.isObject()) {
      Iterator<Map.Entry<String, JsonNode>> it = vars.fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> e = it.next();
        values.put(e.getKey(), e.getValue());
      }
    }
    for (Map.Entry<String, String> e : sets.entrySet()) {
      if (!NAME.matcher(e.getKey()).matches()) {
        throw new IllegalArgumentException("--set " + e.getKey() + ": a variable name is letters, digits and _ (not first a digit)");
      }
      values.put(e.getKey(), scalar(e.getValue()));
    }
    TreeSet<String> used = new TreeSet<>();
    if (out.has("stages")) {
      out.set("stages", replace(out.get("stages"), values, used, where, null));
    }
    if (out.has("out")) {
      out.set("out", replace(out.get("out"), values, used, where, null));
    }
    for (String name : sets.keySet()) {
      if (!used.contains(name)) {
        throw new IllegalArgumentException(where + ": --set " + name + ": the recipe uses no ${" + name + "}");
      }
    }
    if (!values.isEmpty()) {
      ObjectNode effective = out.putObject("vars");
      values.forEach(effective::set);
    }
    return out;
  }

  /** A {@code --set} value as YAML reads a scalar: {@code 0.5} a number, {@code true} a boolean, else text. */
  static JsonNode scalar(String text) {
    try {
      JsonNode n = YAML.readTree(text);
      if (n != null && n.isValueNode()) {
        return n;
      }
    } catch (IOException | RuntimeException e) {
      // not a scalar YAML reads: the text as it is
    }
    return TextNode.valueOf(text);
  }

  private static JsonNode replace(JsonNode n, Map<String, JsonNode> values, TreeSet<String> used, String where,
      String stage) {
    if (n.isTextual()) {
      return text(n.asText(), values, used, where, stage);
    }
    if (n.isArray()) {
      ArrayNode a = JsonNodeFactory.instance.arrayNode();
      for (JsonNode item : n) {
        a.add(replace(item, values, used, where, stage));
      }
      return a;
    }
    if (n.isObject()) {
      String here = stage == null && n.hasNonNull("name") ? n.get("name").asText() : stage;
      ObjectNode o = JsonNodeFactory.instance.objectNode();
      Iterator<Map.Entry<String, JsonNode>> it = n.fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> e = it.next();
        o.set(e.getKey(), replace(e.getValue(), values, used, where, here));
      }
      return o;
    }
    return n;
  }

  private static JsonNode text(String s, Map<String, JsonNode> values, TreeSet<String> used, String where, String stage) {
    Matcher whole = WHOLE.matcher(s);
    if (whole.matches()) {
      return value(whole.group(1), values, used, where, stage);
    }
    Matcher m = USE.matcher(s);
    StringBuilder b = new StringBuilder();
    int last = 0;
    while (m.find()) {
      b.append(s, last, m.start());
      if (m.group(0).equals("$${")) {
        b.append("${");
      } else {
        String name = m.group(1);
        if (!NAME.matcher(name).matches()) {
          throw new IllegalArgumentException(at(where, stage) + ": ${" + name + "} is not a variable name");
        }
        b.append(value(name, values, used, where, stage).asText());
      }
      last = m.end();
    }
    if (last == 0) {
      return TextNode.valueOf(s);
    }
    b.append(s, last, s.length());
    return TextNode.valueOf(b.toString());
  }

  private static JsonNode value(String name, Map<String, JsonNode> values, TreeSet<String> used, String where, String stage) {
    JsonNode v = values.get(name);
    if (v == null) {
      throw new IllegalArgumentException(at(where, stage) + ": ${" + name + "} is not set (give it in vars: or with --set "
          + name + "=VALUE)");
    }
    used.add(name);
    return v;
  }

  private static String at(String where, String stage) {
    return stage == null ? where : where + ": stage " + stage;
  }
}
