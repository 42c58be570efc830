package io.instructflow.pipelines.io;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one writer of ordered fragments: its name, its bytes, and a retry over a leftover temporary file. */
class WriteOrderedTest {
  @TempDir Path tmp;

  private List<String> names() throws Exception {
    try (Stream<Path> s = Files.list(tmp)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void writesTheLinesUnderTheFragmentNameAndLeavesNoTemporaryFile() throws Exception {
    String key = WriteOrdered.fragmentKey(new OrderKey(3, 5000, 0));
    ResourceId f = WriteOrdered.writeFragment(tmp.toString(), key, List.of("{\"a\":1}", "{\"指令\":\"写一首诗\"}"));
    assertEquals("frag-000000003-000000000002-n2.jsonl", f.getFilename());
    assertEquals(List.of(f.getFilename()), names());
    assertEquals("{\"a\":1}\n{\"指令\":\"写一首诗\"}\n", Files.readString(tmp.resolve(f.getFilename()), StandardCharsets.UTF_8));
    assertEquals(key, WriteOrdered.fragmentKeyOf(f.getFilename()));
    assertEquals(2, WriteOrdered.linesOf(f.getFilename()));
  }

  @Test
  void aRetryOverwritesTheHalfWrittenTemporaryFileOfAFailedAttempt() throws Exception {
    String key = WriteOrdered.fragmentKey(new OrderKey(0, 0, 0));
    // what a task killed while writing leaves behind: a temporary file, which publish never packs
    Files.writeString(tmp.resolve(OutputLayout.TMP_PREFIX + key + ".jsonl"), "{\"half");
    assertEquals(List.of(), List.copyOf(OutputLayout.fragments(tmp.toString()).keySet()));
    WriteOrdered.writeFragment(tmp.toString(), key, List.of("{\"b\":2}"));
    assertEquals(List.of("frag-000000000-000000000000-n1.jsonl"), names());
    assertEquals("{\"b\":2}\n", Files.readString(tmp.resolve("frag-000000000-000000000000-n1.jsonl")));
  }
}
