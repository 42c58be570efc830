package io.instructflow.filters.quality;

import static io.instructflow.filters.quality.QualityFiltersTest.reason;
import static io.instructflow.filters.quality.QualityFiltersTest.rec;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.pemistahl.lingua.api.Language;
import io.instructflow.filters.chain.FilterChain;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** Language identification with the real Lingua models: reasons, evidence, the confidence boundary, configs. */
class LanguageFilterTest {
  static final String EN = "Explain why the sky looks blue on a clear day.";
  static final String EN_OUT = "Sunlight is scattered by the molecules of the air, and blue light is scattered the most.";
  static final String ZH = "解释一下为什么晴天的天空是蓝色的。";
  static final String ZH_OUT = "阳光被空气中的分子散射，蓝光的散射最强，所以天空看起来是蓝色的。";
  static final String FR = "Expliquez pourquoi le ciel est bleu par une journée claire.";
  static final String DE = "Erklären Sie, warum der Himmel an einem klaren Tag blau aussieht.";

  @Test
  void keepsAllowedLanguagesAndDropsOthersNamingFieldAndLanguage() {
    LanguageFilter en = LanguageFilter.of(List.of("en"));
    assertEquals("kept", reason(en, rec(EN, EN_OUT)));
    Verdict.Dropped d = (Verdict.Dropped) en.test(rec(ZH, ZH_OUT));
    assertEquals(LanguageFilter.NOT_ALLOWED, d.reason());
    assertEquals("zh", d.details().get("detected"));
    assertEquals(List.of("en"), d.details().get("languages"));
    assertEquals(0.0, d.details().get("allowedConfidence"));
    assertEquals(0.75, d.details().get("minConfidence"));
    assertEquals(LanguageFilter.NOT_ALLOWED, reason(en, rec("Translate: " + ZH, ZH_OUT)), "the fields are identified together");
    LanguageFilter outputOnly = new LanguageFilter(List.of("en"), List.of(TextField.OUTPUT), 0.75, 400, false);
    assertEquals(LanguageFilter.NOT_ALLOWED, reason(outputOnly, rec(EN, ZH_OUT)));
    assertEquals("kept", reason(outputOnly, rec(ZH, EN_OUT)));

    LanguageFilter bilingual = LanguageFilter.of(List.of("zh", "EN"));
    assertEquals(List.of("en", "zh"), bilingual.languages(), "codes normalised and sorted");
    assertEquals("kept", reason(bilingual, rec(ZH, ZH_OUT)));
    assertEquals("kept", reason(bilingual, rec(EN, ZH_OUT)), "a translation pair between allowed languages");
    assertEquals("fr", ((Verdict.Dropped) bilingual.test(rec(FR, ""))).details().get("detected"));
    assertEquals("de", ((Verdict.Dropped) bilingual.test(rec(DE, ""))).details().get("detected"));
  }

  @Test
  void fieldsWithNothingToIdentifyAreNotJudged() {
    LanguageFilter en = LanguageFilter.of(List.of("en"));
    assertEquals("kept", reason(en, rec("220+120=?", "340")));
    assertEquals("kept", reason(en, rec(EN, "")));
    assertEquals("kept", reason(en, rec(EN, "```python\nprint('你好，世界，这是一段很长的中文字符串')\n```")),
        "fenced code is removed before identification");
    assertEquals("kept", reason(en, rec(EN, "Use `列表推导式` here: it is shorter and reads well in English.")));
    assertEquals(LanguageFilter.NOT_ALLOWED, reason(en, rec(ZH, "```js\nx()\n```\n" + ZH_OUT)), "prose around code still counts");
  }

  @Test
  void confidenceBoundaryIsInclusive() {
    String mixed = "Erklären Sie, warum der Himmel an einem klaren Tag blau aussieht.";
    Map<Language, Double> conf = LanguageFilter.detector(false).computeLanguageConfidenceValues(mixed);
    double en = conf.getOrDefault(Language.ENGLISH, 0.0);
    assertTrue(en > 0 && en < 1, "a text where English is neither certain nor absent: " + conf);
    Example e = rec(mixed, "");
    assertEquals("kept", reason(new LanguageFilter(List.of("en"), List.of(TextField.INSTRUCTION), en, 400, false), e));
    assertEquals(LanguageFilter.NOT_ALLOWED,
        reason(new LanguageFilter(List.of("en"), List.of(TextField.INSTRUCTION), Math.nextUp(en), 400, false), e));
  }

  @Test
  void samplesAreCutOnCodePointBoundaries() {
    LanguageFilter f = new LanguageFilter(List.of("zh"), List.of(TextField.OUTPUT), 0.5, 20, false);
    String s = f.sample("a".repeat(19) + "𠀀𠀀");
    assertEquals(19, s.length(), "a surrogate pair is never split");
    assertEquals(20, f.sample("x".repeat(50)).length());
  }

  @Test
  void sharedDetectorGivesTheSameVerdictsFromManyThreads() throws Exception {
    LanguageFilter f = LanguageFilter.of(List.of("en"));
    List<Example> recs = List.of(rec(EN, EN_OUT), rec(ZH, ZH_OUT), rec(FR, ""), rec(DE, DE), rec(ZH, EN_OUT));
    List<String> serial = new ArrayList<>();
    recs.forEach(r -> serial.add(reason(f, r)));
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<List<String>>> runs = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        runs.add(pool.submit(() -> {
          List<String> out = new ArrayList<>();
          for (int k = 0; k < 20; k++) {
            out.clear();
            recs.forEach(r -> out.add(reason(f, r)));
          }
          return out;
        }));
      }
      for (Future<List<String>> r : runs) {
        assertEquals(serial, r.get());
      }
    } finally {
      pool.shutdown();
    }
    assertEquals(List.of("kept", LanguageFilter.NOT_ALLOWED, LanguageFilter.NOT_ALLOWED, LanguageFilter.NOT_ALLOWED,
        "kept"), serial, "the last one is mostly English once its fields are joined");
  }

  @Test
  void chainConfigIsStrict() {
    FilterChain c = FilterChain.parse("{\"filters\":[{\"type\":\"language\",\"languages\":[\"zh\",\"en\"],"
        + "\"fields\":[\"output\"],\"minConfidence\":0.3,\"maxChars\":200,\"accuracy\":\"low\"}]}", "t");
    assertEquals(new LanguageFilter(List.of("en", "zh"), List.of(TextField.OUTPUT), 0.3, 200, false), c.perRecord().get(0));
    assertThrows(IllegalArgumentException.class, () -> FilterChain.parse("{\"filters\":[{\"type\":\"language\"}]}", "t"));
    assertThrows(IllegalArgumentException.class,
        () -> FilterChain.parse("{\"filters\":[{\"type\":\"language\",\"languages\":[\"klingon\"]}]}", "t"));
    assertThrows(IllegalArgumentException.class,
        () -> FilterChain.parse("{\"filters\":[{\"type\":\"language\",\"languages\":[\"en\"],\"accuracy\":\"max\"}]}", "t"));
    assertThrows(IllegalArgumentException.class,
        () -> FilterChain.parse("{\"filters\":[{\"type\":\"language\",\"languages\":[\"en\"],\"minConfidence\":0}]}", "t"));
    assertEquals("zh", LanguageFilter.language("Chinese").getIsoCode639_1().toString());
  }
}
