package io.instructflow.pipelines.bench;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.io.RecordConverter;
import io.instructflow.schemas.io.RecordStreamParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/** Benchmark input: the records of JSON and JSONL files, read in one JVM with the pipelines' own parser. */
final class BenchData {
  private BenchData() {}

  /**
   * Every record of the JSON / JSONL files under {@code path} (a file or folder, files in name order),
   * in file order; bad lines are skipped.
   *
   * @param firstOfEach keep only the first record an input object expands to (a seed task's first instance)
   */
  static List<Example> examples(Path path, boolean firstOfEach) throws IOException {
    List<Path> files = new ArrayList<>();
    if (Files.isDirectory(path)) {
      try (Stream<Path> s = Files.walk(path)) {
        s.filter(Files::isRegularFile).filter(p -> p.toString().endsWith(".json") || p.toString().endsWith(".jsonl"))
            .sorted().forEach(files::add);
      }
    } else {
      files.add(path);
    }
    List<Example> out = new ArrayList<>();
    for (Path f : files) {
      RecordStreamParser parser = new RecordStreamParser(new RecordConverter("bench", "unknown"), Optional.empty(),
          1 << 24, f.toString(), f.getFileName().toString());
      try (InputStream in = Files.newInputStream(f)) {
        parser.parse(in, new RecordStreamParser.Sink() {
          @Override
          public void example(Example e, long position, int sub) {
            if (!firstOfEach || sub == 0) {
              out.add(e);
            }
          }

          @Override
          public void reject(Reject r, long position) {}

          @Override
          public void blankLine(long line) {}
        });
      }
    }
    return out;
  }
}
