package io.instructflow.pipelines.io;

import java.io.File;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;

/**
 * Expands {@code --in} into the sorted list of input files, before the pipeline starts, so that a
 * missing input is a clear error and the order is defined: files sorted by path, then records in file
 * order.
 *
 * <p>A directory means every input file under it (recursively): {@code .json}, {@code .jsonl} and
 * {@code .ndjson}, each also compressed as {@code .gz} or {@code .zst}, and {@code .parquet}; a glob
 * means the files it matches; anything else must be an existing file. A file in the Hugging Face Hub
 * layout, {@code data/<split>-NNNNN-of-NNNNN[-suffix].<ext>}, carries its split into its records'
 * origin (issue 20). Paths may
 * be local or any scheme Beam's FileSystems knows. An output of ours (or its {@code data/},
 * {@code filtered/} or {@code rejects/}) whose run did not finish is refused
 * ({@link OutputLayout#requireComplete}). A finished output's root folder ({@code --in OUT}) means its
 * {@code data/}, the kept records, exactly as {@code --in OUT/data} ({@link #resolve}): read whole, its
 * summary and manifest would be rejects and its dropped and rejected records would come back as input.
 */
public final class InputFiles {
  private InputFiles() {}

  private static final String NO_INPUT_FILES =
      "input folder has no .json, .jsonl or .ndjson files (plain, .gz or .zst) and no .parquet files";

  /** A Hub layout file name: the split, a dash, the shard number "of" the shard count, then anything. */
  private static final java.util.regex.Pattern HUB_FILE =
      java.util.regex.Pattern.compile("([A-Za-z0-9_]+)-[0-9]+-of-[0-9]+(?:[-.][^/]*)?");

  /** Thrown when {@code --in} names nothing readable. */
  public static final class InputException extends Exception {
    private static final long serialVersionUID = 1L;

    public InputException(String message) {
      super(message);
    }
  }

  /**
   * What an input path is read as.
   *
   * @param given the path as given ({@code --in}, a blend source)
   * @param read the path read: {@code given}, or the {@code data/} folder of the output {@code given} names
   * @param output whether {@code given} is the root folder of a finished output of ours
   */
  public record Input(String given, String read, boolean output) {
    public Input {
      java.util.Objects.requireNonNull(given, "given");
      java.util.Objects.requireNonNull(read, "read");
    }

    /**
     * The console line saying that an output folder is read as its {@code data/}, e.g. {@code filter:
     * --in runs/seeds is an output folder; reading its data/ (kept records)}; null for any other input.
     *
     * @param command the command's name
     * @param what how the path was given ({@code --in}, {@code source})
     */
    public String note(String command, String what) {
      return output ? command + ": " + what + " " + given + " is an output folder; reading its " + OutputLayout.Kind.DATA.dir()
          + "/ (kept records)" : null;
    }
  }

  /**
   * Resolves {@code spec}: the root folder of a finished output of ours ({@link OutputLayout#isOutputRoot},
   * locally or through Beam's FileSystems) is read as its {@code data/} folder; any other path (a plain
   * folder, a file, a glob, a Hub layout, Parquet, or a folder inside an output) as it is.
   *
   * @throws InputException when {@code spec} is an output whose run did not finish, or cannot be looked at
   */
  public static Input resolve(String spec) throws InputException {
    File local = new File(spec.startsWith("file://") ? spec.substring("file://".length()) : spec);
    boolean hasScheme = spec.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*") && !spec.startsWith("file://");
    boolean glob = !(!hasScheme && local.exists()) && (spec.contains("*") || spec.contains("?") || spec.contains("["));
    if (glob) {
      return new Input(spec, spec, false);
    }
    OutputLayout layout;
    try {
      if (!OutputLayout.isOutputRoot(spec)) {
        return new Input(spec, spec, false);
      }
      layout = new OutputLayout(spec);
      layout.requireComplete();
    } catch (OutputLayout.IncompleteException e) {
      throw new InputException(e.getMessage());
    } catch (IOException | IllegalArgumentException e) {
      throw new InputException("cannot check input " + spec + ": " + e.getMessage());
    }
    String data = layout.dir(OutputLayout.Kind.DATA);
    return new Input(spec, data.substring(0, data.length() - 1), true);
  }

  /**
   * The input files of {@code spec}, resolved first ({@link #resolve}): an output folder of ours gives
   * the files of its {@code data/}.
   *
   * @param spec a file, a directory or a glob
   * @param datasetName the dataset name for every file, or null for the default (the folder's name
   *     for a directory, the parent folder's name for a glob, the file's base name for a file)
   */
  public static List<InputFile> expand(String spec, String datasetName) throws InputException {
    return expand(resolve(spec), datasetName);
  }

  /**
   * The input files of a resolved input: those of {@link Input#read}, named relative to it (so an
   * output folder's records name {@code part-00000.jsonl}, as with {@code --in OUT/data}).
   *
   * @param datasetName as for {@link #expand(String, String)}
   */
  public static List<InputFile> expand(Input input, String datasetName) throws InputException {
    String spec = input.read();
    try {
      // an earlier output of ours, or a folder of one, is read only when its run finished (issue 21)
      OutputLayout.requireComplete(spec);
    } catch (OutputLayout.IncompleteException e) {
      throw new InputException(e.getMessage());
    } catch (IOException e) {
      throw new InputException("cannot check input " + spec + ": " + e.getMessage());
    }
    File local = new File(spec.startsWith("file://") ? spec.substring("file://".length()) : spec);
    boolean hasScheme = spec.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*") && !spec.startsWith("file://");
    // an existing file whose name contains glob characters is that file, not a pattern
    boolean glob = !(!hasScheme && local.exists()) && (spec.contains("*") || spec.contains("?") || spec.contains("["));
    List<String> paths = new ArrayList<>();
    String root;
    String defaultName;
    if (!glob && !hasScheme) {
      if (!local.exists()) {
        throw new InputException("input path does not exist: " + spec);
      }
      if (local.isDirectory()) {
        root = local.toPath().toAbsolutePath().normalize().toString();
        defaultName = local.toPath().toAbsolutePath().normalize().getFileName().toString();
        for (MatchResult.Metadata m : match(root + "/**")) {
          String p = m.resourceId().toString();
          if (isInputFile(p)) {
            paths.add(p);
          }
        }
        if (paths.isEmpty()) {
          throw new InputException(NO_INPUT_FILES + ": " + spec);
        }
      } else {
        if (!local.canRead()) {
          throw new InputException("input file is not readable: " + spec);
        }
        root = null;
        paths.add(local.toPath().toAbsolutePath().normalize().toString());
        defaultName = baseName(local.getName());
      }
    } else {
      List<MatchResult.Metadata> found = match(spec);
      if (!glob && (found.size() == 1 && isFolder(found.get(0), spec) || found.isEmpty() && isPrefix(spec))) {
        // a folder on another file system (hdfs://nn/out/data): its JSON files at any depth, as for a
        // local folder (issue 23)
        root = spec.endsWith("/") ? spec.substring(0, spec.length() - 1) : spec;
        defaultName = fileName(root);
        try {
          for (org.apache.beam.sdk.io.fs.ResourceId r : io.instructflow.pipelines.runtime.Storage.filesUnder(root + "/")) {
            if (isInputFile(r.toString())) {
              paths.add(r.toString());
            }
          }
        } catch (IOException e) {
          throw new InputException("cannot list input " + spec + ": " + e.getMessage());
        }
        if (paths.isEmpty()) {
          throw new InputException(NO_INPUT_FILES + ": " + spec);
        }
      } else {
        root = null;
        // one file named outright: its base name, as for a local file
        defaultName = !glob && found.size() == 1 ? baseName(fileName(found.get(0).resourceId().toString())) : null;
        for (MatchResult.Metadata m : found) {
          if (!m.resourceId().isDirectory()) {
            paths.add(m.resourceId().toString());
          }
        }
        if (paths.isEmpty()) {
          throw new InputException("no input file matches: " + spec);
        }
      }
      // a glob may reach into several outputs (OUT/*/data/*.jsonl): each must be complete
      java.util.Set<String> folders = new java.util.TreeSet<>();
      for (String p : paths) {
        folders.add(p.substring(0, Math.max(0, p.lastIndexOf('/'))));
      }
      for (String f : folders) {
        try {
          OutputLayout.requireComplete(f);
        } catch (IOException e) {
          throw new InputException(e.getMessage());
        }
      }
    }
    paths.sort(Comparator.naturalOrder());
    for (String p : paths) {
      File f = new File(p);
      if (!hasScheme && f.isFile() && !f.canRead()) {
        throw new InputException("input file is not readable: " + p);
      }
    }
    List<InputFile> out = new ArrayList<>(paths.size());
    for (int i = 0; i < paths.size(); i++) {
      String p = paths.get(i);
      String name = root != null && p.startsWith(root + "/") ? p.substring(root.length() + 1) : fileName(p);
      String dataset = datasetName != null ? datasetName : defaultName != null ? defaultName : parentName(p);
      out.add(new InputFile(i, p, name, dataset, hubSplit(p)));
    }
    return out;
  }

  /**
   * The input file that shard {@code index} of {@code output}'s {@code data/} will be once published, as
   * {@link #expand} lists it when that output is read as {@code --in}: path, name relative to
   * {@code data/}, dataset name ({@code datasetName}, else {@code data}) and split. A reader in the same
   * pipeline ({@link HandOff}) names records and rejects with it before the shard exists.
   */
  public static InputFile publishedShard(OutputLayout output, int index, String datasetName) {
    String data = output.dir(OutputLayout.Kind.DATA);
    String dir = data.substring(0, data.length() - 1);
    boolean hasScheme = dir.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*") && !dir.startsWith("file://");
    if (!hasScheme) {
      dir = new File(dir.startsWith("file://") ? dir.substring("file://".length()) : dir).toPath().toAbsolutePath()
          .normalize().toString();
    }
    String name = OutputLayout.shardName(index);
    String path = dir + "/" + name;
    return new InputFile(index, path, name, datasetName != null ? datasetName : fileName(dir), hubSplit(path));
  }

  private static List<MatchResult.Metadata> match(String spec) throws InputException {
    try {
      MatchResult r = FileSystems.match(spec, EmptyMatchTreatment.ALLOW);
      if (r.status() != MatchResult.Status.OK) {
        throw new InputException("cannot list input " + spec + ": " + r.status());
      }
      return r.metadata();
    } catch (IOException e) {
      throw new InputException("cannot list input " + spec + ": " + e.getMessage());
    }
  }

  /** Whether a matched path is a folder: Hadoop's matches name one without a trailing '/'. */
  private static boolean isFolder(MatchResult.Metadata m, String spec) throws InputException {
    if (m.resourceId().isDirectory()) {
      return true;
    }
    try {
      return m.sizeBytes() == 0 && io.instructflow.pipelines.runtime.Storage.hasEntries(spec);
    } catch (IOException e) {
      throw new InputException("cannot list input " + spec + ": " + e.getMessage());
    }
  }

  /** Whether {@code spec} names a folder on an object store: no object of that name, but objects under {@code spec/}. */
  private static boolean isPrefix(String spec) throws InputException {
    if (!io.instructflow.pipelines.runtime.Storage.isObjectStore(spec)) {
      return false;
    }
    try {
      return io.instructflow.pipelines.runtime.Storage.hasEntries(spec);
    } catch (IOException e) {
      throw new InputException("cannot list input " + spec + ": " + e.getMessage());
    }
  }

  private static boolean isInputFile(String p) {
    String l = io.instructflow.schemas.io.RecordStreamParser.withoutCompression(p.toLowerCase(Locale.ROOT));
    return l.endsWith(".json") || l.endsWith(".jsonl") || l.endsWith(".ndjson") || p.toLowerCase(Locale.ROOT).endsWith(".parquet");
  }

  /**
   * The split of a file in the Hugging Face Hub layout ({@code .../data/train-00000-of-00002.parquet}
   * is {@code train}), or null: the file must sit directly in a folder named {@code data} and be named
   * {@code <split>-<shard>-of-<count>}, so that our own outputs ({@code data/part-00000.jsonl}) and
   * ordinary names are never taken for splits.
   */
  static String hubSplit(String path) {
    String file = fileName(path);
    String parent = fileName(path.substring(0, Math.max(0, path.lastIndexOf('/'))));
    if (!parent.equals("data")) {
      return null;
    }
    java.util.regex.Matcher m = HUB_FILE.matcher(file);
    return m.matches() ? m.group(1) : null;
  }

  private static String fileName(String p) {
    int slash = p.lastIndexOf('/');
    return slash >= 0 ? p.substring(slash + 1) : p;
  }

  private static String baseName(String fileName) {
    int dot = fileName.indexOf('.');
    return dot > 0 ? fileName.substring(0, dot) : fileName;
  }

  private static String parentName(String p) {
    String parent = p.substring(0, Math.max(0, p.lastIndexOf('/')));
    String n = fileName(parent);
    return n.isEmpty() ? baseName(fileName(p)) : n;
  }
}
