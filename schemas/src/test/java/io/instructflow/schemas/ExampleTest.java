package io.instructflow.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ExampleTest {
  private static Provenance prov() {
    return new Provenance(new Origin("d", "MIT", "f.jsonl:1", null, "alpaca", null),
        List.of(Step.of("import", "1", Map.of("format", "alpaca"), Verdict.KEPT, null)));
  }

  @Test
  void jsonRoundTripIsExactAndDeterministic() {
    Example e = Example.single("Name a colour.", "", "Blue", Map.of("b", 2, "a", List.of("x")), prov())
        .withStep(new Step("filter", "1", Map.of("min", 3), new Verdict.Dropped("min_words", "min_words.too_short",
            Map.of("words", 2, "min", 3)), List.of("abc"), null,
            new ModelRef("m.gguf", "0".repeat(64), "llama.cpp"), new PromptRef("t@1", "ff"), 42L));
    String json = Json.line(e);
    Example back = Json.parse(json, Example.class);
    assertEquals(e, back);
    assertEquals(json, Json.line(back));
    assertTrue(json.indexOf("\"a\"") < json.indexOf("\"b\""), "metadata keys sorted: " + json);
    assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, e));
  }

  @Test
  void chatRecordsCarryMessagesOnly() {
    Example c = Example.chat(List.of(new Message("user", "你好"), new Message("assistant", "您好")), Map.of(), prov());
    assertTrue(c.isChat());
    assertEquals("你好", c.instructionText());
    assertEquals("您好", c.outputText().orElseThrow());
    assertEquals(List.of(), Schemas.errors(Schemas.Kind.EXAMPLE, c));
    assertEquals(c, Json.parse(Json.line(c), Example.class));
    assertThrows(IllegalArgumentException.class,
        () -> new Example(c.id(), "x", null, null, c.messages(), Map.of(), prov()));
  }

  @Test
  void invariantsAreCheckedWithTheBadValue() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Example.single("  ", null, null, Map.of(), prov()));
    assertTrue(e.getMessage().contains("'  '"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new Message("narrator", "x"));
    assertThrows(IllegalArgumentException.class, () -> new Origin("d", " ", "f:1", null, "alpaca", null));
  }

  @Test
  void idDependsOnContentOnly() {
    Example a = Example.single("Name a colour.", null, "Blue", Map.of(), prov());
    Example b = Example.single("Name a colour.", "", "Blue", Map.of("x", 1),
        new Provenance(new Origin("other", "CC-BY-4.0", "g.json#4", "r1", "alpaca", "v2"), List.of()));
    assertEquals(a.id(), b.id(), "absent and empty input hash alike; origin and metadata are not hashed");
    assertEquals(a.id(), Example.single("  Name a colour.\n", null, "Blue ", Map.of(), prov()).id(), "outer whitespace ignored");
    assertNotEquals(a.id(), Example.single("Name a colour!", null, "Blue", Map.of(), prov()).id());
    assertNotEquals(a.id(), Example.single("Name a colour.", "Blue", null, Map.of(), prov()).id(), "fields are not interchangeable");
    // NFC: "é" precomposed and as e + combining accent are one id
    assertEquals(Example.single("caf\u00e9", null, null, Map.of(), prov()).id(),
        Example.single("cafe\u0301", null, null, Map.of(), prov()).id());
    assertEquals(Ids.ID_HEX_CHARS, a.id().length());
  }

  @Test
  void idIsPinned() {
    // A change here changes every id ever written: bump the version tag in Ids instead.
    assertEquals("16d02f9cc1aeb2571c8abdc8", Ids.contentId("A good first line.", "", "ok", List.of()));
  }

  @Test
  void rejectKeepsAPrefixOfTheRawText() {
    byte[] raw = "é".repeat(3000).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    Reject r = Reject.of("a.jsonl", "a.jsonl:3", RejectReason.INVALID_JSON, "bad", "import", raw, raw.length);
    assertEquals(Reject.MAX_RAW_CHARS, r.raw().length());
    assertTrue(r.rawTruncated());
    assertEquals(6000, r.rawBytes());
    assertEquals(List.of(), Schemas.errors(Schemas.Kind.REJECT, r));
  }

  @Test
  void runSummaryValidates() {
    RunSummary s = new RunSummary("import", "ok", "DirectRunner", Instant.parse("2026-01-02T03:04:05Z").toString(),
        List.of(new RunSummary.StageTime("read", 12)), new RunSummary.Counts(5, 3, 1, 1),
        Map.of("dedup", Map.of("dedup.rouge_l", 1L)),
        Map.of("dedup", Map.of("dedup.rouge_l", List.of(Map.of("id", "ab12", "location", "a.jsonl:3", "text", "Write a poem",
            "evidence", Map.of("score", 0.8))))), Map.of("invalid_json", 1L), true, 0, List.of("a.jsonl"),
        Map.of("data", "1 shard"), Map.of("in", "a.jsonl"), Map.of("java", "17"),
        Map.of("generate", Map.of("requests", 5L)), List.of());
    assertTrue(s.counts().reconciles());
    assertEquals(List.of(), Schemas.errors(Schemas.Kind.RUN_SUMMARY, s));
    assertTrue(!Schemas.errors(Schemas.Kind.RUN_SUMMARY, Json.tree(Map.of("command", "x"))).isEmpty());
  }
}
