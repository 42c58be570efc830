package io.instructflow.pipelines.io;

import java.io.Serializable;
import java.util.Objects;

/**
 * One input file in reading order.
 *
 * @param index position in the sorted file list
 * @param path the full path or URI, as Beam's FileSystems resolves it
 * @param name the display name used in locations (relative to the input folder, else the file name)
 * @param dataset the dataset name its records get
 */
public record InputFile(int index, String path, String name, String dataset) implements Serializable {
  public InputFile {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(dataset, "dataset");
  }
}
