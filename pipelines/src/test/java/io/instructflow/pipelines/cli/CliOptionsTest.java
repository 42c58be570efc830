package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Issue 20, item 4: the option mixins change no option. Every command's options (names, type, arity,
 * required, hidden, label, and the value each holds when not given) are compared with a snapshot taken
 * from the commands before the mixins ({@code -Dgolden.update=true} rewrites it; review the diff).
 */
class CliOptionsTest {
  private static final Path SNAPSHOT = Paths.get("src/test/resources/CliOptionsTest/options.txt");

  /** One line per option of every command, sorted within a command; values are those after parsing no option. */
  static List<String> describe() {
    List<String> out = new ArrayList<>();
    describe(new CommandLine(new Main()), out);
    return out;
  }

  private static void describe(CommandLine cl, List<String> out) {
    CommandSpec spec = cl.getCommandSpec();
    List<String> args = new ArrayList<>();
    for (OptionSpec o : spec.options()) {
      if (o.required()) {
        args.add(o.longestName());
        args.add("1");
      }
    }
    for (CommandLine.Model.PositionalParamSpec p : spec.positionalParameters()) {
      for (int i = 0; i < p.arity().min(); i++) {
        args.add("1");
      }
    }
    // a fresh command, so that the values are the defaults of this parse alone
    CommandLine fresh = spec.userObject() instanceof Main ? cl : new CommandLine(spec.userObject().getClass());
    CommandSpec parsed = fresh.getCommandSpec();
    if (!(spec.userObject() instanceof Main) && !(spec.userObject() instanceof CommandLine.HelpCommand)) {
      fresh.parseArgs(args.toArray(String[]::new));
    }
    List<String> lines = new ArrayList<>();
    for (OptionSpec o : parsed.options()) {
      Object v = o.getValue();
      String type = o.type().isPrimitive() ? box(o.type()).getSimpleName() : o.type().getSimpleName();
      lines.add(String.format("%s %s names=%s type=%s arity=%s required=%s hidden=%s label=%s split=%s value=%s",
          spec.qualifiedName(), o.longestName(), String.join("|", o.names()), type, o.arity(), o.required(),
          o.hidden(), o.paramLabel(), o.splitRegex(), o.required() ? "(given)" : render(v)));
    }
    lines.sort(null);
    out.addAll(lines);
    for (Map.Entry<String, CommandLine> sub : cl.getSubcommands().entrySet()) {
      if (sub.getKey().equals(sub.getValue().getCommandName())) {
        describe(sub.getValue(), out);
      }
    }
  }

  /** A value as text; arrays by their elements. */
  private static String render(Object v) {
    return v != null && v.getClass().isArray() ? java.util.Arrays.deepToString(new Object[] {v}) : String.valueOf(v);
  }

  private static Class<?> box(Class<?> c) {
    return java.lang.invoke.MethodType.methodType(c).wrap().returnType();
  }

  @Test
  void everyCommandKeepsItsOptionsAndDefaults() throws Exception {
    List<String> now = describe();
    if (Boolean.getBoolean("golden.update")) {
      Files.createDirectories(SNAPSHOT.getParent());
      Files.write(SNAPSHOT, now, StandardCharsets.UTF_8);
    }
    List<String> before = Files.readAllLines(SNAPSHOT, StandardCharsets.UTF_8);
    assertEquals(String.join("\n", before), String.join("\n", now));
  }

  /** The class that declares an option's field: a mixin's options are declared by the mixin class. */
  private static Class<?> owner(OptionSpec o) {
    return ((java.lang.reflect.Field) o.userObject()).getDeclaringClass();
  }

  /** Each model command takes these options from the shared classes, none from a declaration of its own. */
  @ParameterizedTest
  @ValueSource(strings = {"generate", "evol", "self-instruct", "filter", "score", "tag", "pairs"})
  void theModelCommandsTakeTheSharedOptions(String command) {
    CommandSpec spec = new CommandLine(new Main()).getSubcommands().get(command).getCommandSpec();
    Map<String, Class<?>> shared = Map.of("--seed", SeedOptions.class, "--batch-size", BatchOptions.class,
        "--templates", TemplatesOptions.class, "--max-tokens", SamplingOptions.class, "--temperature",
        SamplingOptions.class, "--top-p", SamplingOptions.class, "--parallel", ParallelOptions.class);
    int found = 0;
    for (Map.Entry<String, Class<?>> e : shared.entrySet()) {
      OptionSpec o = spec.findOption(e.getKey());
      if (o != null) {
        assertEquals(e.getValue(), owner(o), command + " " + e.getKey());
        found++;
      }
    }
    assertTrue(found >= 2, command + " has " + found + " of the shared options");
  }

  /** Where a command's defaults differ (or depend on a preset), its help says so in its own words. */
  @Test
  void theHelpShowsEachCommandsOwnDefaults() {
    String generate = MainTest.cli(0, "generate", "--help")[0];
    assertTrue(generate.contains("Tokens per completion, at most. Default: 256."), generate);
    String evol = MainTest.cli(0, "evol", "--help")[0].replaceAll("\\s+", " ");
    assertTrue(evol.contains("--max-tokens=N Tokens per rewrite, at most. Default: 2048 (the reference's)."), evol);
    assertTrue(evol.contains("Sampling temperature of each rewrite; 0 is greedy decoding (the same text on every run). "
        + "Default: 1.0 (the reference's)."), evol);
    assertTrue(evol.contains("e.g. DIR/evol/deepen@1.txt; docs/algorithms.md lists the ids."), evol);
    String si = MainTest.cli(0, "self-instruct", "--help")[0].replaceAll("\\s+", " ");
    assertTrue(si.contains("Tokens per instruction-generation response, at most. Default: 1024 (alpaca 3072)."), si);
    assertTrue(si.contains("Default: 0.5 (alpaca 1.0)."), si);
    assertFalse(si.contains("null"), si);
    String filter = MainTest.cli(0, "filter", "--help")[0].replaceAll("\\s+", " ");
    assertTrue(filter.contains("Requests sent to the llm_judge model in one call"), filter);
    for (String c : new String[] {"generate", "evol", "self-instruct", "filter", "score", "pairs"}) {
      String help = MainTest.cli(0, c, "--help")[0];
      assertFalse(help.contains("${"), c + ": every variable resolved\n" + help);
    }
  }

  /** A self-instruct option left out keeps the preset's value; one given replaces it. */
  @Test
  void selfInstructSamplingFallsBackToThePreset() {
    SelfInstructCommand alpaca = new SelfInstructCommand();
    new CommandLine(alpaca).parseArgs("--seeds", "s.jsonl", "--target", "1", "--out", "o", "--preset", "alpaca",
        "--top-p", "0.8");
    io.instructflow.inference.SamplingParams g = alpaca.settings().instructionParams();
    assertEquals(3072, g.maxTokens());
    assertEquals(1.0, g.temperature());
    assertEquals(0.8, g.topP());
  }
}
