package io.instructflow.pipelines.cli;

import picocli.CommandLine.Option;

/**
 * How a command's main model call samples: token limit, temperature and top-p; shared by generate, evol
 * and self-instruct (issue 20). Each command makes its instance with its own defaults, shown by
 * {@code ${DEFAULT-VALUE}}; a command whose defaults depend on another option (self-instruct's preset)
 * leaves them null, meaning "the preset's", and says so with the resource-bundle keys
 * {@code max-tokens.default}, {@code temperature.default} and {@code top-p.default}. The bundle key
 * {@code sampling.what} names what is sampled (see {@link CommandHelp}). The options other commands lack
 * (top-k, penalties, stop strings) stay with the commands that have them.
 */
final class SamplingOptions {
  @Option(names = "--max-tokens", paramLabel = "N",
      description = "Tokens per ${bundle:sampling.what:-completion}, at most. "
          + "Default: ${bundle:max-tokens.default:-${DEFAULT-VALUE}}.")
  Integer maxTokens;

  @Option(names = "--temperature", paramLabel = "T",
      description = "Sampling temperature of each ${bundle:sampling.what:-completion}; 0 is greedy decoding (the same "
          + "text on every run). Default: ${bundle:temperature.default:-${DEFAULT-VALUE}}.")
  Double temperature;

  @Option(names = "--top-p", paramLabel = "P",
      description = "Nucleus sampling of each ${bundle:sampling.what:-completion} (1 turns it off). "
          + "Default: ${bundle:top-p.default:-${DEFAULT-VALUE}}.")
  Double topP;

  /** For picocli; a command makes its instance with {@link #defaults} or {@link #fromPreset}. */
  SamplingOptions() {}

  private SamplingOptions(Integer maxTokens, Double temperature, Double topP) {
    this.maxTokens = maxTokens;
    this.temperature = temperature;
    this.topP = topP;
  }

  /** Options whose defaults are these values. */
  static SamplingOptions defaults(int maxTokens, double temperature, double topP) {
    return new SamplingOptions(maxTokens, temperature, topP);
  }

  /** Options that default to a preset's values: each is null unless given. */
  static SamplingOptions fromPreset() {
    return new SamplingOptions(null, null, null);
  }

  /** The token limit given, else {@code preset}. */
  int maxTokens(int preset) {
    return maxTokens != null ? maxTokens : preset;
  }

  /** The temperature given, else {@code preset}. */
  double temperature(double preset) {
    return temperature != null ? temperature : preset;
  }

  /** The top-p given, else {@code preset}. */
  double topP(double preset) {
    return topP != null ? topP : preset;
  }
}
