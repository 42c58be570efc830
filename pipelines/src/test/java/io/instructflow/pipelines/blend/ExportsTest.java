package io.instructflow.pipelines.blend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each export shape, what cannot be said in it, the token estimate, and YAML specs. */
class ExportsTest {
  static final Provenance P = new Provenance(new Origin("t", "MIT", "t.jsonl:1", null, "alpaca", null), List.of());
  static final Example SINGLE = Example.single("Translate to French.", "Good morning", "Bonjour", Map.of(), P);
  static final Example CHAT = Example.chat(List.of(new Message("user", "Hi"), new Message("assistant", "Hello!")), Map.of(), P);
  static final Example MULTI = Example.chat(List.of(new Message("system", "Be brief."), new Message("user", "Hi"),
      new Message("assistant", "Hello!"), new Message("user", "Bye"), new Message("assistant", "Bye!")), Map.of(), P);
  static final Example TOOL = Example.chat(List.of(new Message("user", "Weather?"), new Message("tool", "{\"t\": 3}"),
      new Message("assistant", "3 degrees.")), Map.of(), P);

  @Test
  void eachFormatSaysWhatItCan() {
    assertEquals(Optional.of("{\"input\":\"Good morning\",\"instruction\":\"Translate to French.\",\"output\":\"Bonjour\"}"),
        Exports.line("alpaca", SINGLE));
    assertEquals(Optional.of("{\"input\":\"\",\"instruction\":\"Hi\",\"output\":\"Hello!\"}"), Exports.line("alpaca", CHAT));
    assertEquals(Optional.empty(), Exports.line("alpaca", MULTI), "a system turn and two exchanges are not a triple");
    assertEquals(Optional.of("{\"messages\":[{\"content\":\"Translate to French.\\n\\nGood morning\",\"role\":\"user\"},"
        + "{\"content\":\"Bonjour\",\"role\":\"assistant\"}]}"), Exports.line("messages", SINGLE));
    assertEquals(Optional.of("{\"conversations\":[{\"from\":\"system\",\"value\":\"Be brief.\"},{\"from\":\"human\",\"value\":\"Hi\"},"
        + "{\"from\":\"gpt\",\"value\":\"Hello!\"},{\"from\":\"human\",\"value\":\"Bye\"},{\"from\":\"gpt\",\"value\":\"Bye!\"}]}"),
        Exports.line("sharegpt", MULTI));
    assertEquals(Optional.empty(), Exports.line("sharegpt", TOOL), "ShareGPT has no tool role");
    assertTrue(Exports.line("messages", TOOL).isPresent());
    assertTrue(Exports.line("jsonl", MULTI).get().contains("\"provenance\""));
    assertEquals("json", Exports.extension("alpaca"));
    assertEquals("parquet", Exports.extension("parquet"));
    assertEquals("jsonl", Exports.extension("sharegpt"));
  }

  @Test
  void tokenEstimateCountsCjkCharactersAndFourOtherCharacters() {
    assertEquals(0, Tokens.of((String) null));
    assertEquals(2, Tokens.of("abcdefgh"));
    assertEquals(3, Tokens.of("abcdefghi"));
    assertEquals(4, Tokens.of("你好世界"));
    assertEquals(4, Tokens.of("你好 world"), "two CJK characters, then six others: 2 + 2 (rounded up)");
    assertEquals(Tokens.of("Translate to French.") + Tokens.of("Good morning") + Tokens.of("Bonjour"), Tokens.of(SINGLE));
  }

  @Test
  void yamlSpecsReadLikeJson(@TempDir Path dir) throws Exception {
    Path y = dir.resolve("mix.yaml");
    Files.writeString(y, "name: mix\ntarget: 100\nseed: 3\nvalidation: 0.1\nsources:\n  - path: data/a.jsonl\n    license: MIT\n"
        + "    weight: 2\n    cap: 50\n  - path: b.json\n    count: 20\n    upsample: true\nformats: [alpaca, parquet]\n");
    BlendSpec s = BlendSpec.read(y);
    assertEquals("mix", s.name());
    assertEquals(100L, s.target());
    assertEquals(List.of("alpaca", "parquet"), s.formats());
    assertEquals(dir.resolve("data/a.jsonl").toString(), s.sources().get(0).path(), "relative to the spec");
    assertEquals("a", s.sources().get(0).name(), "named after the file by default");
    assertEquals(50L, s.sources().get(0).cap());
    assertEquals(null, s.sources().get(1).license(), "no license: each record's own");
    assertTrue(s.sources().get(1).upsample());
    assertEquals("blend-spec.yaml", BlendPipeline.specFileName(s));
  }
}
