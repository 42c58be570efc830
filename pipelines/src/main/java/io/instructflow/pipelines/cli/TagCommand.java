package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.generators.tag.RecordTagger;
import io.instructflow.pipelines.tag.TagPipeline;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow tag}: Magpie-style task category, difficulty and input quality of every record. */
@Command(
    name = "tag",
    mixinStandardHelpOptions = true,
    description = {
      "Tag every record's instruction with a judge model (issue 22): task_category (information_seeking, reasoning, "
          + "planning, editing, coding, math, role_playing, data_analysis, creative_writing, advice_seeking, "
          + "brainstorming, others), difficulty (very_easy .. very_hard), input_quality (very_poor .. excellent).",
      "Greedy, and on the embedded engine held to the label set by a GBNF grammar. Labels go into "
          + "metadata.tags.<tag> with the model and template hash; a blend spec's tagQuotas caps rows per label.",
      "Writes OUT/data/ (tagged), OUT/rejects/ (no instruction, too long for the context, no chat template, "
          + "a failed request or an endpoint reply that is not a label), OUT/run-summary.json. Labels are cached "
          + "(default OUT/cache/)."
    })
public final class TagCommand extends PipelineCommand<TagPipeline.Config> implements Fusible<TagPipeline.Config> {
  @Mixin AnnotationOptions options;

  @Option(names = "--tags", defaultValue = "task_category,difficulty,input_quality", split = ",", paramLabel = "LIST",
      description = "Which tags: task_category, difficulty, input_quality (comma-separated). Default: ${DEFAULT-VALUE}.")
  List<String> tags = new ArrayList<>();

  @Option(names = "--prompt-format", defaultValue = "auto", paramLabel = "auto|chat|text",
      description = "chat: the model's chat template; text: plain text; auto: chat for a GGUF file with a chat "
          + "template, else text. Default: ${DEFAULT-VALUE}.")
  String promptFormat;

  @Override
  TagPipeline.Config configure() throws java.io.IOException {
    Path overrides = options.templates();
    List<RecordTagger.Tag> chosen = new ArrayList<>();
    for (String t : tags) {
      chosen.add(RecordTagger.Tag.parse(t));
    }
    return new TagPipeline.Config(options.settings(promptFormat), RecordTagger.Settings.of(chosen, false, false, overrides));
  }


  @Override
  public ReadOptions read(TagPipeline.Config c) {
    return c.common().read();
  }


  @Override
  public PipelineRun.Part plan(TagPipeline.Config c,
      PipelineRun.Fusion fusion) throws Exception {
    return TagPipeline.plan(c, System.out, fusion);
  }
}
