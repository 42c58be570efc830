package io.instructflow.pipelines.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** generate on SparkRunner local[2]: two partitions share the JVM's one model, output as on Direct (one slot). */
class GeneratePipelineIT {
  @TempDir Path tmp;

  @Test
  void sparkAndDirectWriteTheSameCompletions() throws Exception {
    Path in = GeneratePipelineTest.input(tmp.resolve("in"), 10);
    RunSummary spark = GeneratePipelineTest.generate(in, tmp.resolve("spark"), 1, 3, null, new Runner("spark", "local[2]"));
    RunSummary direct = GeneratePipelineTest.generate(in, tmp.resolve("direct"), 1, 16, null, GeneratePipelineTest.DIRECT);
    assertEquals(direct.counts(), spark.counts());
    assertEquals(Map.of("invalid_json", 1L, "no_chat_template", 1L, "prompt_too_long", 1L), spark.rejected());
    assertEquals(GeneratePipelineTest.data(tmp.resolve("direct")), GeneratePipelineTest.data(tmp.resolve("spark")));
  }
}
