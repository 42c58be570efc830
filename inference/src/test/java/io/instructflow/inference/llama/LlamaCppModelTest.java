package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.SamplingParams;
import io.instructflow.schemas.Message;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The llama.cpp backend on the real (tiny) stories260K model. */
class LlamaCppModelTest {
  @TempDir Path tmp;

  static final String[] OPENINGS = {
    "Once upon a time", "The little dog", "One day, Lily", "Tom and his mom", "The sun was", "In the park,",
    "Ben had a red", "There was a big"
  };

  private static LlamaCppModel model(int parallel) throws InvalidModelException {
    return LlamaCppModel.shared(LlamaCppModel.Config.of(TestModels.stories()).withParallel(parallel)
        .withContextPerSlot(256).withThreads(1));
  }

  private static List<GenerationRequest> openings(SamplingParams p) {
    List<GenerationRequest> out = new ArrayList<>();
    for (int i = 0; i < OPENINGS.length; i++) {
      out.add(GenerationRequest.text("r" + i, OPENINGS[i], p, 1000 + i));
    }
    return out;
  }

  static List<String> texts(List<GenerationResult> results) {
    List<String> out = new ArrayList<>();
    for (GenerationResult r : results) {
      assertTrue(r.ok(), r.requestId() + ": " + r.error());
      out.add(r.choices().get(0).text());
    }
    return out;
  }

  @Test
  void withOneSlotGreedyTextDependsOnTheRequestOnly() throws Exception {
    SamplingParams p = SamplingParams.greedy(64);
    List<String> batched = texts(model(1).generate(openings(p)));
    List<String> again = texts(model(1).generate(openings(p)));
    List<String> oneByOne = new ArrayList<>();
    for (GenerationRequest r : openings(p)) {
      oneByOne.addAll(texts(model(1).generate(List.of(r))));
    }
    // the same requests from four threads at once, in reverse order
    List<GenerationRequest> reversed = new ArrayList<>(openings(p));
    java.util.Collections.reverse(reversed);
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
    List<java.util.concurrent.Future<List<GenerationResult>>> fs = new ArrayList<>();
    for (GenerationRequest r : reversed) {
      fs.add(pool.submit(() -> model(1).generate(List.of(r))));
    }
    List<String> concurrent = new ArrayList<>();
    for (var f : fs) {
      concurrent.addAll(texts(f.get()));
    }
    pool.shutdown();
    java.util.Collections.reverse(concurrent);
    assertEquals(batched, again);
    assertEquals(batched, oneByOne);
    assertEquals(batched, concurrent);
    assertTrue(batched.get(0).startsWith(", there was a little girl named Lily"), batched.get(0));
    assertEquals(OPENINGS.length, batched.stream().distinct().count(), "different prompts, different stories");
  }

  @Test
  void theInvariantScheduleGivesTheSameTextWhateverTheParallelism() throws Exception {
    List<GenerationRequest> reqs = new ArrayList<>();
    for (int i = 0; i < 24; i++) {
      SamplingParams p = i % 3 == 2 ? new SamplingParams(160, 0.8, 0.95, 40, List.of(), 1) : SamplingParams.greedy(160);
      reqs.add(GenerationRequest.text("q" + i, OPENINGS[i % OPENINGS.length] + " " + (i + 1), p, 500 + i));
    }
    LlamaCppModel.Config base = LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(256).withThreads(2);
    List<String> one = texts(LlamaCppModel.shared(base).generate(reqs));
    List<String> eight = texts(LlamaCppModel.shared(base.withParallel(8)).generate(reqs));
    List<String> three = texts(LlamaCppModel.shared(base.withParallel(3).withThreads(1)).generate(reqs));
    assertEquals(one, eight, "parallel 1 and 8, 2 threads");
    assertEquals(one, three, "parallel 3, 1 thread");
    // one context per sequence is invariant too
    LlamaCppModel.Config contexts = base.withSchedule(LlamaCppModel.Schedule.CONTEXTS);
    List<String> alone = texts(LlamaCppModel.shared(contexts).generate(reqs));
    assertEquals(alone, texts(LlamaCppModel.shared(contexts.withParallel(8)).generate(reqs)),
        "contexts: parallel 1 (2 threads) and 8 (1 thread each)");
  }

  @Test
  void theBatchedScheduleWritesWhatOneAtATimeDecodingWrites() throws Exception {
    // greedy requests of different lengths, so sequences join and leave the batch at different steps; on
    // the CPU build llama.cpp's kernels give stories260K the same numbers whatever the batch holds, so
    // the texts must be those of one-at-a-time decoding (issue 21: compared, not only counted)
    List<GenerationRequest> reqs = new ArrayList<>();
    for (int i = 0; i < 24; i++) {
      reqs.add(GenerationRequest.text("q" + i, OPENINGS[i % OPENINGS.length] + " " + (i + 1),
          SamplingParams.greedy(40 + 20 * (i % 7)), 500 + i));
    }
    LlamaCppModel.Config base = LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(256).withThreads(2);
    List<String> oneAtATime = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      oneAtATime.addAll(texts(LlamaCppModel.shared(base).generate(List.of(r))));
    }
    List<String> batched = texts(LlamaCppModel.shared(base.withParallel(8).withSchedule(
        LlamaCppModel.Schedule.BATCHED)).generate(reqs));
    assertEquals(oneAtATime, batched);
    assertEquals(reqs.size(), batched.stream().distinct().count(), "24 different texts");
  }

  @Test
  void aGrammarHoldsTheOutputToItsLanguage() throws Exception {
    String grammar = "root ::= \"The answer is \" (\"yes\" | \"no\") \".\"";
    java.util.regex.Pattern language = java.util.regex.Pattern.compile("The answer is (yes|no)\\.");
    List<GenerationRequest> free = new ArrayList<>();
    List<GenerationRequest> held = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      SamplingParams p = i == 0 ? SamplingParams.greedy(32) : new SamplingParams(32, 1.0, 1, 0, List.of(), 1);
      free.add(GenerationRequest.text("f" + i, OPENINGS[i % OPENINGS.length], p, 70 + i));
      held.add(GenerationRequest.text("g" + i, OPENINGS[i % OPENINGS.length], p.withGrammar(grammar), 70 + i));
    }
    List<String> unconstrained = texts(model(4).generate(free));
    List<GenerationResult> constrained = model(4).generate(held);
    java.util.Set<String> answers = new java.util.TreeSet<>();
    for (int i = 0; i < held.size(); i++) {
      String t = texts(constrained).get(i);
      assertTrue(language.matcher(t).matches(), "constrained: '" + t + "'");
      assertEquals(FinishReason.STOP, constrained.get(i).choices().get(0).finishReason(), "the grammar ends the text");
      answers.add(t);
      assertFalse(language.matcher(unconstrained.get(i)).matches(), "unconstrained: '" + unconstrained.get(i) + "'");
      assertFalse(unconstrained.get(i).startsWith("The answer is"), unconstrained.get(i));
    }
    assertEquals(2, answers.size(), "sampling still chooses within the grammar: " + answers);
  }

  @Test
  void penaltiesCutRepetitionDeterministicallyWhateverTheParallelism() throws Exception {
    SamplingParams plain = SamplingParams.greedy(96);
    SamplingParams penalized = plain.withPenalties(2, 0.5, 1);
    List<String> a = texts(model(1).generate(openings(plain)));
    List<String> b = texts(model(1).generate(openings(penalized)));
    List<String> c4 = texts(model(4).generate(openings(penalized)));
    assertEquals(b, c4, "penalized greedy text independent of --parallel");
    assertEquals(b, texts(model(1).generate(openings(penalized))), "and of the run");
    int differ = 0;
    double repeatsPlain = 0;
    double repeatsPenalized = 0;
    for (int i = 0; i < a.size(); i++) {
      differ += a.get(i).equals(b.get(i)) ? 0 : 1;
      repeatsPlain += repeatedShare(a.get(i));
      repeatsPenalized += repeatedShare(b.get(i));
    }
    assertTrue(differ >= a.size() - 1, differ + " of " + a.size() + " texts changed");
    assertTrue(repeatsPenalized < repeatsPlain * 0.7,
        "repeated words: " + repeatsPlain / a.size() + " without, " + repeatsPenalized / a.size() + " with penalties");
    // the repetition penalty on its own changes the text too
    assertTrue(!texts(model(1).generate(openings(plain.withPenalties(0, 0, 1.5)))).equals(a));
  }

  /** Share of a text's words that repeat an earlier word. */
  private static double repeatedShare(String text) {
    String[] w = text.toLowerCase(java.util.Locale.ROOT).split("[^a-z]+");
    java.util.Set<String> seen = new java.util.HashSet<>();
    int repeats = 0;
    int words = 0;
    for (String x : w) {
      if (!x.isEmpty()) {
        words++;
        repeats += seen.add(x) ? 0 : 1;
      }
    }
    return words == 0 ? 0 : (double) repeats / words;
  }

  @Test
  void severalSlotsServeABatchTogether() throws Exception {
    List<GenerationResult> rs = model(8).generate(openings(SamplingParams.greedy(32)));
    assertEquals(OPENINGS.length, rs.size());
    for (int i = 0; i < rs.size(); i++) {
      assertEquals("r" + i, rs.get(i).requestId());
      assertTrue(rs.get(i).ok(), rs.get(i).error());
      Completion c = rs.get(i).choices().get(0);
      assertTrue(c.tokens() > 0 && c.tokens() <= 32, "tokens " + c.tokens());
      assertEquals(c.tokens() == 32 ? FinishReason.LENGTH : FinishReason.STOP, c.finishReason());
    }
  }

  @Test
  void reportsEachRequestAsItFinishes() throws Exception {
    List<GenerationRequest> reqs = openings(SamplingParams.greedy(16));
    GenerationResult[] seen = new GenerationResult[reqs.size()];
    java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
    List<GenerationResult> all = model(8).generate(reqs, (i, r) -> {
      seen[i] = r;
      calls.incrementAndGet();
    });
    assertEquals(reqs.size(), calls.get());
    assertEquals(all, List.of(seen));
  }

  @Test
  void countsTokensAndReportsWhyACompletionEnded() throws Exception {
    GenerationResult r = model(8).generate(List.of(GenerationRequest.text("a", "Once upon a time",
        SamplingParams.greedy(10), 0))).get(0);
    Completion c = r.choices().get(0);
    assertEquals(FinishReason.LENGTH, c.finishReason());
    assertEquals(10, c.tokens());
    assertEquals(5, r.promptTokens(), "4 prompt tokens and BOS");

    SamplingParams stopAtLily = new SamplingParams(64, 0, 1, 0, List.of("Lily"), 1);
    Completion s = model(8).generate(List.of(GenerationRequest.text("b", "Once upon a time", stopAtLily, 0)))
        .get(0).choices().get(0);
    assertEquals(FinishReason.STOP, s.finishReason());
    assertEquals(", there was a little girl named ", s.text());
  }

  @Test
  void sampledTextFollowsTheSeed() throws Exception {
    SamplingParams p = new SamplingParams(40, 0.9, 0.95, 40, List.of(), 2);
    GenerationRequest r = GenerationRequest.text("s", "Once upon a time", p, 42);
    GenerationResult a = model(1).generate(List.of(r)).get(0);
    GenerationResult b = model(1).generate(List.of(GenerationRequest.text("x", "The little dog", p, 7), r)).get(1);
    assertEquals(2, a.choices().size());
    assertEquals(a.choices(), b.choices(), "same seeds, same samples, whatever the batch");
    assertNotEquals(a.choices().get(0).text(), a.choices().get(1).text(), "choice i uses seed + i");
    GenerationResult other = model(1).generate(List.of(GenerationRequest.text("s", "Once upon a time", p, 43))).get(0);
    assertNotEquals(a.choices().get(0).text(), other.choices().get(0).text());
  }

  @Test
  void aPromptLongerThanTheContextFailsAloneInItsBatch() throws Exception {
    String longPrompt = "Once upon a time there was a cat. ".repeat(60);
    List<GenerationResult> rs = model(8).generate(List.of(
        GenerationRequest.text("long", longPrompt, SamplingParams.greedy(16), 0),
        GenerationRequest.text("fine", "The little dog", SamplingParams.greedy(16), 0)));
    assertFalse(rs.get(0).ok());
    assertEquals(ErrorKind.PROMPT_TOO_LONG, rs.get(0).errorKind());
    assertTrue(rs.get(0).error().contains("exceeds the 256-token context of a sequence"), rs.get(0).error());
    assertTrue(rs.get(1).ok());
    assertEquals(16, rs.get(1).choices().get(0).tokens());
  }

  @Test
  void chatNeedsTheModelsOwnTemplate() throws Exception {
    List<Message> chat = List.of(new Message("system", "You tell stories."), new Message("user", "Tell me one."));
    GenerationResult none = model(8).generate(List.of(GenerationRequest.chat("c", chat, SamplingParams.greedy(8), 0)))
        .get(0);
    assertEquals(ErrorKind.NO_CHAT_TEMPLATE, none.errorKind());
    assertTrue(none.error().contains("has no chat template"), none.error());

    Path withTemplate = TestModels.withStringKey(TestModels.stories(), "tokenizer.chat_template", TestModels.CHATML,
        tmp.resolve("stories-chatml.gguf"));
    LlamaCppModel chatModel = LlamaCppModel.shared(LlamaCppModel.Config.of(withTemplate).withContextPerSlot(256)
        .withThreads(1));
    GenerationResult r = chatModel.generate(List.of(GenerationRequest.chat("c", chat, SamplingParams.greedy(8), 0)))
        .get(0);
    assertTrue(r.ok(), r.error());
    assertEquals("<|im_start|>system\nYou tell stories.<|im_end|>\n<|im_start|>user\nTell me one.<|im_end|>\n"
        + "<|im_start|>assistant\n", r.renderedPrompt());
    assertEquals(8, r.choices().get(0).tokens());
    assertNotEquals(model(8).ref().sha256(), chatModel.ref().sha256(), "the template is part of the model's identity");
  }

  @Test
  void refusesAFileThatIsNotAModelBeforeLoading() throws Exception {
    Path bogus = Files.writeString(tmp.resolve("bogus.gguf"), "{\"not\": \"a model\"}");
    InvalidModelException e = assertThrows(InvalidModelException.class,
        () -> LlamaCppModel.shared(LlamaCppModel.Config.of(bogus)));
    assertTrue(e.getMessage().contains("not a GGUF model file"), e.getMessage());
  }

  @Test
  void gpuLayersWithTheBundledCpuBuildFailBeforeAnything() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(NativeLibs.ownBuild() == null, "a build of our own is named");
    io.instructflow.inference.ModelSpec spec = io.instructflow.inference.ModelSpec.local(TestModels.stories().toString(),
        1, 256, 1, 10, false, null);
    InvalidModelException e = assertThrows(InvalidModelException.class, spec::check);
    assertTrue(e.getMessage().contains("needs a CUDA build of llama.cpp named by INSTRUCTFLOW_LLAMA_LIB"), e.getMessage());
    InvalidModelException load = assertThrows(InvalidModelException.class,
        () -> LlamaCppModel.shared(LlamaCppModel.Config.of(TestModels.stories()).withGpuLayers(10)));
    assertTrue(load.getMessage().contains("is CPU-only"), load.getMessage());
  }

  @Test
  void schedulesAreNamedInAnyCase() {
    assertEquals(LlamaCppModel.Schedule.INVARIANT, LlamaCppModel.Schedule.parse("invariant"));
    assertEquals(LlamaCppModel.Schedule.CONTEXTS, LlamaCppModel.Schedule.parse("Contexts"));
    assertEquals(LlamaCppModel.Schedule.BATCHED, LlamaCppModel.Schedule.parse(" Batched "));
    assertEquals(LlamaCppModel.Schedule.INVARIANT, LlamaCppModel.Config.of(TestModels.stories()).schedule(),
        "the default");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LlamaCppModel.Schedule.parse("fast"));
    assertTrue(e.getMessage().contains("invariant, contexts or batched"), e.getMessage());
  }

  @Test
  void identifiesTheModelByItsFileHash() throws Exception {
    assertEquals("270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d", model(8).ref().sha256());
    assertEquals("llama.cpp", model(8).ref().backend());
    assertEquals("stories260K.gguf", model(8).ref().id());
  }
}
