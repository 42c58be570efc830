package io.instructflow.pipelines.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The JSON Schema of a recipe ({@code instructflow run}), made from the commands themselves: a stage of
 * type {@code filter} takes in {@code with} exactly the options of {@code instructflow filter} (long name
 * without the dashes, typed as the option is), less the ones the recipe sets itself: the input and output
 * folders, the runner and storage options, and {@code --head}. So the schema never falls behind the
 * commands, and a recipe stage means what the same command line would mean. {@code docs/recipe.schema.json}
 * is a copy that a test keeps equal to this.
 */
public final class RecipeSchema {
  private RecipeSchema() {}

  /** Schema {@code $id}. */
  static final String ID = "https://instructflow.io/schemas/recipe.schema.json";

  /**
   * A stage type: its command and the options the recipe fills in for it.
   *
   * @param type the stage type, the command's name
   * @param command a fresh command object
   * @param inOption the option that takes the stage's input (null: the stage reads none)
   * @param outOption the option that takes the stage's output folder
   * @param inIsList whether several inputs may be given
   */
  record Type(String type, Supplier<Callable<Integer>> command, String inOption, String outOption, boolean inIsList) {}

  /** The stage types in the order the docs list them. */
  static final List<Type> TYPES = List.of(
      new Type("import", ImportCommand::new, "--in", "--out", false),
      new Type("filter", FilterCommand::new, "--in", "--out", false),
      new Type("dedup", DedupCommand::new, "--in", "--out", false),
      new Type("generate", GenerateCommand::new, "--in", "--out", false),
      new Type("self-instruct", SelfInstructCommand::new, "--seeds", "--out", false),
      new Type("evol", EvolCommand::new, "--in", "--out", false),
      new Type("pairs", PairsCommand::new, "--in", "--out", false),
      new Type("score", ScoreCommand::new, "--in", "--out", false),
      new Type("tag", TagCommand::new, "--in", "--out", false),
      new Type("select", SelectCommand::new, "--in", "--out", false),
      new Type("blend", BlendCommand::new, null, "--out", false),
      new Type("stats", StatsCommand::new, "--in", "--out", false),
      new Type("audit", AuditCommand::new, "--in", "--report", true));

  /** Options no recipe stage sets in {@code with}: the recipe or {@code instructflow run} sets them. */
  static final Set<String> RESERVED = Set.of("--help", "--version", "--runner", "--spark-master", "--s3-endpoint",
      "--s3-region", "--s3-path-style", "--head");

  /** The type named {@code name}, or null. */
  static Type type(String name) {
    for (Type t : TYPES) {
      if (t.type().equals(name)) {
        return t;
      }
    }
    return null;
  }

  /** The command's options a stage of type {@code t} may set, by name without dashes, in name order. */
  static Map<String, OptionSpec> options(Type t) {
    CommandSpec spec = new CommandLine(t.command().get()).getCommandSpec();
    Map<String, OptionSpec> out = new TreeMap<>();
    for (OptionSpec o : spec.options()) {
      String name = o.longestName();
      if (!name.startsWith("--") || RESERVED.contains(name) || name.equals(t.inOption()) || name.equals(t.outOption())) {
        continue;
      }
      out.put(name.substring(2), o);
    }
    return out;
  }

  /** The schema, as a JSON tree. */
  static ObjectNode tree() {
    JsonNodeFactory f = JsonNodeFactory.instance;
    ObjectNode root = f.objectNode();
    root.put("$schema", "https://json-schema.org/draft/2020-12/schema");
    root.put("$id", ID);
    root.put("title", "instructflow recipe");
    root.put("description", "Stages run in order by `instructflow run RECIPE`; each stage is the command of its type "
        + "with the options given in `with`.");
    root.put("type", "object");
    root.put("additionalProperties", false);
    root.putArray("required").add("name").add("stages");
    ObjectNode props = root.putObject("properties");
    props.putObject("name").put("type", "string").put("pattern", "^[A-Za-z0-9][A-Za-z0-9._-]*$")
        .put("description", "The recipe's name: it goes into every stage's run summary with the recipe's hash.");
    props.putObject("description").put("type", "string");
    ObjectNode vars = props.putObject("vars");
    vars.put("type", "object").put("description", "Variables: ${NAME} in any string of the stages (or in out) is "
        + "replaced by the value; `run --set NAME=VALUE` overrides one.");
    vars.putObject("propertyNames").put("pattern", "^[A-Za-z_][A-Za-z0-9_]*$");
    vars.putObject("additionalProperties").putArray("type").add("string").add("number").add("integer").add("boolean");
    props.putObject("out").put("type", "string").put("minLength", 1)
        .put("description", "Output root; each stage writes OUT/<stage name>. `run --out` overrides it.");
    ObjectNode stages = props.putObject("stages");
    stages.put("type", "array").put("minItems", 1);
    ObjectNode stage = stages.putObject("items");
    stage.put("type", "object").put("additionalProperties", false);
    stage.putArray("required").add("name").add("type");
    ObjectNode sp = stage.putObject("properties");
    sp.putObject("name").put("type", "string").put("pattern", "^[a-z0-9][a-z0-9_-]*$")
        .put("description", "The stage's name, unique in the recipe, and its output folder under OUT unless `out` says "
            + "otherwise.");
    ArrayNode types = sp.putObject("type").putArray("enum");
    TYPES.forEach(t -> types.add(t.type()));
    ObjectNode in = sp.putObject("in");
    in.put("description", "Input: a path, @NAME for an earlier stage's output, or @/PATH for a path under OUT (a glob "
        + "there gathers several stages' outputs). Default: the previous stage's output.");
    ArrayNode inOneOf = in.putArray("oneOf");
    inOneOf.addObject().put("type", "string").put("minLength", 1);
    inOneOf.addObject().put("type", "array").put("minItems", 1).putObject("items").put("type", "string").put("minLength", 1);
    sp.putObject("with").put("type", "object").put("description", "The command's options, long names without dashes.");
    sp.putObject("out").put("type", "string").put("minLength", 1)
        .put("description", "The stage's output folder, relative to OUT (default: its name), e.g. import/dolly-3k.");
    ObjectNode when = sp.putObject("when");
    when.put("type", "object").put("additionalProperties", false).put("minProperties", 1)
        .put("description", "Run the stage only when every `exists` path exists and no `missing` path does (local "
            + "paths outside the recipe's outputs, decided before the first stage); else it is skipped, and so is "
            + "every stage that reads it.");
    ObjectNode whenProps = when.putObject("properties");
    for (String k : List.of("exists", "missing")) {
      ArrayNode one = whenProps.putObject(k).putArray("oneOf");
      one.addObject().put("type", "string").put("minLength", 1);
      one.addObject().put("type", "array").put("minItems", 1).putObject("items").put("type", "string").put("minLength", 1);
    }
    sp.putObject("spec-file").put("type", "string").put("minLength", 1)
        .put("description", "blend with an inline spec: write it to this path under OUT, its @NAME sources relative to "
            + "it (default: OUT/.recipe/NAME.blend.json, paths absolute).");
    ArrayNode all = stage.putArray("allOf");
    ObjectNode defs = root.putObject("$defs");
    for (Type t : TYPES) {
      ObjectNode rule = all.addObject();
      rule.putObject("if").putObject("properties").putObject("type").put("const", t.type());
      ObjectNode then = rule.putObject("then").putObject("properties");
      then.putObject("with").put("$ref", "#/$defs/" + t.type());
      if (!t.type().equals("blend")) {
        then.set("spec-file", f.booleanNode(false));
      }
      if (t.inOption() == null) {
        then.set("in", f.booleanNode(false));
      } else if (!t.inIsList()) {
        then.putObject("in").put("type", "string");
      }
      defs.set(t.type(), withSchema(t));
    }
    return root;
  }

  private static ObjectNode withSchema(Type t) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    ObjectNode s = f.objectNode();
    s.put("type", "object").put("additionalProperties", false);
    ObjectNode props = s.putObject("properties");
    ArrayNode required = f.arrayNode();
    for (Map.Entry<String, OptionSpec> e : options(t).entrySet()) {
      OptionSpec o = e.getValue();
      ObjectNode p = props.putObject(e.getKey());
      ObjectNode scalar = scalar(o);
      if (o.isMultiValue()) {
        ArrayNode one = p.putArray("oneOf");
        one.add(scalar);
        one.addObject().put("type", "array").set("items", scalar.deepCopy());
      } else {
        p.setAll(scalar);
      }
      p.put("description", String.join(" ", o.description()).replace("${DEFAULT-VALUE}", String.valueOf(o.defaultValue())));
      if (o.required()) {
        required.add(e.getKey());
      }
    }
    if (t.type().equals("blend")) {
      // an inline spec (an object) as well as a file
      ObjectNode p = props.putObject("spec");
      ArrayNode one = p.putArray("oneOf");
      one.addObject().put("type", "string").put("minLength", 1);
      one.addObject().put("type", "object");
      p.put("description", "The blend spec: a file, or the spec itself (its source paths may name stages "
          + "as @NAME; a source with optional: true is left out when its stage is skipped or its path does not exist).");
    }
    if (!required.isEmpty()) {
      s.set("required", required);
    }
    return s;
  }

  private static ObjectNode scalar(OptionSpec o) {
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    Class<?> c = o.isMultiValue() && o.auxiliaryTypes().length > 0 ? o.auxiliaryTypes()[0] : o.type();
    if (c == boolean.class || c == Boolean.class) {
      n.put("type", "boolean");
    } else if (c == int.class || c == Integer.class || c == long.class || c == Long.class) {
      n.put("type", "integer");
    } else if (c == double.class || c == Double.class || c == float.class || c == Float.class) {
      n.put("type", "number");
    } else {
      n.put("type", "string");
    }
    return n;
  }

  private static final class Holder {
    static final JsonSchema SCHEMA = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012).getSchema(tree());
  }

  /** The recipe's schema errors, sorted; empty when it is valid. */
  static List<String> errors(JsonNode recipe) {
    List<String> out = new ArrayList<>();
    for (ValidationMessage m : Holder.SCHEMA.validate(recipe)) {
      out.add(m.getMessage());
    }
    out.sort(null);
    return out;
  }

  /** The options of every type, for the docs: type to option names. */
  static Map<String, List<String>> optionNames() {
    Map<String, List<String>> m = new LinkedHashMap<>();
    for (Type t : TYPES) {
      m.put(t.type(), new ArrayList<>(options(t).keySet()));
    }
    return m;
  }
}
