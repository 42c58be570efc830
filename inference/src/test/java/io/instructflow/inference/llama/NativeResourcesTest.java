package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.bench.GenerateBench;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 21: the engine frees what it makes (contexts, samplers, weights), loads one file's weights once,
 * and a failing or interrupted thread never leaves a caller waiting. Each test loads its own copy of
 * stories260K, so the counts it reads are its own.
 */
class NativeResourcesTest {
  @TempDir Path tmp;

  private Path copy() throws Exception {
    return Files.copy(TestModels.stories(), tmp.resolve("stories-copy.gguf"));
  }

  private static LlamaCppModel.Config config(Path model) {
    return LlamaCppModel.Config.of(model).withContextPerSlot(256).withThreads(1);
  }

  private static List<GenerationRequest> requests(String prefix, int n, int maxTokens) {
    List<GenerationRequest> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(GenerationRequest.text(prefix + i, LlamaCppModelTest.OPENINGS[i % LlamaCppModelTest.OPENINGS.length],
          SamplingParams.greedy(maxTokens), i));
    }
    return out;
  }

  /** The counts now, to compare with those after. */
  private static long[] counts() {
    NativeCounts c = NativeCounts.NATIVE;
    return new long[] {c.modelsLoaded.get(), c.modelsFreed.get(), c.contextsMade.get(), c.contextsFreed.get(),
        c.samplersMade.get(), c.samplersFreed.get()};
  }

  private static long[] since(long[] before) {
    long[] now = counts();
    for (int i = 0; i < now.length; i++) {
      now[i] -= before[i];
    }
    return now;
  }

  @Test
  void closeFreesContextsSamplersAndWeightsOnce() throws Exception {
    long[] before = counts();
    // one context per sequence: three contexts to free
    LlamaCppModel m = LlamaCppModel.shared(config(copy()).withParallel(3)
        .withSchedule(LlamaCppModel.Schedule.CONTEXTS));
    List<GenerationResult> rs = m.generate(requests("c", 6, 8));
    rs.forEach(r -> assertTrue(r.ok(), r.error()));
    m.close();
    m.close();
    long[] d = since(before);
    assertEquals(1, d[0], "weights loaded once");
    assertEquals(1, d[1], "and freed");
    assertEquals(3, d[2], "three contexts made");
    assertEquals(3, d[3], "and freed");
    assertEquals(6, d[4], "six samplers made");
    assertEquals(6, d[5], "and freed");
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.generate(requests("x", 1, 4)));
    assertTrue(e.getMessage().contains("is closed"), e.getMessage());
    LlamaCppModel again = LlamaCppModel.shared(m.config());
    assertNotSame(m, again, "shared() loads a new instance after close()");
    assertTrue(again.generate(requests("y", 1, 4)).get(0).ok());
    again.close();
  }

  @Test
  void aConstructorThatFailsAtTheThirdContextFreesTheTwoBeforeAndTheWeights() throws Exception {
    Path model = copy();
    long[] before = counts();
    DecodeLoop.impossibleContext = k -> k == 2;
    try {
      // one context per sequence: the third of four contexts fails
      InvalidModelException e = assertThrows(InvalidModelException.class,
          () -> LlamaCppModel.shared(config(model).withParallel(4).withSchedule(LlamaCppModel.Schedule.CONTEXTS)));
      assertTrue(e.getMessage().contains("context 3 of 4"), e.getMessage());
    } finally {
      DecodeLoop.impossibleContext = k -> false;
    }
    long[] d = since(before);
    assertEquals(2, d[2], "contexts 1 and 2 were made");
    assertEquals(2, d[3], "and freed");
    assertEquals(1, d[0]);
    assertEquals(1, d[1], "the weights were freed");
    LlamaCppModel ok = LlamaCppModel.shared(config(model).withParallel(4)
        .withSchedule(LlamaCppModel.Schedule.CONTEXTS));
    assertTrue(ok.generate(requests("z", 1, 4)).get(0).ok());
    ok.close();
  }

  @Test
  void configurationsOfOneFileShareItsWeightsAndTheBenchLoadsThemOnce() throws Exception {
    Path model = copy();
    long[] before = counts();
    LlamaCppModel a = LlamaCppModel.shared(config(model));
    LlamaCppModel b = LlamaCppModel.shared(config(model).withParallel(2).withSchedule(LlamaCppModel.Schedule.BATCHED));
    assertEquals(LlamaCppModelTest.texts(a.generate(requests("a", 4, 16))),
        LlamaCppModelTest.texts(b.generate(requests("a", 4, 16))));
    a.close();
    assertEquals(0, since(before)[1], "b still uses the weights");
    b.close();
    assertEquals(1, since(before)[0]);
    assertEquals(1, since(before)[1]);

    long[] bench = counts();
    GenerateBench.Plan plan = new GenerateBench.Plan(model, 4, 8, new int[] {1, 2}, new int[] {1, 2, 4},
        List.of(LlamaCppModel.Schedule.INVARIANT, LlamaCppModel.Schedule.BATCHED), 0);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    List<GenerateBench.Row> rows = GenerateBench.run(plan, new PrintStream(out), new PrintStream(new ByteArrayOutputStream()));
    assertEquals(2 * (1 + 2 * 3), rows.size());
    long[] d = since(bench);
    assertEquals(1, d[0], "12 configurations, the weights loaded once");
    assertEquals(1, d[1], "and freed at the end");
    assertEquals(d[2], d[3], "every context freed");
    assertEquals(d[4], d[5], "every sampler freed");
    assertTrue(out.toString().contains("all 4 identical"), out.toString());
  }

  @Test
  void aDecodeThreadThatThrowsFailsItsJobsReleasesTheirPermitsAndServesOn() throws Exception {
    // 2 sequences + 1 waiting: 3 permits; leaked permits would make the later batches hang
    LlamaCppModel.Config c = config(copy());
    LlamaCppModel m = LlamaCppModel.shared(new LlamaCppModel.Config(c.model(), 2, 256, 1, 0, 1, false,
        LlamaCppModel.Schedule.INVARIANT, LlamaCppModel.FlashAttention.AUTO, true, 1, false));
    long[] before = counts();
    List<String> expected = LlamaCppModelTest.texts(m.generate(requests("e", 8, 12)));
    m.scheduler.beforeStep = () -> {
      throw new OutOfMemoryError("injected");
    };
    List<GenerationResult> failed = assertTimeoutPreemptively(Duration.ofSeconds(60),
        () -> m.generate(requests("f", 8, 12)));
    for (GenerationResult r : failed) {
      assertFalse(r.ok());
      assertTrue(r.error().contains("injected"), r.error());
    }
    AtomicInteger steps = new AtomicInteger();
    m.scheduler.beforeStep = () -> {
      if (steps.incrementAndGet() == 5) {
        throw new AssertionError("injected once");
      }
    };
    List<GenerationResult> once = assertTimeoutPreemptively(Duration.ofSeconds(60),
        () -> m.generate(requests("g", 8, 12)));
    long failedOnce = once.stream().filter(r -> !r.ok()).count();
    assertTrue(failedOnce >= 1 && failedOnce <= 2, failedOnce + " failed: the jobs in hand at the failure");
    m.scheduler.beforeStep = null;
    List<String> after = assertTimeoutPreemptively(Duration.ofSeconds(60),
        () -> LlamaCppModelTest.texts(m.generate(requests("e", 8, 12))));
    assertEquals(expected, after, "the same texts as before the failures");
    // counted after close(): a decode thread frees a sampler just after its completion is reported
    m.close();
    long[] d = since(before);
    assertEquals(32, d[4]);
    assertEquals(d[4], d[5], "every sampler freed");
  }

  @Test
  void anInterruptedAdmissionFreesItsSampler() throws Exception {
    LlamaCppModel m = LlamaCppModel.shared(config(copy()));
    long[] before = counts();
    Thread.currentThread().interrupt();
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.generate(requests("i", 1, 4)));
    assertTrue(Thread.interrupted(), "the interrupt is kept");
    assertTrue(e.getMessage().contains("interrupted"), e.getMessage());
    long[] d = since(before);
    assertEquals(1, d[4]);
    assertEquals(1, d[5], "the sampler made for it was freed");
    assertTrue(m.generate(requests("j", 2, 4)).stream().allMatch(GenerationResult::ok), "permits intact");
    m.close();
  }

  @Test
  void resultsAreReportedOffTheDecodeThreads() throws Exception {
    LlamaCppModel m = LlamaCppModel.shared(config(copy()).withParallel(2));
    Set<String> threads = ConcurrentHashMap.newKeySet();
    m.generate(requests("t", 6, 8), (i, r) -> threads.add(Thread.currentThread().getName()));
    assertFalse(threads.isEmpty());
    assertTrue(threads.stream().noneMatch(t -> t.startsWith("llama-context-")), threads.toString());
    m.close();
  }
}
