package io.instructflow.schemas.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.Schemas;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Golden tests: one folder per input shape under {@code src/test/resources/RecordStreamParserTest/},
 * holding {@code input.jsonl} or {@code input.json}, optional {@code options.properties}
 * ({@code maxRecordBytes}, {@code format}) and {@code expected.jsonl}: every event the parser emits, in
 * order, compared as canonical JSON. Regenerate with {@code -Dgolden.update=true} and review the diff.
 */
class RecordStreamParserTest {
  private static final Path ROOT = Paths.get("src/test/resources/RecordStreamParserTest");

  static Stream<String> cases() throws IOException {
    try (Stream<Path> s = Files.list(ROOT)) {
      return s.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList().stream();
    }
  }

  /** Parses a case's input and returns the events as JSON lines. */
  static List<String> events(Path dir) throws IOException {
    Path input = Files.exists(dir.resolve("input.json")) ? dir.resolve("input.json") : dir.resolve("input.jsonl");
    Properties opts = new Properties();
    if (Files.exists(dir.resolve("options.properties"))) {
      try (InputStream in = Files.newInputStream(dir.resolve("options.properties"))) {
        opts.load(in);
      }
    }
    int max = Integer.parseInt(opts.getProperty("maxRecordBytes", String.valueOf(1 << 20)));
    Optional<InputShape> format = Optional.ofNullable(opts.getProperty("format")).map(InputShape::fromCode);
    RecordStreamParser parser = new RecordStreamParser(
        new RecordConverter(dir.getFileName().toString(), "Apache-2.0"), format, max,
        "test/" + input.getFileName(), input.getFileName().toString());
    List<String> out = new ArrayList<>();
    try (InputStream in = Files.newInputStream(input)) {
      parser.parse(in, new RecordStreamParser.Sink() {
        @Override
        public void example(Example e, long position, int sub) {
          ObjectNode n = Json.mapper().createObjectNode();
          n.put("position", position).put("sub", sub).set("example", Json.tree(e));
          out.add(n.toString());
        }

        @Override
        public void reject(Reject r, long position) {
          ObjectNode n = Json.mapper().createObjectNode();
          n.put("position", position).set("reject", Json.tree(r));
          out.add(n.toString());
        }

        @Override
        public void blankLine(long line) {
          out.add(Json.mapper().createObjectNode().put("blank", line).toString());
        }
      });
    }
    return out;
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void matchesGolden(String name) throws IOException {
    Path dir = ROOT.resolve(name);
    List<String> actual = events(dir);
    Path expected = dir.resolve("expected.jsonl");
    if (Boolean.getBoolean("golden.update") || !Files.exists(expected)) {
      Files.write(expected, actual, StandardCharsets.UTF_8);
      assertTrue(Boolean.getBoolean("golden.update"), "wrote missing golden file " + expected + "; review and rerun");
    }
    List<String> want = Files.readAllLines(expected, StandardCharsets.UTF_8);
    assertEquals(want.size(), actual.size(), "number of events in " + name);
    for (int i = 0; i < want.size(); i++) {
      JsonNode w = Json.mapper().readTree(want.get(i));
      JsonNode a = Json.mapper().readTree(actual.get(i));
      assertEquals(w, a, name + " event " + i);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("cases")
  void everyEventValidatesAgainstItsSchema(String name) throws IOException {
    for (String line : events(ROOT.resolve(name))) {
      JsonNode n = Json.mapper().readTree(line);
      if (n.has("example")) {
        assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, n.get("example")), line);
      } else if (n.has("reject")) {
        assertEquals(List.of(), Schemas.errors(Schemas.Kind.REJECT, n.get("reject")), line);
      }
    }
  }
}
