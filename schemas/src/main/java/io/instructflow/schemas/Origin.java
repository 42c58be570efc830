package io.instructflow.schemas;

import java.util.Objects;

/**
 * Where a record entered instructflow.
 *
 * @param dataset dataset name (from {@code --dataset-name}, else the input's folder or file name)
 * @param license SPDX id of the source's license, or {@code unknown}
 * @param location {@code <file name>:<1-based line>} for JSONL, {@code <file name>#<0-based index>}
 *     for a JSON array (a seed task expands to one record per instance, all with the task's location)
 * @param rowId the source's own row id when it has one (e.g. {@code seed_task_0}), else null
 * @param format the input shape the record was read as (see {@code InputShape})
 * @param version dataset version or commit when known, else null
 */
public record Origin(
    String dataset, String license, String location, String rowId, String format, String version) {
  public Origin {
    requireText(dataset, "dataset");
    requireText(license, "license");
    requireText(location, "location");
    Objects.requireNonNull(format, "format");
  }

  private static void requireText(String value, String name) {
    if (value == null || value.isBlank()) {
      throw new IllegalArgumentException("origin." + name + " must be non-blank, got '" + value + "'");
    }
  }
}
