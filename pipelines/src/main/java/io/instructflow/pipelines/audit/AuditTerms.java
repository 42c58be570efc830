package io.instructflow.pipelines.audit;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What the audit knows about licenses, model terms and the generators behind public datasets: the
 * table in {@code io/instructflow/audit/terms.json} (documented in docs/commands.md, audit), optionally extended by a
 * user file of the same shape.
 *
 * @param licenses by SPDX id (case-insensitive)
 * @param models model-id patterns and their terms
 * @param datasets dataset-name patterns and the model that generated them
 */
public record AuditTerms(Map<String, License> licenses, List<ModelTerms> models, List<DatasetOrigin> datasets)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  /**
   * A license's terms.
   *
   * @param commercial whether commercial use is allowed; null when unknown
   * @param shareAlike whether derived data must carry the same license
   * @param note one line for the report
   */
  public record License(Boolean commercial, Boolean shareAlike, String note) implements Serializable {
    private static final long serialVersionUID = 1L;
  }

  /**
   * A model family's terms for its outputs.
   *
   * @param match regex over model ids
   * @param owner who sets the terms
   * @param restricts {@code competing-models}, {@code improve-other-llms}, {@code naming}, {@code scale} or {@code none}
   * @param note one line for the report
   */
  public record ModelTerms(String match, String owner, String restricts, String note) implements Serializable {
    private static final long serialVersionUID = 1L;
  }

  /**
   * A public dataset known to be model output.
   *
   * @param match regex over dataset names
   * @param generatedBy the model id
   * @param note one line for the report
   */
  public record DatasetOrigin(String match, String generatedBy, String note) implements Serializable {
    private static final long serialVersionUID = 1L;
  }

  /** Model terms that block training for commercial use. */
  public static final List<String> COMMERCIAL_BLOCKING = List.of("competing-models", "improve-other-llms");

  /** The built-in table, extended by {@code extra} when given. */
  public static AuditTerms load(Path extra) throws IOException {
    AuditTerms base;
    try (InputStream in = AuditTerms.class.getResourceAsStream("/io/instructflow/audit/terms.json")) {
      base = parse(Json.mapper().readTree(in));
    }
    if (extra == null) {
      return base;
    }
    AuditTerms more = parse(Json.mapper().readTree(Files.readString(extra)));
    Map<String, License> l = new LinkedHashMap<>(base.licenses);
    l.putAll(more.licenses);
    List<ModelTerms> m = new ArrayList<>(more.models);
    m.addAll(base.models);
    List<DatasetOrigin> d = new ArrayList<>(more.datasets);
    d.addAll(base.datasets);
    return new AuditTerms(l, m, d);
  }

  static AuditTerms parse(JsonNode n) {
    Map<String, License> l = new LinkedHashMap<>();
    n.path("licenses").fields().forEachRemaining(e -> {
      JsonNode v = e.getValue();
      l.put(e.getKey().toLowerCase(Locale.ROOT), new License(v.path("commercial").isBoolean() ? v.get("commercial").asBoolean() : null,
          v.path("shareAlike").isBoolean() ? v.get("shareAlike").asBoolean() : null, v.path("note").asText("")));
    });
    List<ModelTerms> m = new ArrayList<>();
    for (JsonNode v : n.path("models")) {
      Pattern.compile(v.path("match").asText());
      m.add(new ModelTerms(v.path("match").asText(), v.path("owner").asText(""), v.path("restricts").asText("none"),
          v.path("note").asText("")));
    }
    List<DatasetOrigin> d = new ArrayList<>();
    for (JsonNode v : n.path("datasets")) {
      Pattern.compile(v.path("match").asText());
      d.add(new DatasetOrigin(v.path("match").asText(), v.path("generatedBy").asText(null), v.path("note").asText("")));
    }
    return new AuditTerms(l, m, d);
  }

  /** The terms of a license id, or null when the table does not know it. */
  public License license(String id) {
    return licenses.get(id == null ? "unknown" : id.toLowerCase(Locale.ROOT));
  }

  /** The terms of the first model pattern that matches {@code modelId}, or null. */
  public ModelTerms model(String modelId) {
    for (ModelTerms t : models) {
      if (Pattern.compile(t.match()).matcher(modelId).find()) {
        return t;
      }
    }
    return null;
  }

  /** The generator of a public dataset by its name, or null. */
  public DatasetOrigin dataset(String name) {
    for (DatasetOrigin d : datasets) {
      if (Pattern.compile(d.match()).matcher(name).find()) {
        return d;
      }
    }
    return null;
  }
}
