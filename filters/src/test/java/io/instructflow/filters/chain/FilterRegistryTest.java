package io.instructflow.filters.chain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Verdict;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The per-record filters come from {@link FilterRegistry}: every built-in type is registered and reads
 * its config; a filter from outside (the test resources' services file registers {@link MaxTurnsFilter})
 * works in a chain with no code of the chain changed; two factories for one type, or a factory for a
 * type the chain reserves, are refused.
 */
class FilterRegistryTest {
  static final List<String> BUILT_IN = List.of("instruction_rules", "evol_elimination", "length", "keywords", "refusal",
      "repetition", "symbols", "echo", "code_fences", "pii", "language", "decontamination", "score_range");

  static Example chat(int userTurns) {
    List<Message> m = new java.util.ArrayList<>();
    for (int i = 0; i < userTurns; i++) {
      m.add(new Message("user", "第" + (i + 1) + "个问题：天空为什么是蓝色的？"));
      m.add(new Message("assistant", "Rayleigh scattering, turn " + (i + 1) + "."));
    }
    return Example.chat(m, Map.of(), new Provenance(new Origin("t", "unknown", "t.jsonl:1", null, "chat", null), List.of()));
  }

  @Test
  void everyBuiltInTypeIsRegisteredInOrderAndTheReservedOnesFollow() {
    List<String> types = FilterChain.types();
    // the built-in services file's order, with this module's test plugin wherever the classpath put it
    assertEquals(BUILT_IN, types.stream().filter(BUILT_IN::contains).toList());
    assertTrue(types.containsAll(FilterChain.RESERVED_TYPES), types.toString());
    assertEquals(FilterChain.RESERVED_TYPES, types.subList(types.size() - FilterChain.RESERVED_TYPES.size(), types.size()));
  }

  @Test
  void eachBuiltInFactoryMakesItsFilterFromAMinimalConfig() throws Exception {
    Map<String, String> minimal = Map.of("keywords", "{\"type\":\"keywords\",\"block\":[\"casino\"]}",
        "decontamination", "{\"type\":\"decontamination\"}");
    for (String type : BUILT_IN) {
      FilterFactory f = FilterRegistry.installed().factory(type).orElseThrow();
      assertEquals(type, f.type());
      JsonNode config = Json.mapper().readTree(minimal.getOrDefault(type, "{\"type\":\"" + type + "\"}"));
      try {
        assertEquals(type, f.create(config, "t").id(), type);
      } catch (IllegalArgumentException e) {
        // a filter whose minimal config needs more than its type says so, naming where
        assertTrue(e.getMessage().startsWith("t"), type + ": " + e.getMessage());
      }
    }
  }

  @Test
  void aFilterFromOutsideWorksInAChainWithNoSwitchToEdit() {
    assertTrue(FilterChain.types().contains(MaxTurnsFilter.TYPE));
    FilterChain c = FilterChain.parse("{\"name\":\"plugin\",\"filters\":[{\"type\":\"length\",\"minChars\":2},"
        + "{\"type\":\"max_turns\",\"max\":2}]}", "plugin.json");
    assertInstanceOf(MaxTurnsFilter.class, c.perRecord().get(1));
    assertEquals(Verdict.KEPT, c.run(chat(2)).verdict());
    Verdict.Dropped d = (Verdict.Dropped) c.run(chat(3)).verdict();
    assertEquals(MaxTurnsFilter.TOO_MANY, d.reason());
    assertEquals(3L, ((Number) d.details().get("turns")).longValue());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> FilterChain.parse("{\"filters\":[{\"type\":\"max_turns\",\"limit\":2}]}", "bad.json"));
    assertEquals("bad.json: filters[0]: unknown field 'limit', expected [type, max]", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> FilterChain.parse("{\"filters\":[{\"type\":\"max_turn\"}]}", "bad.json"));
    assertTrue(e.getMessage().startsWith("bad.json: filters[0]: unknown filter type 'max_turn', expected one of ["),
        e.getMessage());
    assertTrue(e.getMessage().contains("instruction_rules, evol_elimination, length, "), e.getMessage());
    assertTrue(e.getMessage().contains("max_turns"), e.getMessage());
  }

  @Test
  void twoFactoriesForOneTypeOrAReservedTypeAreRefused() {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> FilterRegistry.of(List.of(new MaxTurnsFilter.Factory(), new MaxTurnsFilter.Factory())));
    assertTrue(e.getMessage().startsWith("two filter factories for type 'max_turns'"), e.getMessage());
    FilterFactory rouge = new FilterFactory() {
      @Override
      public String type() {
        return "rouge_l";
      }

      @Override
      public RecordFilter create(JsonNode config, String at) {
        throw new AssertionError("never made");
      }
    };
    e = assertThrows(IllegalStateException.class, () -> FilterRegistry.of(List.of(rouge)));
    assertTrue(e.getMessage().endsWith("takes type 'rouge_l', which the chain reserves for its own rule"), e.getMessage());
  }
}
