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
}
