package io.instructflow.pipelines.cli;

import java.util.ListResourceBundle;
import java.util.Map;
import java.util.ResourceBundle;
import picocli.CommandLine;

/**
 * What the shared option classes say differently per command (issue 20). An option class's help text is
 * one text for every command; where a command needs its own words (which templates it has, what its
 * sampling options sample, defaults that depend on a preset) the text reads a key of the command's
 * resource bundle, {@code ${bundle:KEY:-fallback}}, and {@link #attach} gives each command its bundle
 * below as an object. (Not by name through {@code @Command(resourceBundle = ...)}: picocli then looks the
 * bundle up through its own class loader, which under {@code spark-submit} with the dependencies on
 * Spark's class path cannot see this jar's classes, and every command failed to start.) Keys: {@code templates.example} ({@link TemplatesOptions});
 * {@code sampling.what}, {@code max-tokens.default}, {@code temperature.default} and
 * {@code top-p.default} ({@link SamplingOptions}); {@code batch-size.model} ({@link BatchOptions}).
 */
public final class CommandHelp {
  private CommandHelp() {}

  /** Gives each command of {@code root} that words its shared options its own way its bundle. */
  static void attach(CommandLine root) {
    Map<String, ResourceBundle> bundles = Map.of("evol", new Evol(), "self-instruct", new SelfInstruct(),
        "filter", new Filter(), "score", new Score(), "pairs", new Pairs(), "tag", new Tag());
    bundles.forEach((name, bundle) -> root.getSubcommands().get(name).setResourceBundle(bundle));
  }

  /** {@code evol}: its sampling options are the rewrites', WizardLM's reference values. */
  public static final class Evol extends ListResourceBundle {
    @Override
    protected Object[][] getContents() {
      return new Object[][] {
        {"templates.example", ", e.g. DIR/evol/deepen@1.txt"},
        {"sampling.what", "rewrite"},
        {"max-tokens.default", "2048 (the reference's)"},
        {"temperature.default", "1.0 (the reference's)"},
        {"top-p.default", "0.95 (the reference's)"},
      };
    }
  }

  /** {@code self-instruct}: its sampling options are the instruction generation's, the preset's by default. */
  public static final class SelfInstruct extends ListResourceBundle {
    @Override
    protected Object[][] getContents() {
      return new Object[][] {
        {"templates.example", ", e.g. DIR/self-instruct/instructions@1.txt (every built-in template is our own "
            + "wording of the published prompt)"},
        {"sampling.what", "instruction-generation response"},
        {"max-tokens.default", "1024 (alpaca 3072)"},
        {"temperature.default", "0.7 (alpaca 1.0)"},
        {"top-p.default", "0.5 (alpaca 1.0)"},
      };
    }
  }

  /** {@code filter}: its model is the llm_judge's; the llm_judge rubrics. */
  public static final class Filter extends ListResourceBundle {
    @Override
    protected Object[][] getContents() {
      return new Object[][] {
        {"batch-size.model", "the llm_judge model"},
        {"templates.example", ", e.g. DIR/judge/alpagasus-accuracy@1.txt (the anchored llm_judge rubric), "
            + "DIR/judge/alpagasus-paper@1.txt and DIR/judge/alpagasus-paper-system@1.txt (the paper's)"},
      };
    }
  }

  /** {@code score}: the Deita-style rubrics. */
  public static final class Score extends ListResourceBundle {
    @Override
    protected Object[][] getContents() {
      return new Object[][] {
        {"templates.example", ", e.g. DIR/score/deita-complexity@1.txt ({{instruction}}) and "
            + "DIR/score/deita-quality@1.txt ({{instruction}}, {{output}})"},
      };
    }
  }

  /** {@code pairs}: the judge's prompts. */
  public static final class Pairs extends ListResourceBundle {
    @Override
    protected Object[][] getContents() {
      return new Object[][] {
        {"templates.example", ", e.g. DIR/judge/ultrafeedback-aspects@1.txt, DIR/judge/ultrafeedback-honesty@1.txt, "
            + "DIR/judge/pairwise@1.txt"},
      };
    }
  }

  /** {@code tag}: the tag rubrics. */
  public static final class Tag extends ListResourceBundle {
    @Override
    protected Object[][] getContents() {
      return new Object[][] {
        {"templates.example", ", e.g. DIR/tag/task-category@1.txt, DIR/tag/difficulty@1.txt, DIR/tag/input-quality@1.txt "
            + "(each with {{instruction}})"},
      };
    }
  }
}
