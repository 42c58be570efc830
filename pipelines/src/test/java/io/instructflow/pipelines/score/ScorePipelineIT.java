package io.instructflow.pipelines.score;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.instructflow.generators.score.RecordScorer;
import io.instructflow.pipelines.ChatmlModel;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** score on SparkRunner local[2]: the same scored records and rejects as on Direct. */
class ScorePipelineIT {
  @TempDir Path tmp;

  @Test
  void sparkAndDirectWriteTheSameScores() throws Exception {
    Path in = ScorePipelineTest.input(tmp.resolve("in"));
    List<RecordScorer.Kind> kinds = List.of(RecordScorer.Kind.IFD, RecordScorer.Kind.QUALITY);
    RunSummary spark = ScorePipelineTest.score(in, tmp.resolve("spark"), ScorePipelineTest.spec(ChatmlModel.stories(), null, 2048),
        kinds, 3, new Runner("spark", "local[2]"));
    RunSummary direct = ScorePipelineTest.score(in, tmp.resolve("direct"), ScorePipelineTest.spec(ChatmlModel.stories(), null, 2048),
        kinds, 3, ScorePipelineTest.DIRECT);
    assertEquals(direct.counts(), spark.counts());
    assertEquals(java.util.Map.of("invalid_json", 1L, "missing_field", 1L), spark.rejected());
    for (OutputLayout.Kind k : List.of(OutputLayout.Kind.DATA, OutputLayout.Kind.REJECTS)) {
      assertEquals(TestFiles.lines(new OutputLayout(tmp.resolve("direct").toString()), k),
          TestFiles.lines(new OutputLayout(tmp.resolve("spark").toString()), k));
    }
  }
}
