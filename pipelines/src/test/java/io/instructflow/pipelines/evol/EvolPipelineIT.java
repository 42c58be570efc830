package io.instructflow.pipelines.evol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.generators.evol.Evol;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.inference.ModelSpec;
import io.instructflow.pipelines.ScriptedEndpoint;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Evol epochs on SparkRunner local[2] write the same bytes as on the DirectRunner. */
class EvolPipelineIT {
  @Test
  void sparkEqualsDirect(@TempDir Path dir) throws Exception {
    try (ScriptedEndpoint server = ScriptedEndpoint.start(EvolPipelineTest::answer)) {
      Path in = EvolPipelineTest.input(dir, 20);
      String[] outs = new String[2];
      RunSummary[] sums = new RunSummary[2];
      Runner[] runners = {new Runner("direct", null), new Runner("spark", "local[2]")};
      for (int i = 0; i < 2; i++) {
        Path out = dir.resolve("out" + i);
        ModelSpec spec = ModelSpec.remote(server.url(), "scripted", null, 2, out.resolve("cache").toString());
        sums[i] = EvolPipelineTest.run(new EvolPipeline.Config(ReadOptions.of(in.toString()), out.toString(), spec,
            Evol.Settings.defaults(5).withFormat(PromptFormat.TEXT), null, 2, false, 3, 6, runners[i], 0));
        outs[i] = EvolPipelineTest.bytes(out);
      }
      assertTrue(sums[1].reconciled());
      assertTrue(sums[1].counts().kept() > 0);
      assertEquals(sums[0].counts(), sums[1].counts());
      assertEquals(outs[0], outs[1]);
    }
  }
}
