package io.instructflow.pipelines.io;

import io.instructflow.schemas.io.InputShape;
import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * How a command reads its input, validated when built so that a bad value is a usage error before
 * anything runs or any earlier output is touched.
 *
 * @param in a file, a folder or a glob
 * @param format the shape to force, or null to detect per file
 * @param datasetName dataset name for every record, or null for the default
 * @param license SPDX id for every record
 * @param maxLineBytes longest accepted record in bytes, 16 B to 256 MiB
 * @param head read only the first {@code head} records of each file (0: all); a recipe's dry run uses it
 */
public record ReadOptions(String in, InputShape format, String datasetName, String license, int maxLineBytes, long head)
    implements Serializable {
  /** Upper bound of {@code --max-line-bytes}: the longest string the JSON parser accepts. */
  public static final int MAX_LINE_BYTES_LIMIT = 256 * 1024 * 1024;

  public ReadOptions {
    Objects.requireNonNull(in, "in");
    if (datasetName != null && datasetName.isBlank()) {
      throw new IllegalArgumentException("--dataset-name must not be blank");
    }
    if (license == null || license.isBlank()) {
      throw new IllegalArgumentException("--license must not be blank");
    }
    if (maxLineBytes < 16 || maxLineBytes > MAX_LINE_BYTES_LIMIT) {
      throw new IllegalArgumentException(
          "--max-line-bytes must be within [16, " + MAX_LINE_BYTES_LIMIT + "], got " + maxLineBytes);
    }
    if (head < 0) {
      throw new IllegalArgumentException("--head must not be negative, got " + head);
    }
  }

  /** Options that read every record. */
  public ReadOptions(String in, InputShape format, String datasetName, String license, int maxLineBytes) {
    this(in, format, datasetName, license, maxLineBytes, 0);
  }

  /** Reading {@code in} with detected shapes, default dataset names, license {@code unknown}, 1 MiB lines. */
  public static ReadOptions of(String in) {
    return new ReadOptions(in, null, null, "unknown", 1 << 20);
  }

  /** The reader transform for these options over {@code files}. */
  public ReadRecords reader(java.util.List<InputFile> files) {
    ReadRecords r = ReadRecords.of(files).withLicense(license).withMaxRecordBytes(maxLineBytes).withHead(head);
    return format == null ? r : r.withFormat(format);
  }

  /** The options as they go into a run summary. */
  public Map<String, Object> asMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("in", in);
    m.put("format", format == null ? "detect" : format.code());
    m.put("datasetName", datasetName == null ? "(default)" : datasetName);
    m.put("license", license);
    m.put("maxLineBytes", maxLineBytes);
    if (head > 0) {
      m.put("head", head);
    }
    return m;
  }
}
