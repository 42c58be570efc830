package io.instructflow.schemas;

import java.util.Objects;

/**
 * Where a record entered instructflow.
 *
 * @param dataset dataset name (from {@code --dataset-name}, else the input's folder or file name)
 * @param license SPDX id of the source's license, or {@code unknown}
 * @param location {@code <file name>:<1-based line>} for JSONL (compressed or not), {@code <file
 *     name>#<0-based index>} for a JSON array element or a Parquet row (its index within the file); a
 *     seed task expands to one record per instance, all with the task's location
 * @param rowId the source's own row id when it has one (e.g. {@code seed_task_0}), else null
 * @param format the input shape the record was read as (see {@code InputShape})
 * @param version dataset version or commit when known, else null
 * @param split the dataset split the record was published in, when the input named one (a Hugging Face
 *     Hub layout folder: {@code data/<split>-NNNNN-of-NNNNN.parquet}), else null (issue 20)
 */
public record Origin(
    String dataset, String license, String location, String rowId, String format, String version, String split) {
  public Origin {
    requireText(dataset, "dataset");
    requireText(license, "license");
    requireText(location, "location");
    Objects.requireNonNull(format, "format");
    if (split != null) {
      requireText(split, "split");
    }
  }

  /** An origin without a split. */
  public Origin(String dataset, String license, String location, String rowId, String format, String version) {
    this(dataset, license, location, rowId, format, version, null);
  }

  private static void requireText(String value, String name) {
    if (value == null || value.isBlank()) {
      throw new IllegalArgumentException("origin." + name + " must be non-blank, got '" + value + "'");
    }
  }
}
