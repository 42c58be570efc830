package io.instructflow.pipelines.io;

import java.io.Serializable;
import java.util.Locale;
import java.util.Objects;

/**
 * One input file in reading order.
 *
 * @param index position in the sorted file list
 * @param path the full path or URI, as Beam's FileSystems resolves it
 * @param name the display name used in locations (relative to the input folder, else the file name)
 * @param dataset the dataset name its records get
 * @param split the split its records get in their origin (a Hugging Face Hub layout file,
 *     {@code data/<split>-NNNNN-of-NNNNN.parquet}), or null
 */
public record InputFile(int index, String path, String name, String dataset, String split) implements Serializable {
  public InputFile {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(dataset, "dataset");
    if (split != null && split.isBlank()) {
      throw new IllegalArgumentException("split must be null or non-blank, got '" + split + "'");
    }
  }

  /** A file without a split. */
  public InputFile(int index, String path, String name, String dataset) {
    this(index, path, name, dataset, null);
  }

  /** This file at another position of the reading order. */
  public InputFile at(int newIndex) {
    return new InputFile(newIndex, path, name, dataset, split);
  }

  /** Whether the file is Parquet (by its name): read by row groups, not as text. */
  public boolean isParquet() {
    return path.toLowerCase(Locale.ROOT).endsWith(".parquet");
  }

  /** Whether the file is a compressed JSON stream ({@code .gz}, {@code .zst}): read whole, decompressed. */
  public boolean isCompressed() {
    String l = path.toLowerCase(Locale.ROOT);
    return l.endsWith(".gz") || l.endsWith(".zst");
  }
}
