package io.instructflow.filters.instruction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Verdict;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The rules against the decisions of an independent Python statement of the reference rules
 * ({@code src/test/python/reference_rules.py}): on hand-made edge cases (Unicode whitespace, word
 * boundaries, case folding, capitalization) and on every instruction of six ../shared files (20K
 * rows, English and Chinese).
 */
class InstructionRulesTest {
  private static final Map<Character, String> CODES = Map.of('k', "kept", 'e', InstructionRules.EMPTY_BLANK,
      'f', InstructionRules.TOO_FEW_WORDS, 'm', InstructionRules.TOO_MANY_WORDS, 'b', InstructionRules.BLOCKED_FOUND,
      'p', InstructionRules.PROGRAM_PREFIX, 'u', InstructionRules.FIRST_PUNCTUATION, 'n', InstructionRules.FIRST_NON_ASCII);

  static InstructionRules rules(String preset) {
    return preset.equals("alpaca") ? InstructionRules.alpaca() : InstructionRules.selfInstruct();
  }

  static String decide(InstructionRules r, String raw) {
    Verdict v = r.test(r.normalize(raw));
    return v instanceof Verdict.Dropped d ? d.reason() : "kept";
  }

  @ParameterizedTest
  @ValueSource(strings = {"self-instruct", "alpaca"})
  void matchesTheReferenceOnEdgeCases(String preset) throws Exception {
    InstructionRules r = rules(preset);
    int n = 0;
    try (InputStream in = getClass().getResourceAsStream("/InstructionRulesTest/expected-" + preset + ".jsonl");
        BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = lines.readLine()) != null) {
        JsonNode o = Json.mapper().readTree(line);
        String text = o.get("text").asText();
        assertEquals(o.get("decision").asText(), decide(r, text), "case " + o.get("case") + ": '" + text + "'");
        n++;
      }
    }
    assertEquals(77, n);
  }

  @ParameterizedTest
  @ValueSource(strings = {"self-instruct", "alpaca"})
  void matchesTheReferenceOnSharedData(String preset) throws Exception {
    Path shared = Paths.get(System.getProperty("instructflow.shared", "../../shared")).resolve("data");
    assumeTrue(Files.isDirectory(shared), "no ../shared/data");
    InstructionRules r = rules(preset);
    int rows = 0;
    int dropped = 0;
    try (InputStream in = getClass().getResourceAsStream("/InstructionRulesTest/shared-" + preset + ".txt");
        BufferedReader lines = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = lines.readLine()) != null) {
        if (line.startsWith("#")) {
          continue;
        }
        String[] parts = line.split("\t");
        List<String> texts = instructions(shared.resolve(parts[0]));
        assertEquals(parts[1].length(), texts.size(), parts[0]);
        for (int i = 0; i < texts.size(); i++) {
          String want = CODES.get(parts[1].charAt(i));
          String got = decide(r, texts.get(i));
          assertEquals(want, got, parts[0] + " #" + i + ": '" + texts.get(i) + "'");
          rows++;
          dropped += got.equals("kept") ? 0 : 1;
        }
      }
    }
    assertEquals(19_996, rows);
    assertTrue(dropped > 10_000, "the Chinese rows alone fail the word count: " + dropped);
  }

  private static List<String> instructions(Path file) throws Exception {
    List<String> out = new ArrayList<>();
    if (file.toString().endsWith(".jsonl")) {
      for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        if (!l.isBlank()) {
          out.add(Json.mapper().readTree(l).get("instruction").asText());
        }
      }
    } else {
      for (JsonNode o : Json.mapper().readTree(file.toFile())) {
        out.add(o.get("instruction").asText());
      }
    }
    return out;
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "Give three tips|instruction_words.too_few|words|3",
      "Describe the image in words.|blocked_word.found|word|image",
      "Where should I go to eat tonight?|blocked_word.found|word|go to",
      "Write a program to add two numbers.|write_a_program.prefix|prefix|write a program",
      "(a) Pick the odd one out of these.|first_character.punctuation|character|(",
      "Über alles: explain this phrase please.|first_character.non_ascii|character|Ü"})
  void eachReasonCarriesItsEvidence(String text, String reason, String key, String value) {
    Verdict.Dropped d = (Verdict.Dropped) InstructionRules.selfInstruct().test(InstructionRules.selfInstruct().normalize(text));
    assertEquals(reason, d.reason());
    assertEquals(reason.substring(0, reason.indexOf('.')), d.filter());
    assertEquals(value, String.valueOf(d.details().get(key)));
  }

  @org.junit.jupiter.api.Test
  void asciiFirstCanBeLiftedForNonEnglishPools() {
    InstructionRules r = InstructionRules.selfInstruct().withAsciiFirst(false);
    assertEquals("kept", decide(r, "Écrivez un poème de quatre vers sur la mer."));
    assertEquals(InstructionRules.FIRST_NON_ASCII, decide(InstructionRules.selfInstruct(), "Écrivez un poème de quatre vers sur la mer."));
  }

  @org.junit.jupiter.api.Test
  void normalizingCollapsesPythonWhitespaceOnlyForSelfInstruct() {
    assertEquals("a b c", InstructionRules.selfInstruct().normalize("\u00a0a \t\n b\u3000c\u0085"));
    assertEquals("a \t\n b", InstructionRules.alpaca().normalize("  a \t\n b \n"));
  }
}
