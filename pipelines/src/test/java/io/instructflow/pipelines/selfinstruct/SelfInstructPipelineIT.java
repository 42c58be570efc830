package io.instructflow.pipelines.selfinstruct;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.pipelines.ScriptedEndpoint;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The self-instruct rounds on SparkRunner local[2] write the same bytes as on the DirectRunner. */
class SelfInstructPipelineIT {
  @Test
  void sparkEqualsDirect(@TempDir Path dir) throws Exception {
    try (ScriptedEndpoint server = ScriptedEndpoint.start(SelfInstructAnswers::answer)) {
      RunSummary direct = SelfInstructPipelineTest.run(
          SelfInstructPipelineTest.scripted(server, dir.resolve("direct"), 5, 0, new Runner("direct", null)));
      RunSummary spark = SelfInstructPipelineTest.run(
          SelfInstructPipelineTest.scripted(server, dir.resolve("spark"), 5, 0, new Runner("spark", "local[2]")));
      assertTrue(spark.reconciled());
      assertTrue(spark.counts().kept() > 0);
      assertEquals(direct.counts(), spark.counts());
      for (String kind : List.of("data", "filtered", "rejects")) {
        assertEquals(SelfInstructPipelineTest.folder(dir.resolve("direct"), kind),
            SelfInstructPipelineTest.folder(dir.resolve("spark"), kind), kind);
      }
    }
  }
}
