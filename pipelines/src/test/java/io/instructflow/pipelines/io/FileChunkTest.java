package io.instructflow.pipelines.io;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.io.RecordConverter;
import io.instructflow.schemas.io.RecordStreamParser;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * {@link FileChunk}: a file cut into pieces and parsed piece by piece gives exactly what the whole
 * file's parse gives (records, rejects, blank lines, line numbers, the detected shape), whatever the
 * piece size.
 */
public class FileChunkTest {
  @Rule public final TemporaryFolder tmp = new TemporaryFolder();

  /** Everything a parse reports, one line per event, in order. */
  static List<String> events(List<FileChunk> pieces) throws Exception {
    List<String> out = new ArrayList<>();
    for (FileChunk c : pieces) {
      InputFile f = c.file();
      RecordStreamParser parser = new RecordStreamParser(new RecordConverter(f.dataset(), "MIT"), Optional.empty(), 200,
          f.path(), f.name());
      c.parse(parser, sink(out));
    }
    return out;
  }

  static RecordStreamParser.Sink sink(List<String> out) {
    return new RecordStreamParser.Sink() {
      @Override
      public void example(Example e, long position, int sub) {
        out.add("example " + position + ":" + sub + " " + Json.line(e));
      }

      @Override
      public void reject(Reject r, long position) {
        out.add("reject " + position + " " + r.location() + " " + r.reason().code() + " " + r.message());
      }

      @Override
      public void blankLine(long line) {
        out.add("blank " + line);
      }
    };
  }

  static List<String> whole(InputFile f) throws Exception {
    List<String> out = new ArrayList<>();
    RecordStreamParser parser = new RecordStreamParser(new RecordConverter(f.dataset(), "MIT"), Optional.empty(), 200,
        f.path(), f.name());
    try (InputStream in = Files.newInputStream(Path.of(f.path()))) {
      parser.parse(in, sink(out));
    }
    return out;
  }

  @Test
  public void piecesParseAsTheWholeFileDoes() throws Exception {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    b.write(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF});
    StringBuilder s = new StringBuilder();
    // before the shape is known: an unknown object, a bad line, a blank line; then prompt rows
    s.append("{\"foo\": 1}\n").append("not json\n").append("\n");
    for (int i = 0; i < 60; i++) {
      switch (i % 7) {
        case 0 -> s.append("\r\n");
        case 1 -> s.append("{\"prompt\": \"写一首关于秋天的诗 ").append(i).append("\", \"completion\": \"秋风\"}\r\n");
        case 2 -> s.append("{\"prompt\": \"").append("x".repeat(300)).append("\"}\n");
        case 3 -> s.append("[1, 2]\n");
        default -> s.append("{\"prompt\": \"Name ").append(i).append(" rivers\", \"completion\": \"Nile\"}\n");
      }
    }
    s.append("{\"prompt\": \"last line, no newline\"}");
    b.write(s.toString().getBytes(StandardCharsets.UTF_8));
    Path p = tmp.getRoot().toPath().resolve("t.jsonl");
    Files.write(p, b.toByteArray());
    InputFile f = new InputFile(0, p.toString(), "t.jsonl", "t");
    List<String> expected = whole(f);
    assertTrue(expected.size() > 60);
    for (long target : new long[] {1, 7, 50, 333, 1 << 20}) {
      List<FileChunk> pieces = FileChunk.split(f, null, 200, target);
      assertEquals("target " + target, expected, events(pieces));
      if (target == 1) {
        // no cut before line 5, whose object the shape is detected from; then one piece per line
        assertEquals(6, pieces.get(1).firstLine());
        assertEquals("prompt-completion", pieces.get(1).shape());
        assertTrue(pieces.size() > 50);
      }
    }
  }

  @Test
  public void aJsonArrayIsOnePiece() throws Exception {
    Path p = tmp.getRoot().toPath().resolve("a.json");
    Files.writeString(p, "  [{\"instruction\": \"a\", \"output\": \"b\"}, {\"instruction\": \"c\", \"output\": \"d\"}]");
    InputFile f = new InputFile(0, p.toString(), "a.json", "a");
    List<FileChunk> pieces = FileChunk.split(f, null, 200, 1);
    assertEquals(1, pieces.size());
    assertFalse(pieces.get(0).lines());
    assertEquals(whole(f), events(pieces));
  }
}
