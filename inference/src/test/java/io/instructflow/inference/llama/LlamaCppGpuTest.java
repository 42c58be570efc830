package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.llama.LlamaCppModel.Schedule;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * The engine on a GPU: opt-in, for a machine with an NVIDIA GPU and a CUDA build of llama.cpp named by
 * {@code INSTRUCTFLOW_LLAMA_LIB} (docs/engine.md, GPU nodes). Run with {@code INSTRUCTFLOW_GPU_TEST=1}.
 */
@EnabledIfEnvironmentVariable(named = "INSTRUCTFLOW_GPU_TEST", matches = "1")
class LlamaCppGpuTest {
  private static List<GenerationRequest> requests(int n) {
    String[] openings = LlamaCppModelTest.OPENINGS;
    List<GenerationRequest> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(GenerationRequest.text("g" + i, openings[i % openings.length] + " " + (i + 1), SamplingParams.greedy(128), 0));
    }
    return out;
  }

  @Test
  void decodesOnTheGpuAndTheInvariantScheduleKeepsOutputsWhateverTheParallelism() throws Exception {
    assertTrue(NativeLibs.gpuOffload(), "INSTRUCTFLOW_LLAMA_LIB must name a GPU build; it is " + NativeLibs.dir());
    // one context per sequence: the padded invariant schedule pins CPU kernels, not CUDA's (docs/engine.md, Schedules)
    LlamaCppModel.Config base = LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(256).withGpuLayers(99)
        .withSchedule(Schedule.CONTEXTS);
    List<String> one = LlamaCppModelTest.texts(LlamaCppModel.shared(base).generate(requests(16)));
    List<String> eight = LlamaCppModelTest.texts(LlamaCppModel.shared(base.withParallel(8)).generate(requests(16)));
    assertEquals(one, eight, "contexts schedule on the GPU: parallel 1 and 8 give the same greedy text");
    List<GenerationResult> batched = LlamaCppModel.shared(base.withParallel(16).withSchedule(Schedule.BATCHED))
        .generate(requests(16));
    assertEquals(16, LlamaCppModelTest.texts(batched).size());
    // request 0 is "Once upon a time 1": the story goes on from the number
    assertTrue(one.get(0).contains("there was a little girl"), one.get(0));
    assertTrue(one.stream().distinct().count() >= LlamaCppModelTest.OPENINGS.length,
        "different openings, different stories");
  }
}
