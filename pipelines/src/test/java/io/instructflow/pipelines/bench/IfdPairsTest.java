package io.instructflow.pipelines.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.instructflow.inference.ScoreRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The IFD pairs {@code bench logprobs --in} compares: the text requests {@code score} sends, records without a response passed over. */
class IfdPairsTest {
  @Test
  void twoTextRequestsPerRecordWithAResponseInFileOrder(@TempDir Path dir) throws Exception {
    Path f = dir.resolve("a.json");
    Files.writeString(f, "[{\"instruction\":\"Name a color.\",\"input\":\"\",\"output\":\"Blue.\"},"
        + "{\"instruction\":\"No answer here.\",\"input\":\"\",\"output\":\"\"},"
        + "{\"instruction\":\"翻译成英文\",\"input\":\"你好\",\"output\":\"Hello.\"},"
        + "{\"instruction\":\"Third.\",\"input\":\"\",\"output\":\"Yes.\"}]", StandardCharsets.UTF_8);
    List<ScoreRequest> got = IfdPairs.of(f, 2);
    assertEquals(4, got.size());
    assertEquals("Name a color.\n\n", got.get(0).prompt());
    assertEquals("Blue.", got.get(0).continuation());
    assertEquals("", got.get(1).prompt(), "the response alone");
    assertEquals("Blue.", got.get(1).continuation());
    assertEquals("翻译成英文\n\n你好\n\n", got.get(2).prompt(), "the input joins the instruction after a blank line");
    assertEquals("Hello.", got.get(2).continuation());
    assertEquals(6, IfdPairs.of(f, 10).size());
    assertEquals(0, IfdPairs.of(f, 0).size());
    assertThrows(IllegalArgumentException.class, () -> IfdPairs.of(f, -1));
  }
}
