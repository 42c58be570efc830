package io.instructflow.filters.quality;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.filters.chain.RecordFilter;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Each heuristic filter, each reason, the boundaries of the thresholds, and their chain configs. */
class QualityFiltersTest {
  static final Provenance P = new Provenance(new Origin("t", "unknown", "t.jsonl:1", null, "alpaca", null), List.of());

  static Example rec(String instruction, String output) {
    return Example.single(instruction, null, output, Map.of(), P);
  }

  static String reason(RecordFilter f, Example e) {
    Verdict v = f.test(e);
    return v instanceof Verdict.Dropped d ? d.reason() : "kept";
  }

  static String words(int n) {
    return "w ".repeat(n).trim();
  }

  @Test
  void lengthBoundsAreInclusive() {
    LengthFilter f = new LengthFilter(TextField.OUTPUT, 3, 5, 0, 0);
    assertEquals(LengthFilter.TOO_FEW_WORDS, reason(f, rec("i", words(2))));
    assertEquals("kept", reason(f, rec("i", words(3))));
    assertEquals("kept", reason(f, rec("i", words(5))));
    assertEquals(LengthFilter.TOO_MANY_WORDS, reason(f, rec("i", words(6))));
    LengthFilter c = new LengthFilter(TextField.INSTRUCTION, 0, 0, 4, 6);
    assertEquals(LengthFilter.TOO_FEW_CHARS, reason(c, rec("春眠不", "o")), "three code points");
    assertEquals("kept", reason(c, rec("春眠不觉", "o")));
    assertEquals("kept", reason(c, rec("春眠不觉晓处", "o")));
    assertEquals(LengthFilter.TOO_MANY_CHARS, reason(c, rec("春眠不觉晓处处", "o")));
    Verdict.Dropped d = (Verdict.Dropped) f.test(rec("i", words(2)));
    assertEquals(Map.of("field", "output", "value", 2, "limit", 3), d.details());
    assertThrows(IllegalArgumentException.class, () -> new LengthFilter(TextField.OUTPUT, 5, 3, 0, 0));
  }

  @Test
  void keywordsBlockWholeWordsAndAllowLists() {
    KeywordFilter f = new KeywordFilter(List.of(TextField.INSTRUCTION, TextField.OUTPUT), List.of("bitcoin", "buy now"), List.of());
    assertEquals(KeywordFilter.BLOCKED, reason(f, rec("Should I invest in BITCOIN?", "no")));
    assertEquals(KeywordFilter.BLOCKED, reason(f, rec("Ad", "Buy  now!".replace("  ", " "))));
    assertEquals("kept", reason(f, rec("Explain bitcoins mining", "ok")), "whole words only");
    KeywordFilter allow = new KeywordFilter(List.of(TextField.INSTRUCTION), List.of(), List.of("python", "java"));
    assertEquals("kept", reason(allow, rec("Write Java code", "x")));
    assertEquals(KeywordFilter.NONE_ALLOWED, reason(allow, rec("Write a poem", "x")));
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "As an AI language model, I cannot have opinions.|refusal.phrase",
      "I’m unable to browse the internet.|refusal.phrase",
      "I'm sorry, but I can't help with that request.|refusal.phrase",
      "作为一个人工智能，我不能回答。|refusal.phrase",
      "Paris is the capital of France.|kept",
      "I'm sorry to hear that; here are three tips to sleep better.|kept",
      "Hi, I am an aide to the mayor.|kept",
      "Yes. I am an AI assistant built to help.|refusal.phrase"})
  void refusals(String output, String want) {
    assertEquals(want, reason(RefusalFilter.fromJson(com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode(),
        "t"), rec("Q", output)));
  }

  @Test
  void gopherRepetition() {
    RepetitionFilter g = RepetitionFilter.gopher(TextField.OUTPUT);
    String tenLines3Dup = "a1\na2\na3\na4\na5\na6\na7\na1\na2\na3";
    RepetitionFilter linesOnly = new RepetitionFilter(TextField.OUTPUT, 0.30, 1.0, List.of(1.0, 1.0, 1.0),
        List.of(1.0, 1.0, 1.0, 1.0, 1.0, 1.0), 0);
    assertEquals("kept", reason(linesOnly, rec("i", tenLines3Dup)), "3 of 10 lines repeat: 0.30 is not above 0.30");
    assertEquals(RepetitionFilter.DUPLICATE_LINE_CHARS, reason(g, rec("i", tenLines3Dup)), "their characters: 0.30 > 0.20");
    String tenLines4Dup = "a1\na2\na3\na4\na5\na6\na1\na2\na3\na4";
    assertEquals(RepetitionFilter.DUPLICATE_LINES, reason(linesOnly, rec("i", tenLines4Dup)));
    assertEquals(RepetitionFilter.DUPLICATE_LINES, reason(g, rec("i", tenLines4Dup)), "the line rule comes first");
    assertEquals(RepetitionFilter.DUPLICATE_LINE_CHARS, reason(g,
        rec("i", "x".repeat(300) + "\nb\nc\nd\ne\nf\ng\nh\ni\nj\n" + "x".repeat(300))));
    assertEquals(RepetitionFilter.TOP_NGRAM, reason(g,
        rec("i", "buy cheap buy cheap buy cheap and more words to read here now then")));
    assertEquals("kept", reason(g, rec("i", "Paris.")), "a short answer without repeats");
    assertEquals("kept", reason(g, rec("i", "The capital of France is Paris.")));
    String repeated = "the quick brown fox jumps over the lazy dog";
    String text = repeated + " and then " + repeated + " again while another unrelated sentence follows for contrast here";
    Verdict.Dropped d = (Verdict.Dropped) g.test(rec("i", text));
    assertTrue(d.reason().equals(RepetitionFilter.DUPLICATE_NGRAMS) || d.reason().equals(RepetitionFilter.TOP_NGRAM), d.toString());
    String essay = "Rivers shape valleys over long periods. Glaciers carve deeper channels in colder climates. "
        + "Wind moves sand across deserts and builds dunes. Waves erode cliffs along coastlines every year.";
    assertEquals("kept", reason(g, rec("i", essay)));
    assertEquals(0.5, RepetitionFilter.duplicateNgramFraction(List.of("a", "b", "a", "b"), 2, 4), 1e-9);
    assertEquals(1.0, RepetitionFilter.topNgramFraction(List.of("a", "b", "a", "b"), 2, 4), 1e-9);
    assertEquals(1.0, RepetitionFilter.topNgramFraction(List.of("0", "0", "0", "0", "0"), 2, 5), 1e-9, "overlaps count once");
    assertEquals(0.0, RepetitionFilter.topNgramFraction(List.of("a", "b", "c"), 2, 3), 1e-9, "no repeat, no share");
    RepetitionFilter longOnly = new RepetitionFilter(TextField.OUTPUT, 0.30, 0.20, RepetitionFilter.GOPHER_TOP,
        RepetitionFilter.GOPHER_DUPLICATE, 50);
    assertEquals("kept", reason(longOnly, rec("i", tenLines4Dup)), "10 words: not measured under minWords 50");
    assertEquals(RepetitionFilter.DUPLICATE_LINES, reason(longOnly, rec("i", (tenLines4Dup + "\n").repeat(5))));
  }

  @Test
  void symbols() {
    SymbolFilter f = SymbolFilter.fromJson(com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode(), "t");
    assertEquals(SymbolFilter.NON_ALPHANUMERIC, reason(f, rec("i", "!!!! ???? ---- **** ok ok")));
    assertEquals(SymbolFilter.SYMBOL_WORD, reason(f, rec("i", "# Title\n## Part one text\n## Part two text here and more words")));
    assertEquals("kept", reason(f, rec("i", "!!!")), "too short to measure");
    assertEquals("kept", reason(f, rec("i", "A normal sentence, with commas; and a period.")));
    assertEquals("kept", reason(f, rec("i", "我们的冰沙由最新鲜的水果制成，立即购买！#冰沙")), "CJK characters count as words");
    assertEquals(15, SymbolFilter.words("我们的冰沙由 最新鲜的水果 制成 ok"));
  }

  @Test
  void echoes() {
    EchoFilter f = new EchoFilter(0.9);
    assertEquals(EchoFilter.REPEATS, reason(f, rec("Name three rivers in Asia.", "Name three rivers in Asia")));
    assertEquals("kept", reason(f, rec("Name three rivers in Asia.", "The Yangtze, the Mekong and the Ganges.")));
    assertEquals("kept", reason(f, rec("Name three rivers in Asia.", null)));
    assertEquals(EchoFilter.REPEATS, reason(f, rec("写一首关于秋天的诗", "写一首关于秋天的诗")));
  }

  @Test
  void codeFences() {
    CodeFenceFilter f = new CodeFenceFilter();
    assertEquals(CodeFenceFilter.UNBALANCED, reason(f, rec("i", "```python\nprint(1)\n")));
    assertEquals("kept", reason(f, rec("i", "```python\nprint(1)\n```")));
    assertEquals(CodeFenceFilter.UNBALANCED, reason(f, rec("i", "````\nx\n```\n```")));
    assertEquals("kept", reason(f, rec("i", "no code")));
  }

  @Test
  void piiDropAndRedact() {
    PiiFilter drop = new PiiFilter(false);
    assertEquals(PiiFilter.EMAIL, reason(drop, rec("Mail jane.doe@example.com", "ok")));
    assertEquals(PiiFilter.PHONE, reason(drop, rec("Call +1 415-555-0132 now", "ok")));
    assertEquals(PiiFilter.IPV4, reason(drop, rec("Ping 192.168.10.4 please", "ok")));
    assertEquals(PiiFilter.CARD, reason(drop, rec("Card 4111 1111 1111 1111", "ok")));
    assertEquals("kept", reason(drop, rec("Card 4111 1111 1111 1112 fails Luhn", "ok")));
    assertEquals("kept", reason(drop, rec("In 1999 there were 365 days and 12 months.", "Version 3.10 of it")));
    assertEquals("kept", reason(drop, rec("Release 1.2.3.4.5 is out", "ok")), "not an address inside a longer dotted run");
    assertEquals("kept", reason(drop, rec("Call 555-0132", "ok")), "7 digits is not a full number");
    Verdict.Dropped d = (Verdict.Dropped) drop.test(rec("a@b.co and c@d.org", "ok"));
    assertEquals(Map.of("email", 2), d.details(), "counts, never the values");
    assertTrue(PiiFilter.luhn("4012888888881881"));
    assertTrue(PiiFilter.luhn("5555555555554444"));
    assertFalse(PiiFilter.luhn("4111111111111112"));
    assertFalse(PiiFilter.luhn("79927398713"), "Luhn-valid but too short for a card");

    PiiFilter red = new PiiFilter(true);
    Example e = rec("Write to jane@example.com or call 020 7946 0958.", "Card 4111-1111-1111-1111, host 10.0.0.1.");
    assertEquals(Verdict.KEPT, red.test(e));
    Example r = red.rewrite(e);
    assertEquals("Write to <EMAIL> or call <PHONE>.", r.instruction());
    assertEquals("Card <CARD>, host <IP>.", r.output());
    assertNotEquals(e.id(), r.id());
    assertEquals(r.computedId(), r.id());
    Step s = r.provenance().steps().get(r.provenance().steps().size() - 1);
    assertEquals(PiiFilter.STEP, s.name());
    assertEquals(List.of(e.id()), s.parents());
    assertEquals(Map.of("email", 1, "phone", 1, "credit_card", 1, "ipv4", 1), s.parameters());
    Example clean = rec("Nothing personal here.", "ok");
    assertEquals(clean, red.rewrite(clean));
    Example chat = Example.chat(List.of(new Message("user", "my mail is a@b.co"), new Message("assistant", "noted")), Map.of(), P);
    assertEquals("my mail is <EMAIL>", red.rewrite(chat).messages().get(0).content());
  }

  @Test
  void chainConfigsOfTheHeuristics() {
    FilterChain c = FilterChain.parse("{\"name\":\"h\",\"filters\":["
        + "{\"type\":\"length\",\"field\":\"output\",\"minWords\":2},"
        + "{\"type\":\"pii\",\"mode\":\"redact\"},"
        + "{\"type\":\"refusal\"},{\"type\":\"repetition\"},{\"type\":\"symbols\"},{\"type\":\"echo\"},"
        + "{\"type\":\"code_fences\"},{\"type\":\"keywords\",\"block\":[\"casino\"]}]}", "h.json");
    FilterChain.Result r = c.run(rec("Email me at x@y.io about rivers.", "Rivers flow to the sea."));
    assertEquals(Verdict.KEPT, r.verdict());
    assertEquals("Email me at <EMAIL> about rivers.", r.record().instruction());
    assertEquals(LengthFilter.TOO_FEW_WORDS, ((Verdict.Dropped) c.run(rec("Q here", "Yes")).verdict()).reason());
    assertEquals(KeywordFilter.BLOCKED, ((Verdict.Dropped) c.run(rec("Best casino tips?", "Do not gamble.")).verdict()).reason());
    for (String bad : List.of("{\"type\":\"length\",\"minWords\":-1}", "{\"type\":\"length\",\"field\":\"title\"}",
        "{\"type\":\"pii\",\"mode\":\"hide\"}", "{\"type\":\"echo\",\"threshold\":2}", "{\"type\":\"symbols\",\"x\":1}",
        "{\"type\":\"keywords\"}", "{\"type\":\"repetition\",\"topNgram\":[0.1]}", "{\"type\":\"refusal\",\"phrases\":[\"\"]}")) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> FilterChain.parse("{\"filters\":[" + bad + "]}", "bad.json"), bad);
      assertTrue(e.getMessage().startsWith("bad.json: filters[0]"), e.getMessage());
    }
    assertFalse(FilterChain.types().isEmpty());
  }
}
