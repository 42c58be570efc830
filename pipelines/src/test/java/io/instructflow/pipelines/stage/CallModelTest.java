package io.instructflow.pipelines.stage;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.pipelines.ChatmlModel;
import io.instructflow.pipelines.generate.GenerateRequests;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RejectReason;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Count;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.junit.Rule;
import org.junit.Test;

/**
 * {@link CallModel} on Beam's runner: every record ends kept, filtered or rejected (with its input file,
 * location and reason), the counters reconcile with the outputs, batches are made of consecutive input
 * places whatever the runner does, and the real stories260K model gives the same completions for English
 * and Chinese records whether they are sent one at a time or four at a time.
 */
public class CallModelTest {
  @Rule public final transient TestPipeline p = TestPipeline.create();

  static final String INPUT = "/data/in.jsonl";
  static final String STEP = "test.complete";

  /** Ten records of the scripted test, English and Chinese; FAIL ones fail, DROP ones are dropped. */
  static final List<String> SCRIPTED = List.of(
      "Write a short poem about the sea at night.",
      "把下面这句话翻译成英文：今天天气很好。FAIL",
      "Summarize the article in three sentences.",
      "请列出三种常见的排序算法。DROP",
      "Name two rivers in Europe. FAIL",
      "小猫在花园里玩耍，写一个故事。",
      "Explain recursion to a child. DROP",
      "用一句话介绍长城。",
      "Give a synonym for happy.",
      "写一首关于春天的短诗。FAIL");

  static Example record(String text, long line) {
    return Example.single(text, null, null, Map.of(),
        new Provenance(new Origin("in", "unknown", "in.jsonl:" + line, null, "instruction", null), List.of()));
  }

  static List<KV<OrderKey, Example>> records(List<String> texts) {
    List<KV<OrderKey, Example>> out = new ArrayList<>();
    for (int i = 0; i < texts.size(); i++) {
      out.add(KV.of(new OrderKey(0, i + 1, 0), record(texts.get(i), i + 1)));
    }
    return out;
  }

  /** The record with the model's text as its output. */
  static Example completed(Example e, String text) {
    return Example.single(e.instruction(), e.input(), text, e.metadata(), e.provenance());
  }

  /**
   * The test's command: each record's instruction as a greedy text request; the reply becomes its output,
   * a reply of "no" drops it, a failed request rejects it.
   */
  static final class Complete implements ModelCall.PerRequest<Example> {
    private static final long serialVersionUID = 1L;

    @Override
    public GenerationRequest request(Example e) {
      return GenerationRequest.text(e.id(), e.instruction(), SamplingParams.greedy(12), 7);
    }

    @Override
    public ModelCall.Outcome<Example> answer(Example e, GenerationRequest req, GenerationResult res, ModelRef model) {
      if (!res.ok()) {
        return new ModelCall.Outcome.Failed<>(e.provenance().origin().location(), GenerateRequests.rejectReason(res),
            res.error(), STEP, e, ModelCall.count("not_completed"));
      }
      String text = res.choices().get(0).text();
      if (text.equals("no")) {
        return ModelCall.Outcome.filtered(e);
      }
      return new ModelCall.Outcome.Kept<>(completed(e, text), true, ModelCall.count("completed"));
    }
  }

  /**
   * A model that fails every request whose prompt has FAIL (as too long), answers "no" to DROP and echoes
   * the rest; it records the request ids of every batch it is sent.
   */
  static final class Scripted implements LanguageModel {
    static final List<List<String>> BATCHES = Collections.synchronizedList(new ArrayList<>());

    @Override
    public ModelRef ref() {
      return new ModelRef("scripted", null, "scripted");
    }

    @Override
    public List<GenerationResult> generate(List<GenerationRequest> batch) {
      List<String> ids = new ArrayList<>();
      List<GenerationResult> out = new ArrayList<>();
      for (GenerationRequest r : batch) {
        ids.add(r.id());
        if (r.prompt().contains("FAIL")) {
          out.add(GenerationResult.failed(r.id(), r.prompt(), GenerationResult.ErrorKind.PROMPT_TOO_LONG,
              "prompt of 300 tokens does not fit a context of 256"));
        } else {
          String text = r.prompt().contains("DROP") ? "no" : "echo: " + r.prompt();
          out.add(GenerationResult.ok(r.id(), r.prompt(), 5, List.of(new Completion(text, FinishReason.STOP, 3))));
        }
      }
      BATCHES.add(ids);
      return out;
    }
  }

  static Reject reject(Example e) {
    byte[] raw = Json.line(e).getBytes(StandardCharsets.UTF_8);
    return Reject.of(INPUT, e.provenance().origin().location(), RejectReason.PROMPT_TOO_LONG,
        "prompt of 300 tokens does not fit a context of 256", STEP, raw, raw.length);
  }

  @Test
  public void scriptedFailuresAreRejectedWithSourceAndReasonAndCountsReconcile() {
    Scripted.BATCHES.clear();
    List<KV<OrderKey, Example>> in = records(SCRIPTED);
    List<KV<OrderKey, Example>> kept = new ArrayList<>();
    List<KV<OrderKey, Example>> dropped = new ArrayList<>();
    List<KV<OrderKey, Reject>> rejected = new ArrayList<>();
    for (KV<OrderKey, Example> kv : in) {
      Example e = kv.getValue();
      if (e.instruction().contains("FAIL")) {
        rejected.add(KV.of(kv.getKey(), reject(e)));
      } else if (e.instruction().contains("DROP")) {
        dropped.add(kv);
      } else {
        kept.add(KV.of(kv.getKey(), completed(e, "echo: " + e.instruction())));
      }
    }
    assertEquals(3, rejected.size());
    CallModel.Result<Example> r = p.apply(Create.of(in).withCoder(StageResult.RECORDS))
        .apply("Complete", CallModel.of("calltest", Scripted::new, new Complete(), CallModel.EXAMPLES)
            .withBatchSize(4).withInputs(List.of(INPUT)));
    PAssert.that(r.kept()).containsInAnyOrder(kept);
    PAssert.that(r.filtered()).containsInAnyOrder(dropped);
    PAssert.that(r.rejects()).containsInAnyOrder(rejected);
    PCollection<Long> all = PCollectionList.of(keys(r.kept(), "K")).and(keys(r.filtered(), "F"))
        .and(r.rejects().apply("RejectKeys", MapElements.into(TypeDescriptors.longs()).via(kv -> kv.getKey().position())))
        .apply(Flatten.pCollections()).apply(Count.globally());
    PAssert.thatSingleton(all).isEqualTo((long) in.size());

    PipelineResult res = p.run();
    res.waitUntilFinish();
    assertEquals(10, PipelineRun.counter(res, "calltest", "records"));
    assertEquals(10, PipelineRun.counter(res, "calltest", "requests"));
    assertEquals(3, PipelineRun.counter(res, "calltest", "failures"));
    assertEquals(0, PipelineRun.counter(res, "calltest", "cache_hits"));
    assertEquals(7 * 3, PipelineRun.counter(res, "calltest", "completion_tokens"));
    assertEquals(7 * 5, PipelineRun.counter(res, "calltest", "prompt_tokens"));
    assertEquals(kept.size(), PipelineRun.counter(res, "calltest", "completed"));
    assertEquals(3, PipelineRun.counter(res, "calltest", "not_completed"));
    // positions 1-3 (1/4 = 0), 4-7 and 8-10: the batches of consecutive input places, whatever the bundles
    Set<List<String>> batches = new java.util.HashSet<>();
    for (List<String> b : Scripted.BATCHES) {
      batches.add(new ArrayList<>(b));
    }
    Set<List<String>> expected = new java.util.HashSet<>();
    for (int[] range : new int[][] {{0, 3}, {3, 7}, {7, 10}}) {
      List<String> ids = new ArrayList<>();
      for (int i = range[0]; i < range[1]; i++) {
        ids.add(in.get(i).getValue().id());
      }
      expected.add(ids);
    }
    assertEquals(expected, batches);
  }

  static PCollection<Long> keys(PCollection<KV<OrderKey, Example>> c, String name) {
    return c.apply(name + "Keys", MapElements.into(TypeDescriptors.longs()).via(kv -> kv.getKey().position()));
  }

  @Test
  public void realModelGivesTheSameCompletionsInBatchesOfOneAndFour() {
    ModelSpec spec = ModelSpec.local(ChatmlModel.stories().toString(), 4, 256, 1, 0, false, null);
    List<String> texts = new ArrayList<>(List.of(
        "Once upon a time there was a little dog.",
        "小猫在花园里玩耍。",
        "Tom and Lily went to the park.",
        "从前有一座山，山里有一座庙。",
        "The sun was bright and the bird sang.",
        "妈妈给我讲了一个故事。"));
    // a prompt longer than the context: the engine refuses it, and the record is rejected
    texts.add("Once upon a time " + "there was a big red ball and a small blue car. ".repeat(40));
    List<KV<OrderKey, Example>> in = records(texts);
    LanguageModel model = spec.open();
    Complete call = new Complete();
    List<KV<OrderKey, Example>> kept = new ArrayList<>();
    List<KV<OrderKey, Reject>> rejected = new ArrayList<>();
    Set<String> outputs = new TreeSet<>();
    for (KV<OrderKey, Example> kv : in) {
      GenerationRequest req = call.request(kv.getValue());
      GenerationResult res = model.generate(List.of(req)).get(0);
      ModelCall.Outcome<Example> o = call.answer(kv.getValue(), req, res, model.ref());
      if (o instanceof ModelCall.Outcome.Kept<Example> k) {
        kept.add(KV.of(kv.getKey(), k.value()));
        outputs.add(k.value().output());
      } else if (o instanceof ModelCall.Outcome.Failed<Example> f) {
        byte[] raw = Json.line(kv.getValue()).getBytes(StandardCharsets.UTF_8);
        rejected.add(KV.of(kv.getKey(), Reject.of(INPUT, f.location(), f.reason(), f.message(), STEP, raw, raw.length)));
      }
    }
    assertEquals(6, kept.size());
    assertEquals(1, rejected.size());
    assertEquals(RejectReason.PROMPT_TOO_LONG, rejected.get(0).getValue().reason());
    assertTrue("the model writes something different for different prompts: " + outputs, outputs.size() > 1);

    PCollection<KV<OrderKey, Example>> input = p.apply(Create.of(in).withCoder(StageResult.RECORDS));
    for (int size : new int[] {1, 4}) {
      CallModel.Result<Example> r = input.apply("Complete" + size,
          CallModel.of("calltest" + size, CallModel.ModelSource.of(spec), call, CallModel.EXAMPLES)
              .withBatchSize(size).withInputs(List.of(INPUT)));
      PAssert.that("kept, batch " + size, r.kept()).containsInAnyOrder(kept);
      PAssert.that("rejects, batch " + size, r.rejects()).containsInAnyOrder(rejected);
      PAssert.that("filtered, batch " + size, r.filtered()).empty();
    }
    PipelineResult res = p.run();
    res.waitUntilFinish();
    for (int size : new int[] {1, 4}) {
      assertEquals(7, PipelineRun.counter(res, "calltest" + size, "requests"));
      assertEquals(1, PipelineRun.counter(res, "calltest" + size, "failures"));
      assertEquals(6, PipelineRun.counter(res, "calltest" + size, "completed"));
    }
  }
}
