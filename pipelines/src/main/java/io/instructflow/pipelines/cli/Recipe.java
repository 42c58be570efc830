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
import java.util.HashMap;
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
   * @param name its name, unique in the recipe
   * @param type the command it runs
   * @param in its inputs as written (paths, {@code @NAME} or {@code @/PATH}); empty means the previous
   *     stage's output
   * @param with the command's options, long names without dashes, in the recipe's order
   * @param out its output folder under the root, normalized, {@code /}-separated (its name unless the recipe
   *     gives {@code out})
   * @param when the condition on which it runs, or null: it always runs
   * @param specFile for a blend with an inline spec, where under the root the spec is written (see
   *     {@link #inlineSpec}), or null for {@code .recipe/NAME.blend.json}
   * @param beneath the earlier stages whose output folders lie under one of its {@code @/PATH} inputs: it
   *     reads what they wrote, so it depends on them
   * @param skip why it does not run in this run ({@link #decided}), or null
   */
  public record Stage(String name, RecipeSchema.Type type, List<String> in, Map<String, JsonNode> with, String out,
      Condition when, String specFile, List<String> beneath, String skip) {
    public Stage {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(type, "type");
      in = List.copyOf(in);
      with = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(with));
      Objects.requireNonNull(out, "out");
      beneath = List.copyOf(beneath);
    }

    /** Its output folder under {@code root}. */
    Path dir(Path root) {
      return root.resolve(out);
    }

    /** The earlier stages this one reads ({@code @NAME} and {@code @/PATH} inputs, or the one before it by default). */
    List<String> upstream(Stage previous) {
      List<String> out = new ArrayList<>();
      if (in.isEmpty()) {
        if (previous != null && type.inOption() != null) {
          out.add(previous.name());
        }
      } else {
        for (String i : in) {
          if (i.startsWith("@") && !i.startsWith(ROOT_REF)) {
            out.add(i.substring(1));
          }
        }
      }
      out.addAll(beneath);
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

    private Stage skipped(String reason) {
      return new Stage(name, type, in, with, out, when, specFile, beneath, reason);
    }

    private Stage withSpec(ObjectNode spec) {
      Map<String, JsonNode> w = new LinkedHashMap<>(with);
      w.put("spec", spec);
      return new Stage(name, type, in, w, out, when, specFile, beneath, skip);
    }
  }

  /**
   * When a stage runs: every {@code exists} path exists and no {@code missing} path does. Paths are local
   * and read as the command line reads them (relative to the folder {@code run} starts in); the condition
   * is decided once, before the first stage runs, so it names inputs from outside the recipe (the data, a
   * model file), never an earlier stage's output.
   *
   * @param exists paths that must exist (file or folder)
   * @param missing paths that must not exist
   */
  public record Condition(List<String> exists, List<String> missing) {
    public Condition {
      exists = List.copyOf(exists);
      missing = List.copyOf(missing);
    }

    /** Why the condition does not hold (the first path that fails it), or null when it holds. */
    String unmet() {
      for (String p : exists) {
        if (!Files.exists(Path.of(p))) {
          return p + " does not exist";
        }
      }
      for (String p : missing) {
        if (Files.exists(Path.of(p))) {
          return p + " exists";
        }
      }
      return null;
    }
  }

  /** How an input names a path under the output root: {@code @/import/*}{@code /data}. */
  static final String ROOT_REF = "@/";

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
    Map<String, Stage> outs = new HashMap<>();
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
      List<String> beneath = new ArrayList<>();
      for (String i : in) {
        if (i.startsWith(ROOT_REF)) {
          String prefix = globFree(relative(i.substring(ROOT_REF.length()), at + ": in: " + i));
          for (Stage earlier : stages) {
            if (prefix.isEmpty() || earlier.out().equals(prefix) || earlier.out().startsWith(prefix + "/")
                || prefix.startsWith(earlier.out() + "/")) {
              beneath.add(earlier.name());
            }
          }
        } else if (i.startsWith("@") && !names.contains(i.substring(1))) {
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
      String out = s.hasNonNull("out") ? relative(s.get("out").asText(), at + ": out") : name;
      if (out.equals(".recipe") || out.startsWith(".recipe/") || out.equals(".")) {
        throw new IllegalArgumentException(at + ": out: " + out + " is the recipe's own folder (or the root)");
      }
      Condition when = condition(s.get("when"));
      Stage same = outs.get(out);
      if (same != null && (when == null || same.when() == null)) {
        throw new IllegalArgumentException(at + ": out: " + out + " is stage " + same.name() + "'s folder too (two "
            + "stages may share one only as alternatives, each with a when)");
      }
      String specFile = null;
      if (s.hasNonNull("spec-file")) {
        if (!(with.get("spec") instanceof ObjectNode)) {
          throw new IllegalArgumentException(at + ": spec-file is where an inline spec is written; this stage has none");
        }
        specFile = relative(s.get("spec-file").asText(), at + ": spec-file");
      }
      Stage stage = new Stage(name, type, in, with, out, when, specFile, beneath, null);
      outs.put(out, stage);
      stages.add(stage);
    }
    Object canonical = Json.mapper().convertValue(root, Object.class);
    String hash = Ids.sha256Hex(Json.line(canonical).getBytes(StandardCharsets.UTF_8));
    return new Recipe(root.get("name").asText(), root.hasNonNull("out") ? root.get("out").asText() : null, stages, hash);
  }

  /** A relative path under the root, normalized and {@code /}-separated; else an error naming {@code at}. */
  private static String relative(String text, String at) {
    Path p = Path.of(text).normalize();
    String norm = p.toString().replace(java.io.File.separatorChar, '/');
    if (text.isBlank() || p.isAbsolute() || norm.equals("..") || norm.startsWith("../") || text.contains("\\")) {
      throw new IllegalArgumentException(at + ": a path under the output root is relative and stays under it, got "
          + text);
    }
    return norm.isEmpty() ? "." : norm;
  }

  /** The part of a path before its first glob character, up to its last {@code /}. */
  private static String globFree(String path) {
    int glob = path.length();
    for (char c : new char[] {'*', '?', '[', '{'}) {
      int at = path.indexOf(c);
      if (at >= 0) {
        glob = Math.min(glob, at);
      }
    }
    if (glob == path.length()) {
      return path.equals(".") ? "" : path;
    }
    int slash = path.lastIndexOf('/', glob);
    return slash < 0 ? "" : path.substring(0, slash);
  }

  private static Condition condition(JsonNode when) {
    if (when == null || when.isNull()) {
      return null;
    }
    return new Condition(strings(when.get("exists")), strings(when.get("missing")));
  }

  private static List<String> strings(JsonNode n) {
    List<String> out = new ArrayList<>();
    if (n == null) {
      return out;
    }
    if (n.isArray()) {
      n.forEach(x -> out.add(x.asText()));
    } else {
      out.add(n.asText());
    }
    return out;
  }

  /**
   * This recipe with each stage's conditions decided against the files there now: a stage whose
   * {@code when} does not hold is skipped with the reason; so is a stage that reads a skipped stage
   * ({@code in: "@NAME"}, a blend source {@code path: "@NAME"} not marked optional). An inline blend
   * spec's sources marked {@code optional: true} are dropped when their stage is skipped or their path
   * does not exist; {@code optional} itself is removed. {@code @/PATH} inputs read whatever the stages
   * under them wrote, so a skipped stage there is not a reason. Two stages that run may not share an
   * output folder.
   *
   * @throws IllegalArgumentException when two stages that run share an output folder, or a blend is left
   *     without sources
   */
  public Recipe decided() {
    List<Stage> out = new ArrayList<>();
    Map<String, String> skipped = new LinkedHashMap<>();
    Map<String, String> running = new HashMap<>();
    for (int i = 0; i < stages.size(); i++) {
      Stage s = stages.get(i);
      String reason = s.when() == null ? null : s.when().unmet();
      if (reason == null) {
        for (String u : s.upstream(i == 0 ? null : stages.get(i - 1))) {
          if (skipped.containsKey(u) && !s.beneath().contains(u) && !optionalSource(s, u)) {
            reason = "it reads stage " + u + ", which is skipped";
            break;
          }
        }
      }
      if (reason == null && s.with().get("spec") instanceof ObjectNode spec) {
        ObjectNode kept = spec.deepCopy();
        com.fasterxml.jackson.databind.node.ArrayNode sources = kept.putArray("sources");
        for (JsonNode src : spec.path("sources")) {
          JsonNode copy = src.deepCopy();
          if (copy instanceof ObjectNode o && o.has("optional")) {
            boolean optional = o.remove("optional").asBoolean();
            String p = o.path("path").asText("");
            boolean absent = p.startsWith("@") ? skipped.containsKey(p.substring(1))
                : !io.instructflow.pipelines.runtime.Storage.isUri(p) && !Files.exists(Path.of(p));
            if (optional && absent) {
              continue;
            }
          }
          sources.add(copy);
        }
        if (sources.isEmpty()) {
          reason = "every source of its spec is optional and absent";
        }
        s = s.withSpec(kept);
      }
      if (reason != null) {
        skipped.put(s.name(), reason);
        out.add(s.skipped(reason));
        continue;
      }
      String other = running.put(s.out(), s.name());
      if (other != null) {
        throw new IllegalArgumentException("stages " + other + " and " + s.name() + " both run and both write "
            + s.out() + " (alternatives need conditions that exclude each other)");
      }
      out.add(s);
    }
    return new Recipe(name, this.out, out, hash);
  }

  /** Whether stage {@code s} reads stage {@code u} only through blend sources marked optional. */
  private static boolean optionalSource(Stage s, String u) {
    if (!s.in().isEmpty() && s.in().contains("@" + u) || !(s.with().get("spec") instanceof ObjectNode spec)) {
      return false;
    }
    boolean any = false;
    for (JsonNode src : spec.path("sources")) {
      if (src.path("path").asText("").equals("@" + u)) {
        if (!src.path("optional").asBoolean(false)) {
          return false;
        }
        any = true;
      }
    }
    return any;
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
        args.add(each.startsWith(ROOT_REF) ? root.resolve(each.substring(ROOT_REF.length())).toString()
            : each.startsWith("@") ? stage(each.substring(1)).dir(root).toString() : each);
      }
      if (head > 0 && !t.type().equals("self-instruct") && !t.type().equals("audit")
          && in.stream().noneMatch(x -> x.startsWith("@"))) {
        args.add("--head");
        args.add(Long.toString(head));
      }
    }
    args.add(t.outOption());
    args.add(s.dir(root).toString());
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
   * Where the inline blend spec of stage {@code i} is written: {@code root/SPEC-FILE} when the stage gives
   * {@code spec-file}, else {@code state/NAME.blend.json}.
   */
  Path specPath(int i, Path root, Path state) {
    Stage s = stages.get(i);
    return s.specFile() != null ? root.resolve(s.specFile()) : state.resolve(s.name() + ".blend.json");
  }

  /**
   * The inline blend spec of stage {@code i} as it is written: its {@code @NAME} source paths replaced by
   * those stages' folders under {@code root} and other relative paths made absolute (a spec file's relative
   * paths are read against its own folder). With {@code spec-file}, the {@code @NAME} paths are written
   * relative to the spec's folder instead, so the spec and the stages' folders can move together.
   */
  JsonNode inlineSpec(int i, Path root) {
    Stage stage = stages.get(i);
    Path folder = stage.specFile() == null ? null : root.resolve(stage.specFile()).toAbsolutePath().normalize().getParent();
    ObjectNode spec = ((ObjectNode) stage.with().get("spec")).deepCopy();
    for (JsonNode src : spec.path("sources")) {
      if (src instanceof ObjectNode o && o.hasNonNull("path")) {
        String p = o.get("path").asText();
        if (p.startsWith("@")) {
          Path dir = stage(p.substring(1)).dir(root).toAbsolutePath().normalize();
          o.put("path", folder == null ? dir.toString() : folder.relativize(dir).toString());
        } else if (!io.instructflow.pipelines.runtime.Storage.isUri(p)) {
          o.put("path", Path.of(p).toAbsolutePath().normalize().toString());
        }
      }
    }
    return spec;
  }
}
