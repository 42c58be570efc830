package io.instructflow.pipelines.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.apache.beam.runners.spark.SparkCommonPipelineOptions;
import org.apache.beam.runners.spark.SparkPipelineOptions;
import org.junit.jupiter.api.Test;

/** The Spark options a runner hands to Beam. */
class RunnerTest {
  @Test
  void theEmbeddedMasterReachesBeamWithItsCoreCountSoNothingIsStaged() {
    int cores = Runtime.getRuntime().availableProcessors();
    SparkPipelineOptions o = Runner.defaults().options("runner-test").as(SparkPipelineOptions.class);
    assertEquals("local[" + cores + "]", o.getSparkMaster());
    // what SparkRunner.run does before it makes the SparkContext: for a master it takes for a cluster it
    // scans the class path and lists every jar in filesToStage (then spark.jars, which the executor copies)
    SparkCommonPipelineOptions.prepareFilesToStage(o);
    assertNull(o.getFilesToStage(), "nothing staged for the embedded master");
    assertEquals("SparkRunner local[*]", Runner.defaults().describe(), "summaries still say local[*]");
  }

  @Test
  void otherMastersReachBeamAsGiven() {
    assertEquals("local[2]", new Runner("spark", "local[2]").sparkMasterForBeam());
    assertEquals("spark://host:7077", new Runner("spark", "spark://host:7077").sparkMasterForBeam());
  }
}
