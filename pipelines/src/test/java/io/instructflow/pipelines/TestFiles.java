package io.instructflow.pipelines;

import io.instructflow.pipelines.io.OutputLayout;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Helpers shared by the pipeline tests. */
public final class TestFiles {
  private TestFiles() {}

  /** The shared data folder ({@code ../shared/data}), which may be absent. */
  public static Path sharedData() {
    return Paths.get(System.getProperty("instructflow.shared", "../../shared")).resolve("data").normalize();
  }

  /**
   * A JSONL file mixing good records with one line of each kind of bad input. Good lines are 1, 4, 9,
   * 12 and 15 (line 13 is blank); every other line is bad.
   */
  public static Path mixedFile(Path dir) throws IOException {
    Path f = dir.resolve("mixed.jsonl");
    try (OutputStream out = Files.newOutputStream(f)) {
      line(out, "{\"instruction\": \"Good one\", \"input\": \"\", \"output\": \"a\"}");            // 1 good
      line(out, "{\"instruction\": \"broken\", ");                                             // 2 invalid_json
      line(out, "[\"array\"]");                                                                // 3 not_an_object
      line(out, "{\"instruction\": \"Good two\", \"output\": \"b\"}");                          // 4 good
      line(out, "{\"input\": \"x\", \"output\": \"y\"}");                                      // 5 missing_field
      line(out, "{\"instruction\": 7}");                                                       // 6 wrong_type
      line(out, "{\"instruction\": \"  \"}");                                                  // 7 empty_instruction
      out.write("{\"instruction\": \"bad \u00ff".getBytes(StandardCharsets.ISO_8859_1));       // 8 invalid_utf8
      out.write("\"}\n".getBytes(StandardCharsets.UTF_8));
      line(out, "{\"instruction\": \"用中文写一首短诗\", \"output\": \"春风\"}");                    // 9 good
      line(out, "{\"instruction\": \"" + "long ".repeat(100) + "\"}");                         // 10 line_too_long (limit 256)
      line(out, "{\"instruction\": \"Output typed wrong\", \"output\": 3}");                   // 11 wrong_type
      line(out, "{\"instruction\": \"Good three\"}");                                          // 12 good
      line(out, "   ");                                                                        // 13 blank
      line(out, "{\"instruction\": \"dup\", \"instruction\": \"dup\"}");                       // 14 invalid_json
      line(out, "{\"instruction\": \"Good four\", \"output\": \"d\"}");                         // 15 good
    }
    return f;
  }

  private static void line(OutputStream out, String s) throws IOException {
    out.write(s.getBytes(StandardCharsets.UTF_8));
    out.write('\n');
  }

  /** All lines of the shards of {@code kind}, in shard order. */
  public static List<String> lines(OutputLayout layout, OutputLayout.Kind kind) throws IOException {
    List<String> out = new ArrayList<>();
    for (String f : layout.shardFiles(kind)) {
      out.addAll(Files.readAllLines(Paths.get(f), StandardCharsets.UTF_8));
    }
    return out;
  }

  /** Bytes of every shard of {@code kind}, concatenated, with the shard names. */
  public static String fingerprint(OutputLayout layout, OutputLayout.Kind kind) throws IOException {
    StringBuilder sb = new StringBuilder();
    for (String f : layout.shardFiles(kind)) {
      sb.append(Paths.get(f).getFileName()).append('\n');
      sb.append(new String(Files.readAllBytes(Paths.get(f)), StandardCharsets.UTF_8));
    }
    return sb.toString();
  }

  /** Number of files under {@code dir}. */
  public static long fileCount(Path dir) throws IOException {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).count();
    }
  }
}
