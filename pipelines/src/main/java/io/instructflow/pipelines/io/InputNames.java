package io.instructflow.pipelines.io;

import java.io.Serializable;
import java.util.List;

/**
 * The input file a record was read from, by its source index ({@link OrderKey#source()}): what a reject
 * made after reading (a failed model request, say) names as its source. A command that lists its input
 * files names them from that list; in a fused run, where the records come from shards not yet published,
 * the shard paths are known by rule ({@link InputFiles#publishedShard}).
 */
public sealed interface InputNames extends Serializable permits InputNames.Listed, InputNames.Shards {
  /** The path of input {@code source}, or the empty string when there is none. */
  String name(int source);

  /** Names from the listed input files, in reading order. */
  static InputNames of(List<String> paths) {
    return new Listed(List.copyOf(paths));
  }

  /** Names of the shards output {@code outputRoot} publishes into its {@code data/}, read as dataset {@code datasetName}. */
  static InputNames shardsOf(String outputRoot, String datasetName) {
    return new Shards(outputRoot, datasetName);
  }

  /** @param paths the input files in reading order */
  record Listed(List<String> paths) implements InputNames {
    @Override
    public String name(int source) {
      return source >= 0 && source < paths.size() ? paths.get(source) : "";
    }
  }

  /**
   * @param outputRoot the output whose shards are read
   * @param datasetName the dataset name they are read as (null: the default)
   */
  record Shards(String outputRoot, String datasetName) implements InputNames {
    @Override
    public String name(int source) {
      return source < 0 ? "" : InputFiles.publishedShard(new OutputLayout(outputRoot), source, datasetName).path();
    }
  }
}
