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
}
