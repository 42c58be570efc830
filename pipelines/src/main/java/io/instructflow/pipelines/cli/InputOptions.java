package io.instructflow.pipelines.cli;

import io.instructflow.schemas.io.InputShape;
import picocli.CommandLine.Option;

/** How a command reads its input; shared by the commands that read records. */
public final class InputOptions {
  @Option(names = "--in", required = true, paramLabel = "PATH",
      description = "Input: a .json/.jsonl file, a folder (every .json/.jsonl/.ndjson under it) or a glob. "
          + "An instructflow output folder means its data/ (the kept records). Files are read sorted by path, records "
          + "in file order.")
  String in;

  @Option(names = "--format", paramLabel = "SHAPE",
      description = "Force the record shape instead of detecting it per file: instructflow, alpaca, "
          + "self-instruct-seed, prompt-completion, messages, sharegpt.")
  String format;

  @Option(names = "--dataset-name", paramLabel = "NAME",
      description = "Dataset name written to each record's origin. Default: the input folder's name, "
          + "else the file's parent folder (glob) or base name (file).")
  String datasetName;

  @Option(names = "--license", defaultValue = "unknown", paramLabel = "SPDX",
      description = "License (SPDX id) written to each record's origin. Default: ${DEFAULT-VALUE}.")
  String license;

  @Option(names = "--max-line-bytes", defaultValue = "1048576", paramLabel = "BYTES",
      description = "Longest accepted JSONL line or array element; longer ones are rejected. Default: ${DEFAULT-VALUE}.")
  int maxLineBytes;

  @Option(names = "--head", hidden = true, defaultValue = "0", paramLabel = "N",
      description = "Read only the first N records of each input file (0: all). A recipe's --dry-run sets it.")
  long head;

  /** The validated read options; a bad value is a usage error. */
  public io.instructflow.pipelines.io.ReadOptions toReadOptions() {
    try {
      return new io.instructflow.pipelines.io.ReadOptions(in, shape(), datasetName, license, maxLineBytes, head);
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
  }

  /** The forced shape, or null to detect. */
  public InputShape shape() {
    if (format == null) {
      return null;
    }
    try {
      return InputShape.fromCode(format);
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
  }
}
