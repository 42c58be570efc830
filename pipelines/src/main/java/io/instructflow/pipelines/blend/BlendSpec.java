package io.instructflow.pipelines.blend;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Schemas;
import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * A blend: which sources go into a dataset, how much of each, and how it is written. Read from JSON or
 * YAML and checked against {@code blend-spec.schema.json} before anything else; paths are relative to
 * the spec file.
 *
 * @param name the blended dataset's name (the card's title)
 * @param target records wanted, or null
 * @param targetTokens estimated tokens wanted ({@link Tokens}), or null
 * @param seed selects, splits and orders rows
 * @param temperature when set, sources without an explicit share get weights n^(1/T)
 * @param dedup drop records whose normalized text an earlier source (or record) already has
 * @param validation share (below 1) or count (1 or more) of the distinct records held out; 0 for none
 * @param shardSize rows per output shard
 * @param formats exports to write
 * @param sources the sources, in priority order (dedup keeps the first copy)
 * @param specText the spec exactly as read, written next to the data
 * @param tagQuotas caps and minimums on rows per tag value, on one tag or more ({@link TagQuotas}), or null for none
 */
public record BlendSpec(String name, Long target, Long targetTokens, long seed, Double temperature, boolean dedup,
    double validation, long shardSize, List<String> formats, List<Source> sources, String specText, TagQuotas tagQuotas)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The export formats. */
  public static final List<String> FORMATS = List.of("jsonl", "alpaca", "messages", "sharegpt", "dpo", "parquet");

  /**
   * One source.
   *
   * @param path resolved file, folder or glob; an instructflow output folder means its {@code data/}
   * @param name dataset name (provenance and card)
   * @param license SPDX id of the source's license, or null to take each record's own (its origin
   *     license, as an instructflow output records it)
   * @param weight relative share of the weighted part of the target, or null
   * @param fraction share of the source's own records to take, or null
   * @param count records to take, or null
   * @param cap most records to take, or null
   * @param upsample whether records may repeat to meet the share
   */
  public record Source(String path, String name, String license, Double weight, Double fraction, Long count, Long cap,
      boolean upsample) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Source {
      Objects.requireNonNull(path, "path");
      Objects.requireNonNull(name, "name");
    }

    /** Whether the share is a weight (possibly from the temperature) rather than a fixed amount. */
    public boolean weighted() {
      return fraction == null && count == null;
    }
  }

  public BlendSpec {
    sources = List.copyOf(sources);
    formats = List.copyOf(formats);
  }

  /** Reads and checks a spec file (JSON, or YAML for {@code .yaml}/{@code .yml}). */
  public static BlendSpec read(Path file) throws IOException {
    String text = Files.readString(file, StandardCharsets.UTF_8);
    String lower = file.getFileName().toString().toLowerCase(Locale.ROOT);
    JsonNode root;
    try {
      root = lower.endsWith(".yaml") || lower.endsWith(".yml") ? new ObjectMapper(new YAMLFactory()).readTree(text)
          : Json.mapper().readTree(text);
    } catch (IOException e) {
      throw new IllegalArgumentException(file + ": not valid " + (lower.endsWith("ml") ? "YAML" : "JSON") + ": " + e.getMessage());
    }
    return parse(root, file.toAbsolutePath().getParent(), text, file.toString());
  }

  /** Checks a parsed spec; relative source paths resolve against {@code base}. */
  public static BlendSpec parse(JsonNode root, Path base, String text, String where) {
    if (root == null) {
      throw new IllegalArgumentException(where + ": empty spec");
    }
    List<String> errors = Schemas.errors(Schemas.Kind.BLEND_SPEC, root);
    if (!errors.isEmpty()) {
      throw new IllegalArgumentException(where + ": " + String.join("; ", errors));
    }
    boolean upsampleDefault = root.path("upsample").asBoolean(false);
    Double temperature = root.hasNonNull("temperature") ? root.get("temperature").asDouble() : null;
    List<Source> sources = new ArrayList<>();
    Set<String> names = new LinkedHashSet<>();
    int i = 0;
    for (JsonNode s : root.get("sources")) {
      String at = where + ": sources[" + i++ + "]";
      int shares = (s.has("weight") ? 1 : 0) + (s.has("fraction") ? 1 : 0) + (s.has("count") ? 1 : 0);
      if (shares > 1) {
        throw new IllegalArgumentException(at + ": give one of weight, fraction or count");
      }
      if (shares == 0 && temperature == null) {
        throw new IllegalArgumentException(at + ": give one of weight, fraction or count (or a temperature for the blend)");
      }
      if (s.has("weight") && temperature != null) {
        throw new IllegalArgumentException(at + ": with a temperature, weights come from the source sizes; drop 'weight'");
      }
      String path = s.get("path").asText();
      // a URI (hdfs://nn:8020/data) is taken as written: java.nio would fold its '//' (issue 23)
      boolean uri = io.instructflow.pipelines.runtime.Storage.isUri(path);
      String resolvedPath = uri ? path : (base == null ? Path.of(path) : base.resolve(path).normalize()).toString();
      String trimmed = resolvedPath.endsWith("/") ? resolvedPath.substring(0, resolvedPath.length() - 1) : resolvedPath;
      String baseName = trimmed.substring(trimmed.lastIndexOf('/') + 1);
      String name = s.hasNonNull("name") ? s.get("name").asText() : baseName.replaceAll("\\.(jsonl?|json)$", "");
      if (!names.add(name)) {
        throw new IllegalArgumentException(at + ": source name '" + name + "' is used twice");
      }
      sources.add(new Source(resolvedPath, name, s.hasNonNull("license") ? s.get("license").asText() : null,
          s.has("weight") ? s.get("weight").asDouble() : null, s.has("fraction") ? s.get("fraction").asDouble() : null,
          s.has("count") ? s.get("count").asLong() : null, s.has("cap") ? s.get("cap").asLong() : null,
          s.path("upsample").asBoolean(upsampleDefault)));
    }
    Long target = root.has("target") ? root.get("target").asLong() : null;
    Long targetTokens = root.has("targetTokens") ? root.get("targetTokens").asLong() : null;
    if (target != null && targetTokens != null) {
      throw new IllegalArgumentException(where + ": give target or targetTokens, not both");
    }
    boolean anyWeighted = sources.stream().anyMatch(Source::weighted);
    if (anyWeighted && target == null && targetTokens == null) {
      throw new IllegalArgumentException(where + ": weighted sources need a target (records) or targetTokens");
    }
    List<String> formats = new ArrayList<>();
    if (root.has("formats")) {
      root.get("formats").forEach(f -> formats.add(f.asText()));
    } else {
      formats.add("jsonl");
    }
    TagQuotas tagQuotas = null;
    if (root.has("tagQuotas")) {
      tagQuotas = TagQuotas.parse(root.get("tagQuotas"), where);
      for (Source s : sources) {
        if (s.upsample()) {
          throw new IllegalArgumentException(where + ": source '" + s.name() + "' upsamples; tag quotas count distinct "
              + "records, so they need every source without upsample");
        }
      }
    }
    return new BlendSpec(root.path("name").asText("blend"), target, targetTokens, root.path("seed").asLong(0), temperature,
        root.path("dedup").asBoolean(true), root.path("validation").asDouble(0), root.path("shardSize").asLong(100_000),
        new ArrayList<>(new LinkedHashSet<>(formats)), sources, text, tagQuotas);
  }
}
