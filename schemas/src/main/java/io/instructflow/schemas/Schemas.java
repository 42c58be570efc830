package io.instructflow.schemas;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaValidatorsConfig;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The JSON Schemas of everything instructflow writes, loaded from this module's resources, and a
 * validator for them. Thread-safe; schemas are compiled once per JVM.
 */
public final class Schemas {
  /** Base URI of our schema ids; mapped onto the classpath. */
  public static final String BASE_URI = "https://instructflow.io/schemas/";

  private static final String CLASSPATH_BASE = "classpath:io/instructflow/schemas/";

  /** The schema files we ship. */
  public enum Kind {
    EXAMPLE("example.schema.json"),
    PROVENANCE("provenance.schema.json"),
    REJECT("reject.schema.json"),
    RUN_SUMMARY("run-summary.schema.json"),
    BLEND_SPEC("blend-spec.schema.json"),
    PREFERENCE_PAIR("preference-pair.schema.json");

    private final String file;

    Kind(String file) {
      this.file = file;
    }

    /** The schema's file name (also the last segment of its {@code $id}). */
    public String file() {
      return file;
    }
  }

  private static final Map<Kind, JsonSchema> COMPILED = compileAll();

  private Schemas() {}

  private static Map<Kind, JsonSchema> compileAll() {
    JsonSchemaFactory factory =
        JsonSchemaFactory.getInstance(
            SpecVersion.VersionFlag.V202012,
            b -> b.schemaMappers(m -> m.mapPrefix(BASE_URI, CLASSPATH_BASE)));
    SchemaValidatorsConfig config = SchemaValidatorsConfig.builder().formatAssertionsEnabled(true).build();
    Map<Kind, JsonSchema> out = new EnumMap<>(Kind.class);
    for (Kind k : Kind.values()) {
      JsonSchema schema = factory.getSchema(SchemaLocation.of(BASE_URI + k.file()), config);
      schema.initializeValidators();
      out.put(k, schema);
    }
    return out;
  }

  /** Validation errors of {@code node} against the schema {@code kind}; empty when it is valid. */
  public static List<String> errors(Kind kind, JsonNode node) {
    Set<ValidationMessage> messages = COMPILED.get(kind).validate(node);
    List<String> out = new ArrayList<>(messages.size());
    for (ValidationMessage m : messages) {
      out.add(m.getMessage());
    }
    out.sort(null);
    return out;
  }

  /** Validation errors of a value (serialized with {@link Json}) against the schema {@code kind}. */
  public static List<String> errors(Kind kind, Object value) {
    return errors(kind, Json.tree(value));
  }
}
