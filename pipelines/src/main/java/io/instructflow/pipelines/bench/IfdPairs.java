package io.instructflow.pipelines.bench;

import io.instructflow.generators.score.Ifd;
import io.instructflow.generators.score.ScoredTurn;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.schemas.Example;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Benchmark input for the log-probability checks: the text-format IFD requests of records, as {@code score} sends them. */
public final class IfdPairs {
  private IfdPairs() {}

  /**
   * The two IFD requests (the response after its instruction in the text format {@value Ifd#TEMPLATE_ID},
   * and the response alone) of each of the first {@code records} records of {@code path} that have a
   * response, in file order; records without one are passed over.
   *
   * @param path a JSON or JSONL file, or a folder of them, in any shape the pipelines read
   */
  public static List<ScoreRequest> of(Path path, int records) throws IOException {
    if (records < 0) {
      throw new IllegalArgumentException("records must be >= 0, got " + records);
    }
    List<ScoreRequest> out = new ArrayList<>();
    int taken = 0;
    for (Example e : BenchData.examples(path, true)) {
      if (taken == records) {
        break;
      }
      ScoredTurn t = ScoredTurn.of(e);
      if (t.hasResponse()) {
        out.addAll(Ifd.requests(e.id(), t, false));
        taken++;
      }
    }
    return out;
  }
}
