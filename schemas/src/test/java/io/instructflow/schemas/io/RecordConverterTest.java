package io.instructflow.schemas.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RejectReason;
import io.instructflow.schemas.Schemas;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class RecordConverterTest {
  private final RecordConverter conv = new RecordConverter("d", "MIT");

  private Conversion convert(String json, InputShape shape) throws Exception {
    return conv.convert(Json.mapper().readTree(json), shape, "f.jsonl:1");
  }

  @Test
  void aSplitGoesIntoTheOriginAndNoSplitLeavesTheOriginAsBefore() throws Exception {
    // issue 20: a Hub layout file's split; records of other files keep their exact bytes (no "split" key)
    Example withSplit = ((Conversion.Converted) new RecordConverter("d", "MIT", "train").convert(
        Json.mapper().readTree("{\"instruction\": \"你好\"}"), InputShape.ALPACA, "data/train-00000-of-00001.parquet#0"))
        .examples().get(0);
    assertEquals("train", withSplit.provenance().origin().split());
    assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, withSplit));
    String line = Json.line(withSplit);
    assertEquals(true, line.contains("\"location\":\"data/train-00000-of-00001.parquet#0\",\"format\":\"alpaca\",\"split\":\"train\""), line);
    Example without = ((Conversion.Converted) convert("{\"instruction\": \"你好\"}", InputShape.ALPACA)).examples().get(0);
    assertEquals(null, without.provenance().origin().split());
    assertEquals(false, Json.line(without).contains("split"), Json.line(without));
    assertEquals(withSplit.id(), without.id(), "the id hashes content only");
    org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new RecordConverter("d", "MIT", " "));
  }

  @Test
  void sourceColumnsNamedLikeReservedMetadataAreRenamed() throws Exception {
    Example e = ((Conversion.Converted) convert(
        "{\"instruction\": \"x\", \"instance_index\": \"seven\", \"is_classification\": \"yes\", \"lang\": \"en\"}",
        InputShape.ALPACA)).examples().get(0);
    assertEquals(Map.of("source_instance_index", "seven", "source_is_classification", "yes", "lang", "en"), e.metadata());
    assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, e));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "{\"instruction\": \"x\", \"input\": 3}|alpaca|WRONG_TYPE",
      "{\"prompt\": \"\"}|prompt-completion|EMPTY_INSTRUCTION",
      "{\"prompt\": null}|prompt-completion|MISSING_FIELD",
      "{\"instruction\": \"x\", \"instances\": {}}|self-instruct-seed|WRONG_TYPE",
      "{\"instruction\": \"x\", \"instances\": [3]}|self-instruct-seed|WRONG_TYPE",
      "{\"instruction\": \"x\", \"instances\": [{\"input\": \"\", \"output\": \"\"}], \"is_classification\": \"no\"}|self-instruct-seed|WRONG_TYPE",
      "{\"conversations\": [{\"from\": \"alien\", \"value\": \"hi\"}]}|sharegpt|INVALID_VALUE",
      "{\"conversations\": []}|sharegpt|EMPTY_INSTRUCTION",
      "{\"messages\": [{\"role\": \"user\"}]}|messages|MISSING_FIELD",
      "{\"messages\": [\"hi\"]}|messages|WRONG_TYPE",
      "{\"id\": \"abc\", \"provenance\": {}}|instructflow|SCHEMA_VIOLATION",
  })
  void eachFieldProblemHasItsReason(String json, String shape, RejectReason reason) throws Exception {
    Conversion c = convert(json, InputShape.fromCode(shape));
    assertEquals(reason, assertInstanceOf(Conversion.Failed.class, c).reason(), String.valueOf(c));
  }

  @Test
  void preferencePairsBecomeTheirChosenConversation() throws Exception {
    String trl = "{\"prompt\": \"Name a color.\", \"chosen\": \"Red.\", \"rejected\": \"Seven.\", \"margin\": 2, \"src\": \"x\"}";
    assertEquals(InputShape.PREFERENCE, InputShape.detect(Json.mapper().readTree(trl)).orElseThrow());
    Example e = ((Conversion.Converted) convert(trl, InputShape.PREFERENCE)).examples().get(0);
    assertEquals(List.of(new io.instructflow.schemas.Message("user", "Name a color."),
        new io.instructflow.schemas.Message("assistant", "Red.")), e.messages());
    assertEquals(Map.of("rejected", "Seven.", "margin", 2.0), e.metadata().get(RecordConverter.PREFERENCE_KEY));
    assertEquals("x", e.metadata().get("src"));
    assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, e));

    String hh = "{\"chosen\": \"\\n\\nHuman: Hi there\\n\\nAssistant: Hello!\\n\\nHuman: A joke?\\n\\nAssistant: Why not.\", "
        + "\"rejected\": \"\\n\\nHuman: Hi there\\n\\nAssistant: Hello!\\n\\nHuman: A joke?\\n\\nAssistant: No.\"}";
    Example h = ((Conversion.Converted) convert(hh, InputShape.PREFERENCE)).examples().get(0);
    assertEquals(4, h.messages().size());
    assertEquals("A joke?", h.messages().get(2).content());
    assertEquals("Why not.", h.messages().get(3).content());
    assertEquals("No.", ((Map<?, ?>) h.metadata().get(RecordConverter.PREFERENCE_KEY)).get("rejected"));

    io.instructflow.schemas.PreferencePair pair = new io.instructflow.schemas.PreferencePair(null, "Q", List.of(
        new io.instructflow.schemas.Message("user", "Q")), "good", "bad", List.of(), List.of(), 5, 3, 2, Map.of("model", "m"),
        Map.of(), Map.of(), new io.instructflow.schemas.Provenance(new io.instructflow.schemas.Origin("ds", "Apache-2.0",
            "p.jsonl:4", null, "candidates", null), List.of()));
    Example ours = ((Conversion.Converted) convert(Json.line(pair), InputShape.PREFERENCE)).examples().get(0);
    assertEquals("p.jsonl:4", ours.provenance().origin().location(), "our pair keeps its provenance");
    assertEquals("Apache-2.0", ours.provenance().origin().license());
    assertEquals(Map.of("model", "m"), ((Map<?, ?>) ours.metadata().get(RecordConverter.PREFERENCE_KEY)).get("chosen_info"));

    assertEquals(RejectReason.WRONG_TYPE, ((Conversion.Failed) convert("{\"prompt\": \"x\", \"chosen\": 5, \"rejected\": \"y\"}",
        InputShape.PREFERENCE)).reason());
    assertEquals(RejectReason.MISSING_FIELD, ((Conversion.Failed) convert("{\"chosen\": \"a\", \"rejected\": \"b\"}",
        InputShape.PREFERENCE)).reason());
  }
}
