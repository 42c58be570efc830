package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.io.OutputLayout;
import java.nio.file.Paths;
import picocli.CommandLine.Option;

/**
 * Where a model-calling command keeps its response cache; shared by {@link ModelOptions} and
 * {@code pairs}, whose models are named otherwise (issue 20).
 */
final class CacheOptions {
  @Option(names = "--cache-dir", paramLabel = "DIR", description = "Response cache folder. Default: OUT/cache.")
  String cacheDir;

  @Option(names = "--no-cache", description = "Neither read nor write the response cache.")
  boolean noCache;

  /**
   * The cache folder as an absolute path: {@code --cache-dir}, else {@code out}'s {@code cache/}; null with
   * {@code --no-cache}. The cache is local files, so either folder must be local: an object-store path
   * would become a local folder named after its scheme.
   *
   * @throws IllegalArgumentException when both options are given, or the folder is not local
   */
  String folder(String out) {
    if (noCache && cacheDir != null) {
      throw new IllegalArgumentException("--no-cache and --cache-dir contradict each other");
    }
    String dir = OutputLayout.requireLocal(cacheDir, "--cache-dir");
    String cache = noCache ? null : dir != null ? dir
        : Paths.get(OutputLayout.requireLocal(out, "With the response cache under it (give --cache-dir DIR or --no-cache), "
            + "--out"), "cache").toString();
    return cache == null ? null : Paths.get(cache).toAbsolutePath().toString();
  }
}
