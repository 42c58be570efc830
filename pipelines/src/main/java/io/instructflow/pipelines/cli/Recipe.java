package io.instructflow.pipelines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import picocli.CommandLine.Model.OptionSpec;

/**
 * A recipe: stages that {@code instructflow run} runs in order, each the command of its type with the
 * options of its {@code with} block, reading the previous stage's output unless its {@code in} says
 * otherwise ({@code @NAME} names an earlier stage). Checked against {@link RecipeSchema} before anything
 * runs.
 *
 * <pre>{@code
 * name: t0-clean
 * out: runs/t0
 * stages:
 *   - {name: imported, type: import, in: data/t0_55k.jsonl, with: {license: apache-2.0}}
 *   - {name: filtered, type: filter, with: {chain: sft-default}}
 *   - {name: deduped, type: dedup}
 * }</pre>
 *
 * <p>Paths in a recipe are read as the same command lines would read them: relative to the folder
 * {@code run} is started in.
 *
 * @param name the recipe's name
 * @param out the output root from the recipe, or null
 * @param stages the stages in order
 * @param hash SHA-256 of the recipe's canonical JSON (keys sorted, YAML and JSON alike): it names this
 *     recipe in every stage's run summary
 */
public record Recipe(String name, String out, List<Stage> stages, String hash) {
  public Recipe {
    Objects.requireNonNull(name, "name");
    stages = List.copyOf(stages);
    Objects.requireNonNull(hash, "hash");
  }

  /**
   * One stage.
   *
   * @param name its name, unique in the recipe, and its output folder under the root
   * @param type the command it runs
   * @param in its inputs as written (paths or {@code @NAME}); empty means the previous stage's output
   * @param with the command's options, long names without dashes, in the recipe's order
   */
  public record Stage(String name, RecipeSchema.Type type, List<String> in, Map<String, JsonNode> with) {
    public Stage {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(type, "type");
      in = List.copyOf(in);
      with = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(with));
    }

    /** The earlier stages this one reads ({@code @NAME} inputs, or the one before it by default). */
    List<String> upstream(Stage previous) {
      List<String> out = new ArrayList<>();
      if (in.isEmpty()) {
        if (previous != null && type.inOption() != null) {
          out.add(previous.name());
        }
      } else {
        for (String i : in) {
          if (i.startsWith("@")) {
            out.add(i.substring(1));
          }
        }
      }
      if (type.type().equals("blend") && with.get("spec") instanceof ObjectNode spec) {
        for (JsonNode s : spec.path("sources")) {
          String p = s.path("path").asText("");
          if (p.startsWith("@")) {
            out.add(p.substring(1));
          }
        }
      }
      return out;
    }
  }

  /** Reads a recipe file: YAML ({@code .yaml}, {@code .yml}) or JSON, with the variables its {@code vars} sets. */
  public static Recipe read(Path file) throws IOException {
    return read(file, Map.of());
  }

  /** Reads a recipe file, with {@code sets} overriding (or adding to) its {@code vars}. */
  public static Recipe read(Path file, Map<String, String> sets) throws IOException {
    String text = Files.readString(file, StandardCharsets.UTF_8);
    String lower = file.getFileName().toString().toLowerCase(Locale.ROOT);
    return parse(text, lower.endsWith(".json") ? "json" : "yaml", file.toString(), sets);
  }

  /** Parses and checks a recipe with the variables its {@code vars} sets. */
  public static Recipe parse(String text, String syntax, String where) {
    return parse(text, syntax, where, Map.of());
  }

  /**
   * Parses and checks a recipe; every problem is an {@link IllegalArgumentException} whose message starts
   * with {@code where}. Variables ({@code ${name}} in any string of the stages) are replaced first, from
   * {@code vars} with {@code sets} over them: a string that is one variable alone takes the value's type
   * ({@code threshold: ${t}} with {@code t=0.5} is the number 0.5), a variable inside a longer string is
   * replaced as text. The hash is of the recipe after replacement, so other values make another hash.
   *
   * @param syntax {@code yaml} or {@code json}
   * @param sets values from the command line ({@code run --set name=value}), read as YAML scalars
   */
  public static Recipe parse(String text, String syntax, String where, Map<String, String> sets) {
    JsonNode root;
    try {
      ObjectMapper m = syntax.equals("json") ? Json.mapper() : new ObjectMapper(new YAMLFactory());
      root = m.readTree(text);
    } catch (IOException e) {
      throw new IllegalArgumentException(where + ": not valid " + syntax.toUpperCase(Locale.ROOT) + ": " + e.getMessage());
    }
    if (root == null || root.isMissingNode()) {
      throw new IllegalArgumentException(where + ": empty recipe");
    }
    root = Variables.apply(root, sets, where);
    return checked(root, where);
  }

  private static Recipe checked(JsonNode root, String where) {
    List<String> errors = RecipeSchema.errors(root);
    if (!errors.isEmpty()) {
      throw new IllegalArgumentException(where + ": " + String.join("; ", errors));
    }
    List<Stage> stages = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (JsonNode s : root.get("stages")) {
      String name = s.get("name").asText();
      String at = where + ": stage " + name;
      if (!names.add(name)) {
        throw new IllegalArgumentException(at + ": a second stage of this name (stage names are output folders)");
      }
      RecipeSchema.Type type = RecipeSchema.type(s.get("type").asText());
      List<String> in = new ArrayList<>();
      JsonNode inNode = s.get("in");
      if (inNode != null) {
        if (inNode.isArray()) {
          inNode.forEach(i -> in.add(i.asText()));
        } else {
          in.add(inNode.asText());
        }
      }
      for (String i : in) {
        if (i.startsWith("@") && !names.contains(i.substring(1))) {
          throw new IllegalArgumentException(at + ": in: " + i + " names no earlier stage");
        }
      }
      if (in.isEmpty() && type.inOption() != null && stages.isEmpty()) {
        throw new IllegalArgumentException(at + ": the first stage needs an input (in: PATH)");
      }
      Map<String, JsonNode> with = new LinkedHashMap<>();
      JsonNode w = s.get("with");
      if (w != null) {
        Iterator<Map.Entry<String, JsonNode>> it = w.fields();
        while (it.hasNext()) {
          Map.Entry<String, JsonNode> e = it.next();
          with.put(e.getKey(), e.getValue());
        }
      }
      if (type.type().equals("blend") && with.get("spec") instanceof ObjectNode spec) {
        for (JsonNode src : spec.path("sources")) {
          String p = src.path("path").asText("");
          if (p.startsWith("@") && !names.contains(p.substring(1))) {
            throw new IllegalArgumentException(at + ": spec source " + p + " names no earlier stage");
          }
        }
      }
      stages.add(new Stage(name, type, in, with));
    }
    Object canonical = Json.mapper().convertValue(root, Object.class);
    String hash = Ids.sha256Hex(Json.line(canonical).getBytes(StandardCharsets.UTF_8));
    return new Recipe(root.get("name").asText(), root.hasNonNull("out") ? root.get("out").asText() : null, stages, hash);
  }

  /** The stage named {@code name}, or null. */
  Stage stage(String name) {
    for (Stage s : stages) {
      if (s.name().equals(name)) {
        return s;
      }
    }
    return null;
  }

  /**
   * The command line of stage {@code i} (without the runner options): its type, its input (earlier
   * stages' outputs under {@code root}), its output folder and its options.
   *
   * @param spec for a blend with an inline spec, the file it was written to; else null
   */
  List<String> args(int i, Path root, Path spec, long head) {
    Stage s = stages.get(i);
    RecipeSchema.Type t = s.type();
    List<String> args = new ArrayList<>();
    args.add(t.type());
    if (t.inOption() != null) {
      List<String> in = s.in().isEmpty() ? List.of("@" + stages.get(i - 1).name()) : s.in();
      for (String each : in) {
        args.add(t.inOption());
        args.add(each.startsWith("@") ? root.resolve(each.substring(1)).toString() : each);
      }
      if (head > 0 && !t.type().equals("self-instruct") && !t.type().equals("audit")
          && in.stream().noneMatch(x -> x.startsWith("@"))) {
        args.add("--head");
        args.add(Long.toString(head));
      }
    }
    args.add(t.outOption());
    args.add(root.resolve(s.name()).toString());
    Map<String, OptionSpec> options = RecipeSchema.options(t);
    for (Map.Entry<String, JsonNode> e : s.with().entrySet()) {
      String option = "--" + e.getKey();
      JsonNode v = e.getValue();
      if (t.type().equals("blend") && e.getKey().equals("spec") && v.isObject()) {
        args.add(option);
        args.add(spec.toString());
        continue;
      }
      OptionSpec o = options.get(e.getKey());
      if (v.isBoolean() && o != null && o.arity().max() == 0) {
        if (v.asBoolean()) {
          args.add(option);
        }
        continue;
      }
      if (v.isArray()) {
        for (JsonNode item : v) {
          args.add(option);
          args.add(item.asText());
        }
      } else {
        args.add(option);
        args.add(v.asText());
      }
    }
    return args;
  }

  /**
   * The inline blend spec of stage {@code i} with its {@code @NAME} source paths replaced by those
   * stages' folders under {@code root} and relative paths made absolute (the spec is written under the
   * output root, and a spec file's relative paths are read against its own folder).
   */
  JsonNode inlineSpec(int i, Path root) {
    ObjectNode spec = ((ObjectNode) stages.get(i).with().get("spec")).deepCopy();
    for (JsonNode src : spec.path("sources")) {
      if (src instanceof ObjectNode o && o.hasNonNull("path")) {
        String p = o.get("path").asText();
        if (p.startsWith("@")) {
          o.put("path", root.resolve(p.substring(1)).toAbsolutePath().normalize().toString());
        } else if (!io.instructflow.pipelines.runtime.Storage.isUri(p)) {
          o.put("path", Path.of(p).toAbsolutePath().normalize().toString());
        }
      }
    }
    return spec;
  }
}
