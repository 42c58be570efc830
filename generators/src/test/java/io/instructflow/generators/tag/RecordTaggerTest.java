package io.instructflow.generators.tag;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.Completion;
import io.instructflow.inference.FinishReason;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.llama.TestModels;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.RejectReason;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Tags (issue 22, item 5): the grammar and the label parsing, the requests and outcomes on a scripted
 * judge, and on the real stories260K engine labels from the label set, the same on a second call, stored
 * with the model's identity.
 */
class RecordTaggerTest {
  /** A judge that answers generation requests with a script. */
  record ScriptedJudge(Function<GenerationRequest, GenerationResult> script, List<GenerationRequest> seen)
      implements LanguageModel {
    ScriptedJudge(Function<GenerationRequest, GenerationResult> script) {
      this(script, new ArrayList<>());
    }

    @Override
    public ModelRef ref() {
      return new ModelRef("scripted-judge", null, "scripted");
    }

    @Override
    public List<GenerationResult> generate(List<GenerationRequest> batch) {
      List<GenerationResult> out = new ArrayList<>();
      for (GenerationRequest r : batch) {
        seen.add(r);
        out.add(script.apply(r));
      }
      return out;
    }

    @Override
    public List<ScoreResult> score(List<ScoreRequest> batch) {
      throw new UnsupportedOperationException("generation only");
    }
  }

  static GenerationResult reply(GenerationRequest r, String text) {
    return GenerationResult.ok(r.id(), "p", 3, List.of(new Completion(text, FinishReason.STOP, 2)));
  }

  static Example single(String instruction, String input, String output) {
    return Example.single(instruction, input, output, Map.of(), new Provenance(new Origin("test", "unknown", "t.jsonl:1",
        null, "alpaca", null), List.of()));
  }

  static RecordTagger.Settings settings(boolean chat, boolean grammar, RecordTagger.Tag... tags) throws Exception {
    return RecordTagger.Settings.of(List.of(tags), chat, grammar, null);
  }

  @Test
  void theGrammarAdmitsExactlyTheLabels() {
    assertEquals("root ::= \" \" (\"very_easy\" | \"easy\" | \"medium\" | \"hard\" | \"very_hard\")\n",
        RecordTagger.grammar(RecordTagger.Tag.DIFFICULTY, false));
    assertEquals("root ::= (\"very_poor\" | \"poor\" | \"average\" | \"good\" | \"excellent\")\n",
        RecordTagger.grammar(RecordTagger.Tag.INPUT_QUALITY, true));
    assertEquals(12, RecordTagger.Tag.TASK_CATEGORY.labels().size());
    assertTrue(RecordTagger.grammar(RecordTagger.Tag.TASK_CATEGORY, true).contains("\"information_seeking\" | "));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "' coding'|coding",
    "'Coding.'|coding",
    "'math\n'|math",
    "'role_playing'|role_playing",
    "'coding and math'|",
    "'code'|",
    "''|",
    "'others.. '|"
  })
  void aReplyIsReadOnlyWhenItIsExactlyALabel(String reply, String label) {
    assertEquals(label, RecordTagger.parse(RecordTagger.Tag.TASK_CATEGORY, reply).orElse(null));
  }

  @Test
  void tagsGoToMetadataWithTheJudgeAndTemplateAndFailuresNameTheTag() throws Exception {
    ScriptedJudge judge = new ScriptedJudge(r -> {
      String p = r.prompt();
      if (p.contains("broken")) {
        return GenerationResult.failed(r.id(), p, ErrorKind.PROMPT_TOO_LONG, "too long");
      }
      if (p.contains("chatty") && r.id().endsWith("/difficulty")) {
        return reply(r, " it is quite hard I think");
      }
      return reply(r, r.id().endsWith("/task_category") ? " coding" : " hard");
    });
    RecordTagger.Settings s = settings(false, true, RecordTagger.Tag.TASK_CATEGORY, RecordTagger.Tag.DIFFICULTY);
    Example en = single("Write a Java method that reverses a list.", null, "...")
        .withMetadata("tags", Map.of("language", "en"));
    Example zh = single("用 Python 写一个排序函数。", "数字列表", null);
    Example none = Example.chat(List.of(new Message("assistant", "hello")), Map.of(), en.provenance());
    Example broken = single("broken", null, "x");
    Example chatty = single("chatty", null, "x");
    List<RecordTagger.Outcome> out = RecordTagger.tag(judge, s, List.of(en, zh, none, broken, chatty));
    RecordTagger.Outcome.Tagged t = assertInstanceOf(RecordTagger.Outcome.Tagged.class, out.get(0));
    assertEquals(Map.of("task_category", "coding", "difficulty", "hard"), t.labels());
    Map<?, ?> tags = (Map<?, ?>) t.record().metadata().get("tags");
    assertEquals(List.of("language", "task_category", "difficulty"), new ArrayList<>(tags.keySet()));
    Map<?, ?> cat = (Map<?, ?>) tags.get("task_category");
    assertEquals("coding", cat.get("value"));
    assertEquals(Map.of("id", "scripted-judge", "backend", "scripted"), cat.get("model"));
    assertEquals("tag/task-category@1", cat.get("template"));
    assertEquals(s.templates().get(0).hash(), cat.get("templateHash"));
    assertEquals("text", cat.get("format"));
    assertEquals("hard", RecordTagger.value(t.record(), "difficulty").orElseThrow());
    // the Chinese record is tagged from its instruction and input; a missing output does not matter
    assertInstanceOf(RecordTagger.Outcome.Tagged.class, out.get(1));
    GenerationRequest zhReq = judge.seen().get(2);
    assertTrue(zhReq.prompt().contains("用 Python 写一个排序函数。\n\n数字列表"), zhReq.prompt());
    assertTrue(zhReq.prompt().endsWith("Label:"));
    assertEquals(0.0, zhReq.params().temperature());
    assertEquals(RecordTagger.grammar(RecordTagger.Tag.TASK_CATEGORY, false), zhReq.params().grammar());
    RecordTagger.Outcome.Failed f = assertInstanceOf(RecordTagger.Outcome.Failed.class, out.get(2));
    assertEquals(RejectReason.MISSING_FIELD, f.reason());
    assertEquals(0, f.requests());
    f = assertInstanceOf(RecordTagger.Outcome.Failed.class, out.get(3));
    assertEquals(RejectReason.PROMPT_TOO_LONG, f.reason());
    assertEquals("task_category: too long", f.message());
    f = assertInstanceOf(RecordTagger.Outcome.Failed.class, out.get(4));
    assertEquals(RejectReason.GENERATION_FAILED, f.reason());
    assertTrue(f.message().startsWith("difficulty: the reply ' it is quite hard I think' is not one of"), f.message());
    assertEquals(8, judge.seen().size());
    // no grammar for an endpoint; chat requests carry the rendered template as the user turn
    ScriptedJudge plain = new ScriptedJudge(r -> reply(r, "Excellent."));
    Example tagged = ((RecordTagger.Outcome.Tagged) RecordTagger.tag(plain, settings(true, false,
        RecordTagger.Tag.INPUT_QUALITY), List.of(zh)).get(0)).record();
    assertEquals("excellent", RecordTagger.value(tagged, "input_quality").orElseThrow());
    assertNull(plain.seen().get(0).params().grammar());
    assertTrue(plain.seen().get(0).messages().get(0).content().contains("用 Python"));
    assertThrows(IllegalArgumentException.class, () -> RecordTagger.Tag.parse("topic"));
    assertThrows(IllegalArgumentException.class, () -> settings(false, true));
    assertThrows(IllegalArgumentException.class, () -> settings(false, true, RecordTagger.Tag.DIFFICULTY,
        RecordTagger.Tag.DIFFICULTY));
  }

  @Test
  void onTheRealEngineEveryLabelIsFromTheSetAndTheSameOnRerun() throws Exception {
    LlamaCppModel model = LlamaCppModel.shared(LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(1024)
        .withThreads(1).withParallel(2));
    RecordTagger.Settings s = settings(false, true, RecordTagger.Tag.values());
    List<Example> recs = List.of(single("Tell a story about a cat.", null, "Once upon a time."),
        single("讲一个关于小狗的故事。", "小狗", "小狗很开心。"), single("Write a function that adds two numbers.", null, "x"));
    List<RecordTagger.Outcome> first = RecordTagger.tag(model, s, recs);
    List<RecordTagger.Outcome> again = RecordTagger.tag(model, s, recs);
    for (int i = 0; i < recs.size(); i++) {
      RecordTagger.Outcome.Tagged t = assertInstanceOf(RecordTagger.Outcome.Tagged.class, first.get(i), first.get(i)
          .toString());
      for (RecordTagger.Tag tag : RecordTagger.Tag.values()) {
        String label = t.labels().get(tag.code());
        assertTrue(tag.labels().contains(label), tag.code() + ": " + label);
        Map<?, ?> v = (Map<?, ?>) ((Map<?, ?>) t.record().metadata().get("tags")).get(tag.code());
        assertEquals(model.ref().sha256(), ((Map<?, ?>) v.get("model")).get("sha256"));
        assertEquals("stories260K.gguf", ((Map<?, ?>) v.get("model")).get("id"));
      }
      assertEquals(t.labels(), ((RecordTagger.Outcome.Tagged) again.get(i)).labels());
    }
  }
}
