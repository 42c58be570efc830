package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.pipelines.ChatmlModel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Issue 20, item 4: one place turns bad arguments into usage errors. Whatever finds them (picocli, a
 * command configuring its pipeline, the pipeline before it starts), the exit status is 2 and standard
 * error holds one line that names the option, and nothing is written.
 */
class UsageErrorsTest {
  @TempDir Path tmp;

  /** Runs the CLI expecting exit status 2 and returns standard error, checked to be one line naming {@code option}. */
  private String usage(String option, String... args) {
    String err = MainTest.cli(2, args)[1];
    List<String> lines = err.lines().toList();
    assertEquals(1, lines.size(), "one line:\n" + err);
    assertTrue(lines.get(0).startsWith("error: "), err);
    assertTrue(lines.get(0).contains(option), "names " + option + ": " + err);
    return lines.get(0);
  }

  private String[] with(String command, String... more) throws Exception {
    Path in = Files.writeString(tmp.resolve("in.jsonl"), "{\"instruction\":\"把这句话翻译成英文。\",\"output\":\"Translate this.\"}\n",
        StandardCharsets.UTF_8);
    List<String> a = new ArrayList<>(List.of(command, "--in", in.toString(), "--out", tmp.resolve("out").toString(),
        "--runner", "direct"));
    a.addAll(List.of(more));
    return a.toArray(String[]::new);
  }

  /** picocli's own findings: a value of the wrong type, an unknown option (with its guess), a missing one. */
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "generate | --seed        | --seed,abc,--model,m.gguf",
      "evol     | --temperature | --temperature,warm,--model,m.gguf",
      "filter   | --batch-size  | --batch-size,many,--preset,alpaca",
      "score    | --max-tokens  | --max-tokens,5,--model,m.gguf"})
  void picocliFindingsAreOneLineNamingTheOption(String command, String option, String args) throws Exception {
    String line = usage(option, with(command, args.split(",")));
    assertTrue(line.contains("instructflow " + command + " --help lists the options"), line);
    assertFalse(Files.exists(tmp.resolve("out")), "nothing written");
  }

  @Test
  void anUnknownOptionGetsPicoclisGuess() throws Exception {
    String line = usage("--sed", with("generate", "--sed", "1", "--model", "m.gguf"));
    assertTrue(line.contains("did you mean --seed"), line);
  }

  @Test
  void badArgumentsFoundWhileConfiguringAreUsageErrors() throws Exception {
    usage("--model", with("generate"));
    usage("--batch-size", with("generate", "--model", "m.gguf", "--batch-size", "0"));
    // the shared --templates check, with a Chinese folder name in the message as given
    String line = usage("--templates", with("evol", "--model", "m.gguf", "--templates", tmp.resolve("模板").toString()));
    assertTrue(line.contains("no such folder: " + tmp.resolve("模板")), line);
    usage("--templates", with("score", "--model", "m.gguf", "--templates", tmp.resolve("none").toString()));
    usage("--preset", with("filter", "--preset", "alpaca", "--config", "x.json"));
    // a missing benchmark file, unless --missing-benchmarks skip; the two benchmark options' values
    Path bench = tmp.resolve("评测.jsonl");
    line = usage("--benchmarks", with("filter", "--preset", "alpaca", "--benchmarks", bench.toString()));
    assertTrue(line.contains("no such file: " + bench), line);
    usage("--missing-benchmarks", with("filter", "--preset", "alpaca", "--missing-benchmarks", "ignore"));
    usage("--benchmarks-hash", with("filter", "--preset", "alpaca", "--benchmarks-hash", "name"));
    usage("--seeds", "self-instruct", "--seeds", tmp.resolve("none.jsonl").toString(), "--target", "1", "--out",
        tmp.resolve("out").toString(), "--model", "m.gguf");
    // pairs' model strings go through ModelSpec.parse; the option is named in front of its message
    line = usage("--judge", "pairs", "--in", tmp.toString(), "--out", tmp.resolve("out").toString(), "--judge",
        "@http://127.0.0.1:9/v1");
    assertTrue(line.contains("needs the served model's name"), line);
    usage("--candidates", "pairs", "--in", tmp.toString(), "--out", tmp.resolve("out").toString(), "--candidates",
        "m@ftp://host/v1:n=2");
    assertFalse(Files.exists(tmp.resolve("out")), "nothing written");
  }

  /** What a pipeline finds as it starts, before anything runs: a missing model file, a token limit over the context. */
  @Test
  void problemsFoundBeforeTheRunAreUsageErrors() throws Exception {
    usage(tmp.resolve("missing.gguf").toString(),
        with("generate", "--model", tmp.resolve("missing.gguf").toString()));
    // evol's reference limits (2,048 tokens) leave no room for a prompt in the toy model's context
    String line = usage("--max-tokens", with("evol", "--model", ChatmlModel.stories().toString()));
    assertTrue(line.contains("--ctx-per-slot"), line);
    assertFalse(Files.exists(tmp.resolve("out").resolve("epochs")), "nothing ran");
  }

  /**
   * A setting a step finds unusable only once the pipeline runs (a blend's tag minimum the data cannot meet)
   * comes back wrapped in the runner's exceptions; the command line still reports it as a usage error, its
   * message alone.
   */
  @Test
  void aSettingsErrorThrownInsideThePipelineIsAUsageError() {
    io.instructflow.pipelines.runtime.SettingsException inner =
        new io.instructflow.pipelines.runtime.SettingsException("tagQuotas.difficulty.难: a minimum of 5 rows, but only 2");
    Throwable wrapped = new RuntimeException("job failed",
        new org.apache.beam.sdk.Pipeline.PipelineExecutionException(new IllegalStateException("task failed", inner)));
    assertEquals(inner, Main.settingInside(wrapped));
    assertEquals(null, Main.settingInside(new RuntimeException("job failed", new IllegalStateException("no"))));
  }
}
