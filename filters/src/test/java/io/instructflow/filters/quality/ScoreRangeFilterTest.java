package io.instructflow.filters.quality;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.filters.chain.FilterChain;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Verdict;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The score_range rule (issue 22): keeps by stored score, every drop names the score, its value and the bound. */
class ScoreRangeFilterTest {
  static final Provenance P = new Provenance(new Origin("t", "unknown", "t.jsonl:1", null, "alpaca", null), List.of());

  /** A Chinese record with {@code metadata.scores.ifd} as the score command writes it (or nothing when null). */
  static Example scored(Object ifd) {
    Example e = Example.single("把这句话翻译成英文。", "我喜欢猫。", "I like cats.", Map.of(), P);
    if (ifd == null) {
      return e;
    }
    Map<String, Object> s = new LinkedHashMap<>();
    s.put("value", ifd);
    s.put("model", Map.of("id", "stories260K.gguf"));
    return e.withMetadata("scores", Map.of("ifd", s));
  }

  @ParameterizedTest(name = "ifd {0} in min {1} max {2} exclusive {3}: {4}")
  @CsvSource({
    "0.5, , 1.0, true, kept",
    "0.999, , 1.0, true, kept",
    "1.0, , 1.0, true, score_range.above_max",
    "1.0, , 1.0, false, kept",
    "1.7, , 1.0, false, score_range.above_max",
    "0.05, 0.1, 1.0, true, score_range.below_min",
    "0.1, 0.1, 1.0, true, kept",
    "3.2, 2, , false, kept",
  })
  void keepsByRange(double value, Double min, Double max, boolean exclusive, String expected) {
    Verdict v = new ScoreRangeFilter("ifd", min, max, exclusive).test(scored(value));
    if (expected.equals("kept")) {
      assertEquals(Verdict.KEPT, v);
      return;
    }
    Verdict.Dropped d = (Verdict.Dropped) v;
    assertEquals("score_range", d.filter());
    assertEquals(expected, d.reason());
    assertEquals("ifd", d.details().get("score"));
    assertEquals(value, d.details().get("value"));
    assertEquals(expected.endsWith("above_max") ? max : min,
        d.details().get(expected.endsWith("above_max") ? "max" : "min"), "the drop names its bound");
  }

  @Test
  void aRecordWithoutTheScoreDropsAsMissing() {
    ScoreRangeFilter f = new ScoreRangeFilter("ifd", null, 1.0, true);
    for (Example e : List.of(scored(null), scored("0.4"), scored(Double.NaN),
        scored(0.4).withMetadata("scores", Map.of("quality", Map.of("value", 4.0))))) {
      Verdict.Dropped d = (Verdict.Dropped) f.test(e);
      assertEquals(ScoreRangeFilter.MISSING, d.reason());
      assertEquals("ifd", d.details().get("score"));
    }
    // a plain number under the name counts too
    Map<String, Object> plain = new HashMap<>();
    plain.put("ifd", 0.4);
    assertEquals(Verdict.KEPT, f.test(scored(null).withMetadata("scores", plain)));
  }

  @Test
  void theRuleParsesInAChainAndRejectsBadSettings() {
    FilterChain c = FilterChain.parse("{\"name\":\"ifd\",\"filters\":[{\"type\":\"score_range\",\"score\":\"ifd\","
        + "\"max\":1.0,\"maxExclusive\":true},{\"type\":\"score_range\",\"score\":\"quality\",\"min\":3.5}]}", "t");
    assertEquals(2, c.perRecord().size());
    Example good = scored(0.6).withMetadata("scores", Map.of("ifd", Map.of("value", 0.6), "quality", Map.of("value", 4.1)));
    assertEquals(Verdict.KEPT, c.run(good).verdict());
    Example poor = scored(0.6).withMetadata("scores", Map.of("ifd", Map.of("value", 0.6), "quality", Map.of("value", 2.0)));
    assertEquals(ScoreRangeFilter.BELOW_MIN, ((Verdict.Dropped) c.run(poor).verdict()).reason());
    for (String bad : List.of("{\"type\":\"score_range\",\"score\":\"ifd\"}",
        "{\"type\":\"score_range\",\"max\":1}",
        "{\"type\":\"score_range\",\"score\":\"IFD!\",\"max\":1}",
        "{\"type\":\"score_range\",\"score\":\"ifd\",\"min\":2,\"max\":1}",
        "{\"type\":\"score_range\",\"score\":\"ifd\",\"max\":\"1\"}",
        "{\"type\":\"score_range\",\"score\":\"ifd\",\"max\":1,\"maxExclusive\":\"yes\"}",
        "{\"type\":\"score_range\",\"score\":\"ifd\",\"max\":1,\"bound\":2}")) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> FilterChain.parse("{\"filters\":[" + bad + "]}", "cfg"), bad);
      assertTrue(e.getMessage().startsWith("cfg: filters[0]"), e.getMessage());
    }
  }
}
