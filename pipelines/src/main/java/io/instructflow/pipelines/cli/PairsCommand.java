package io.instructflow.pipelines.cli;

import io.instructflow.generators.pairs.Binarize;
import io.instructflow.generators.pairs.CandidateSpec;
import io.instructflow.generators.pairs.PairJudge;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.pairs.PairsPipeline;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow pairs}: preference pairs from candidates, ratings and a binarization strategy. */
@Command(
    name = "pairs",
    mixinStandardHelpOptions = true,
    description = {
      "Build DPO preference pairs. Input rows: UltraFeedback rows (instruction, completions[] with annotations), "
          + "{prompt, candidates[{text, score, model}]}, responses ({instruction, response|output}; rows with the same "
          + "prompt are one prompt, the model is the row's or the file's name), or prompts alone.",
      "Candidates may be added with --candidates, judged with --judge (--judge-protocol: per-candidate rates each "
          + "candidate on the four UltraFeedback aspects, 1-5, the score being their mean; ultrafeedback asks one prompt per "
          + "aspect with all candidates shown together in a seeded shuffled order; pairwise compares every pair in both "
          + "orders, the score being the win rate), then paired by --strategy. Writes OUT/data/ (prompt/chosen/rejected "
          + "for TRL, with messages, scores, margin and provenance), OUT/filtered/, OUT/rejects/, OUT/run-summary.json."
    })
public final class PairsCommand extends PipelineCommand<PairsPipeline.Config> {
  @Mixin RunOptions run;

  @Option(names = "--in", required = true, paramLabel = "PATH", description = "Input file, folder or glob (JSONL or JSON arrays).")
  String in;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder.")
  String out;

  @Option(names = "--candidates", paramLabel = "SPEC",
      description = "Candidates to generate: MODEL[:t=T][:n=N][:top_p=P][:max=TOKENS],... where MODEL is a GGUF file or "
          + "NAME@URL (an OpenAI-compatible API). Defaults t=0.7, n=1, top_p=0.95, max=256.")
  String candidates;

  @Option(names = "--judge", paramLabel = "GGUF|NAME@URL",
      description = "Rate candidates that have no score or ratings with this model. Without it, the input's ratings are used.")
  String judge;

  @Option(names = "--judge-temperature", defaultValue = "0", paramLabel = "T",
      description = "The judge's sampling temperature; 0 (greedy) rates reproducibly whatever the seed. Default: ${DEFAULT-VALUE}.")
  double judgeTemperature;

  @Option(names = "--judge-protocol", defaultValue = "per-candidate", paramLabel = "NAME",
      description = "per-candidate: one request per candidate rating the four aspects (cheap); ultrafeedback: "
          + "UltraFeedback's protocol, one request per aspect showing all of a prompt's unrated candidates in a seeded "
          + "shuffled order, a rating and a rationale for each; pairwise: every pair of candidates judged in both orders "
          + "(n(n-1) requests per prompt), a pair won only when both orders agree, else a tie; the score is the win rate "
          + "and the rejected must have lost to the chosen in both orders. Default: ${DEFAULT-VALUE}.")
  String judgeProtocol;

  @Option(names = "--prompt-format", defaultValue = "auto", paramLabel = "auto|chat|text",
      description = "How the candidates' models and the judge get their prompts. auto: chat requests (the model's own "
          + "chat template) for endpoints and for GGUF files with a chat template, raw text for GGUF files without one. "
          + "Default: ${DEFAULT-VALUE}.")
  String promptFormat;

  @Option(names = "--strategy", defaultValue = "best-vs-random", paramLabel = "NAME",
      description = "best-vs-random, best-vs-worst or all-pairs. Default: ${DEFAULT-VALUE}.")
  String strategy;

  @Option(names = "--ties", defaultValue = "keep-top", paramLabel = "keep-top|drop",
      description = "When several candidates share the top score. keep-top: chosen is one of them (a seeded pick), "
          + "rejected one strictly lower, as Zephyr / Argilla binarized UltraFeedback; drop: the prompt is dropped "
          + "(pairs.tied_top). Default: ${DEFAULT-VALUE}.")
  String ties;

  @Option(names = "--min-margin", defaultValue = "0", paramLabel = "M",
      description = "Smallest score margin of a pair. Default: ${DEFAULT-VALUE}.")
  double minMargin;

  @Mixin SeedOptions seed;

  @Option(names = "--license", defaultValue = "unknown", paramLabel = "SPDX", description = "License of the input.")
  String license;

  @Mixin ParallelOptions slots;

  @Option(names = "--ctx-per-slot", defaultValue = "0", paramLabel = "N",
      description = "Context tokens per sequence of the embedded engine (prompt + completion); 0: the model's training "
          + "context, at most 2048. The ultrafeedback and pairwise judge prompts hold several candidates: give them room. "
          + "Default: ${DEFAULT-VALUE}.")
  int contextPerSlot;

  @Option(names = "--api-key-env", paramLabel = "VAR", description = "Environment variable with the endpoints' API key.")
  String apiKeyEnv;

  @Mixin CacheOptions cacheOptions;

  @Mixin TemplatesOptions templates;

  @Option(names = "--shard-size", defaultValue = "100000", paramLabel = "N", description = "Pairs per shard.")
  long shardSize;

  @Override
  PairsPipeline.Config configure() throws java.io.IOException {
    String cache = cacheOptions.folder(out);
    List<CandidateSpec> specs = candidates == null ? List.of() : CandidateSpec.parseList(candidates);
    List<ModelSpec> gens = new ArrayList<>();
    for (CandidateSpec s : specs) {
      gens.add(spec("--candidates", s.model(), cache));
    }
    Path overrides = templates.folder();
    PairJudge.Protocol protocol = PairJudge.Protocol.fromCode(judgeProtocol);
    return new PairsPipeline.Config(in, out, license, specs, gens, judge == null ? null : spec("--judge", judge, cache),
        protocol, judge == null ? java.util.Map.of() : PairJudge.templates(protocol, overrides), judgeTemperature,
        PromptFormat.parse(promptFormat), Binarize.Strategy.fromCode(strategy), Binarize.Ties.fromCode(ties), minMargin,
        seed.seed, shardSize, run.toRunner());
  }

  /** A GGUF file or NAME@URL ({@link ModelSpec#parse}); a bad one is named with its option. */
  private ModelSpec spec(String option, String model, String cache) {
    try {
      return ModelSpec.parse(model, apiKeyEnv, slots.parallel, contextPerSlot, cache);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(option + ": " + e.getMessage(), e);
    }
  }

  @Override
  RunSummary run(PairsPipeline.Config c) throws Exception {
    return PairsPipeline.run(c, System.out);
  }
}
