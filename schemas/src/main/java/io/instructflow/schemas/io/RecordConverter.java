package io.instructflow.schemas.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.RejectReason;
import io.instructflow.schemas.Schemas;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import io.instructflow.schemas.io.Conversion.Converted;
import io.instructflow.schemas.io.Conversion.Failed;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Turns one JSON object of a known {@link InputShape} into our records, or says exactly why it cannot.
 *
 * <p>Nothing is coerced silently: a field of the wrong type is a {@link RejectReason#WRONG_TYPE}, a
 * JSON {@code null} counts as absent. Fields a shape does not use are kept in {@code metadata} under
 * their own names, so no source column is lost. Every record gets an {@code import} step.
 */
public final class RecordConverter {
  /** Name of the step this converter appends. */
  public static final String STEP = "import";

  /** Version of the conversion rules; bump it when they change. */
  public static final String STEP_VERSION = "1";

  private final String dataset;
  private final String license;
  private final String split;

  /**
   * @param dataset the dataset name written to every record's origin
   * @param license the SPDX license id written to every record's origin
   */
  public RecordConverter(String dataset, String license) {
    this(dataset, license, null);
  }

  /**
   * @param dataset the dataset name written to every record's origin
   * @param license the SPDX license id written to every record's origin
   * @param split the split written to every record's origin (a Hub layout file's), or null for none
   */
  public RecordConverter(String dataset, String license, String split) {
    this.dataset = requireText(dataset, "dataset");
    this.license = requireText(license, "license");
    this.split = split == null ? null : requireText(split, "split");
  }

  private static String requireText(String v, String name) {
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException(name + " must be non-blank, got '" + v + "'");
    }
    return v;
  }

  /** Converts {@code node}, read at {@code location}, as {@code shape}. */
  public Conversion convert(JsonNode node, InputShape shape, String location) {
    Objects.requireNonNull(shape, "shape");
    if (node == null || !node.isObject()) {
      return new Failed(RejectReason.NOT_AN_OBJECT, "expected a JSON object, got " + kind(node));
    }
    try {
      return switch (shape) {
        case PREFERENCE -> preference(node, location);
        case INSTRUCTFLOW -> ours(node, location);
        case SELF_INSTRUCT_SEED -> seed(node, location);
        case SHAREGPT -> sharegpt(node, location);
        case CHAT -> chat(node, location);
        case ALPACA -> alpaca(node, location);
        case PROMPT_COMPLETION -> promptCompletion(node, location);
      };
    } catch (FieldProblem p) {
      return new Failed(p.reason, p.getMessage());
    }
  }

  private Conversion alpaca(JsonNode node, String location) throws FieldProblem {
    String instruction = requiredText(node, "instruction");
    String inputKey = present(node, "input", "context");
    String outputKey = present(node, "output", "response");
    String input = inputKey == null ? null : optionalText(node, inputKey);
    String output = outputKey == null ? null : optionalText(node, outputKey);
    // only the alias actually used is consumed; a second one (e.g. both output and response) stays in metadata
    Set<String> used = new java.util.HashSet<>(Set.of("instruction"));
    if (inputKey != null) {
      used.add(inputKey);
    }
    if (outputKey != null) {
      used.add(outputKey);
    }
    if (rowId(node) != null) {
      used.add("id");
    }
    Map<String, Object> meta = extras(node, used);
    return single(instruction, input, output, meta, location, rowId(node), InputShape.ALPACA);
  }

  private Conversion promptCompletion(JsonNode node, String location) throws FieldProblem {
    String prompt = requiredText(node, "prompt");
    String completion = optionalText(node, "completion");
    Map<String, Object> meta = extras(node, idUnlessContainer(node, "prompt", "completion"));
    return single(prompt, null, completion, meta, location, rowId(node), InputShape.PROMPT_COMPLETION);
  }

  private Conversion seed(JsonNode node, String location) throws FieldProblem {
    String instruction = requiredText(node, "instruction");
    JsonNode instances = node.get("instances");
    if (instances == null || instances.isNull()) {
      throw new FieldProblem(RejectReason.MISSING_FIELD, "field 'instances' is missing");
    }
    if (!instances.isArray()) {
      throw new FieldProblem(RejectReason.WRONG_TYPE, "field 'instances' must be an array, got " + kind(instances));
    }
    if (instances.isEmpty()) {
      throw new FieldProblem(RejectReason.MISSING_FIELD, "field 'instances' is an empty array: a seed task needs at least one instance");
    }
    JsonNode cls = node.get("is_classification");
    if (cls != null && !cls.isNull() && !cls.isBoolean()) {
      throw new FieldProblem(RejectReason.WRONG_TYPE, "field 'is_classification' must be true or false, got " + kind(cls));
    }
    Map<String, Object> base = extras(node, idUnlessContainer(node, "instruction", "instances", "name", "is_classification"));
    if (cls != null && cls.isBoolean()) {
      base.put("is_classification", cls.booleanValue());
    }
    String name = optionalText(node, "name");
    if (name != null) {
      base.put("task_name", name);
    }
    String rowId = rowId(node);
    List<Example> out = new ArrayList<>(instances.size());
    for (int i = 0; i < instances.size(); i++) {
      JsonNode inst = instances.get(i);
      if (!inst.isObject()) {
        throw new FieldProblem(RejectReason.WRONG_TYPE, "instances[" + i + "] must be an object, got " + kind(inst));
      }
      String input = optionalTextAt(inst, "instances[" + i + "].", "input");
      String output = optionalTextAt(inst, "instances[" + i + "].", "output");
      Map<String, Object> meta = new LinkedHashMap<>(base);
      meta.put("instance_index", i);
      meta.put("instance_count", instances.size());
      out.add(Example.single(instruction, input, output, meta, provenance(location, rowId, InputShape.SELF_INSTRUCT_SEED)));
    }
    return new Converted(out);
  }

  private Conversion chat(JsonNode node, String location) throws FieldProblem {
    List<Message> messages = turns(node, "messages", "role", "content");
    Map<String, Object> meta = extras(node, idUnlessContainer(node, "messages"));
    return new Converted(List.of(Example.chat(messages, meta, provenance(location, rowId(node), InputShape.CHAT))));
  }

  private Conversion sharegpt(JsonNode node, String location) throws FieldProblem {
    List<Message> messages = turns(node, "conversations", "from", "value");
    Map<String, Object> meta = extras(node, idUnlessContainer(node, "conversations"));
    return new Converted(List.of(Example.chat(messages, meta, provenance(location, rowId(node), InputShape.SHAREGPT))));
  }

  /** Metadata key holding the rest of a preference pair on the record of its chosen side. */
  public static final String PREFERENCE_KEY = "preference";

  /**
   * A preference pair becomes the chat record of its chosen side (prompt turns, then the chosen answer),
   * with the rejected answer and any scores, margin and per-side info in {@code metadata.preference}.
   * A pair that carries our provenance keeps it.
   */
  private Conversion preference(JsonNode node, String location) throws FieldProblem {
    List<Message> prompt;
    String chosen;
    String rejected;
    JsonNode p = node.get("prompt");
    if (p != null && p.isTextual()) {
      if (p.asText().isBlank()) {
        throw new FieldProblem(RejectReason.EMPTY_INSTRUCTION, "field 'prompt' is empty");
      }
      prompt = List.of(new Message("user", p.asText()));
    } else if (p != null && p.isArray()) {
      prompt = turns(node, "prompt", "role", "content");
    } else if (p != null && !p.isNull()) {
      throw new FieldProblem(RejectReason.WRONG_TYPE, "field 'prompt' must be text or turns, got " + kind(p));
    } else {
      prompt = null;
    }
    List<Message> chosenTurns = side(node, "chosen");
    List<Message> rejectedTurns = side(node, "rejected");
    if (prompt == null) {
      if (chosenTurns.size() < 2) {
        throw new FieldProblem(RejectReason.MISSING_FIELD, "no 'prompt', and 'chosen' is not a dialogue to take it from");
      }
      prompt = chosenTurns.subList(0, chosenTurns.size() - 1);
      if (prompt.stream().noneMatch(m -> m.role().equals("user") && !m.content().isBlank())) {
        throw new FieldProblem(RejectReason.EMPTY_INSTRUCTION, "the dialogue before the chosen answer has no user text");
      }
    }
    chosen = chosenTurns.get(chosenTurns.size() - 1).content();
    rejected = rejectedTurns.get(rejectedTurns.size() - 1).content();
    Map<String, Object> pref = new LinkedHashMap<>();
    pref.put("rejected", rejected);
    for (String k : List.of("score_chosen", "score_rejected", "margin")) {
      if (node.path(k).isNumber()) {
        pref.put(k, node.get(k).asDouble());
      }
    }
    for (String k : List.of("chosen_info", "rejected_info")) {
      if (node.path(k).isObject()) {
        pref.put(k, Json.mapper().convertValue(node.get(k), Map.class));
      }
    }
    Set<String> used = idUnlessContainer(node, "prompt", "chosen", "rejected", "score_chosen", "score_rejected", "margin",
        "chosen_info", "rejected_info", "prompt_messages", "chosen_messages", "rejected_messages", "provenance", "metadata");
    Map<String, Object> meta = extras(node, used);
    if (node.path("metadata").isObject()) {
      meta.putAll(Json.mapper().convertValue(node.get("metadata"), Map.class));
    }
    meta.put(PREFERENCE_KEY, pref);
    List<Message> turns = new ArrayList<>(prompt);
    turns.add(new Message("assistant", chosen));
    Provenance prov;
    if (node.path("provenance").isObject()) {
      try {
        prov = Json.mapper().treeToValue(node.get("provenance"), Provenance.class).plus(Step.of(STEP, STEP_VERSION,
            Map.of("format", InputShape.PREFERENCE.code()), Verdict.KEPT, location));
      } catch (JsonProcessingException | IllegalArgumentException ex) {
        throw new FieldProblem(RejectReason.SCHEMA_VIOLATION, "the pair's provenance is not valid: " + ex.getMessage());
      }
    } else {
      prov = provenance(location, rowId(node), InputShape.PREFERENCE);
    }
    return new Converted(List.of(Example.chat(turns, meta, prov)));
  }

  /** One side of a pair as turns: text is one assistant turn; an HH-RLHF transcript or a turn list is split. */
  private List<Message> side(JsonNode node, String field) throws FieldProblem {
    JsonNode v = node.get(field);
    if (v == null || v.isNull()) {
      throw new FieldProblem(RejectReason.MISSING_FIELD, "field '" + field + "' is missing");
    }
    if (v.isArray()) {
      List<Message> t = new ArrayList<>();
      for (int i = 0; i < v.size(); i++) {
        JsonNode turn = v.get(i);
        String role = Roles.normalize(turn.path("role").asText(""));
        if (role == null || !turn.path("content").isTextual()) {
          throw new FieldProblem(RejectReason.INVALID_VALUE, field + "[" + i + "] must have a known role and text content");
        }
        t.add(new Message(role, turn.get("content").asText()));
      }
      if (t.isEmpty() || !t.get(t.size() - 1).role().equals("assistant")) {
        throw new FieldProblem(RejectReason.INVALID_VALUE, "field '" + field + "' must end with an assistant turn");
      }
      return t;
    }
    if (!v.isTextual()) {
      throw new FieldProblem(RejectReason.WRONG_TYPE, "field '" + field + "' must be text or turns, got " + kind(v));
    }
    String text = v.asText();
    if (!text.contains("\n\nHuman:") || !text.contains("\n\nAssistant:")) {
      return List.of(new Message("assistant", text));
    }
    List<Message> t = new ArrayList<>();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\n\n(Human|Assistant):").matcher(text);
    int start = -1;
    String role = null;
    while (m.find()) {
      if (role != null) {
        t.add(new Message(role, text.substring(start, m.start()).strip()));
      }
      role = m.group(1).equals("Human") ? "user" : "assistant";
      start = m.end();
    }
    t.add(new Message(role, text.substring(start).strip()));
    if (!t.get(t.size() - 1).role().equals("assistant")) {
      throw new FieldProblem(RejectReason.INVALID_VALUE, "the '" + field + "' dialogue does not end with an Assistant turn");
    }
    return t;
  }

  private Conversion ours(JsonNode node, String location) throws FieldProblem {
    List<String> errors = Schemas.errors(Schemas.Kind.EXAMPLE, node);
    if (!errors.isEmpty()) {
      throw new FieldProblem(RejectReason.SCHEMA_VIOLATION, "not a valid instructflow record: " + String.join("; ", errors));
    }
    Example e;
    try {
      e = Json.mapper().treeToValue(node, Example.class);
    } catch (JsonProcessingException | IllegalArgumentException ex) {
      String msg = ex instanceof JsonProcessingException jp ? jp.getOriginalMessage() : ex.getMessage();
      throw new FieldProblem(RejectReason.SCHEMA_VIOLATION, "not a valid instructflow record: " + msg);
    }
    String computed = e.computedId();
    if (!computed.equals(e.id())) {
      throw new FieldProblem(
          RejectReason.ID_MISMATCH,
          "id '" + e.id() + "' is not the content hash '" + computed + "': the record was edited after it was written");
    }
    Step step = Step.of(STEP, STEP_VERSION, Map.of("format", InputShape.INSTRUCTFLOW.code()), Verdict.KEPT, location);
    return new Converted(List.of(e.withStep(step)));
  }

  private List<Message> turns(JsonNode node, String field, String roleKey, String textKey) throws FieldProblem {
    JsonNode arr = node.get(field);
    if (arr == null || arr.isNull()) {
      throw new FieldProblem(RejectReason.MISSING_FIELD, "field '" + field + "' is missing");
    }
    if (!arr.isArray()) {
      throw new FieldProblem(RejectReason.WRONG_TYPE, "field '" + field + "' must be an array, got " + kind(arr));
    }
    List<Message> out = new ArrayList<>(arr.size());
    boolean anyUserText = false;
    for (int i = 0; i < arr.size(); i++) {
      JsonNode turn = arr.get(i);
      String where = field + "[" + i + "].";
      if (!turn.isObject()) {
        throw new FieldProblem(RejectReason.WRONG_TYPE, field + "[" + i + "] must be an object, got " + kind(turn));
      }
      String rawRole = requiredText(turn, where, roleKey, false);
      String role = Roles.normalize(rawRole);
      if (role == null) {
        throw new FieldProblem(
            RejectReason.INVALID_VALUE,
            where + roleKey + " '" + rawRole + "' is not a known role (expected one of " + Roles.KNOWN + ")");
      }
      String text = requiredText(turn, where, textKey, false);
      anyUserText |= role.equals("user") && !text.isBlank();
      out.add(new Message(role, text));
    }
    if (!anyUserText) {
      throw new FieldProblem(
          RejectReason.EMPTY_INSTRUCTION,
          arr.isEmpty() ? "field '" + field + "' is an empty array" : "no user turn in '" + field + "' has any text");
    }
    return out;
  }

  private Conversion single(
      String instruction, String input, String output, Map<String, Object> meta, String location, String rowId, InputShape shape) {
    return new Converted(List.of(Example.single(instruction, input, output, meta, provenance(location, rowId, shape))));
  }

  private Provenance provenance(String location, String rowId, InputShape shape) {
    Origin origin = new Origin(dataset, license, location, rowId, shape.code(), null, split);
    Step step = Step.of(STEP, STEP_VERSION, Map.of("format", shape.code()), Verdict.KEPT, null);
    return new Provenance(origin, List.of(step));
  }

  /** {@code keys}, plus {@code id} when it is a scalar row id (an object or array id stays in metadata). */
  private static Set<String> idUnlessContainer(JsonNode node, String... keys) {
    Set<String> out = new java.util.HashSet<>(java.util.Arrays.asList(keys));
    if (rowId(node) != null) {
      out.add("id");
    }
    return out;
  }

  /** The first of {@code keys} that is present and not null, or null. */
  private static String present(JsonNode node, String... keys) {
    for (String k : keys) {
      JsonNode v = node.get(k);
      if (v != null && !v.isNull()) {
        return k;
      }
    }
    return null;
  }

  private static String rowId(JsonNode node) {
    JsonNode id = node.get("id");
    if (id == null || id.isNull() || id.isContainerNode()) {
      return null;
    }
    return id.asText();
  }

  /** Metadata keys with a fixed meaning (see example.schema.json); a source column of that name is renamed. */
  static final Set<String> RESERVED_METADATA = Set.of("is_classification", "task_name", "instance_index", "instance_count");

  /**
   * Every field not in {@code used}, as plain Java values, in the object's order. A column whose name
   * is a reserved metadata key is kept as {@code source_<name>}.
   */
  private static Map<String, Object> extras(JsonNode node, Set<String> used) {
    Map<String, Object> out = new LinkedHashMap<>();
    Iterator<Map.Entry<String, JsonNode>> it = node.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> f = it.next();
      if (!used.contains(f.getKey()) && !f.getValue().isNull()) {
        String key = RESERVED_METADATA.contains(f.getKey()) ? "source_" + f.getKey() : f.getKey();
        out.put(key, Json.mapper().convertValue(f.getValue(), Object.class));
      }
    }
    return out;
  }

  private static String requiredText(JsonNode node, String field) throws FieldProblem {
    return requiredText(node, "", field, true);
  }

  private static String requiredText(JsonNode node, String where, String field, boolean instruction) throws FieldProblem {
    JsonNode v = node.get(field);
    if (v == null || v.isNull()) {
      throw new FieldProblem(RejectReason.MISSING_FIELD, "field '" + where + field + "' is missing");
    }
    if (!v.isTextual()) {
      throw new FieldProblem(RejectReason.WRONG_TYPE, "field '" + where + field + "' must be a string, got " + kind(v));
    }
    if (instruction && v.textValue().isBlank()) {
      throw new FieldProblem(RejectReason.EMPTY_INSTRUCTION, "field '" + where + field + "' is empty or whitespace only");
    }
    return v.textValue();
  }

  private static String optionalText(JsonNode node, String... aliases) throws FieldProblem {
    return optionalTextAt(node, "", aliases);
  }

  private static String optionalTextAt(JsonNode node, String where, String... aliases) throws FieldProblem {
    for (String a : aliases) {
      JsonNode v = node.get(a);
      if (v == null || v.isNull()) {
        continue;
      }
      if (!v.isTextual()) {
        throw new FieldProblem(RejectReason.WRONG_TYPE, "field '" + where + a + "' must be a string, got " + kind(v));
      }
      return v.textValue();
    }
    return null;
  }

  /** A short description of a JSON value's type, for messages. */
  static String kind(JsonNode v) {
    if (v == null || v.isMissingNode()) {
      return "nothing";
    }
    return switch (v.getNodeType()) {
      case ARRAY -> "an array";
      case OBJECT -> "an object";
      case STRING -> "a string";
      case NUMBER -> "a number (" + v.asText() + ")";
      case BOOLEAN -> "a boolean (" + v.asText() + ")";
      case NULL -> "null";
      default -> v.getNodeType().name().toLowerCase(java.util.Locale.ROOT);
    };
  }

  /** A field-level problem; carries the reject reason. */
  private static final class FieldProblem extends Exception {
    private static final long serialVersionUID = 1L;
    final RejectReason reason;

    FieldProblem(RejectReason reason, String message) {
      super(message, null, false, false);
      this.reason = reason;
    }
  }
}
