package io.instructflow.filters.rouge;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Pins the tokenizers; the {@code rouge} cases are what Google's rouge_score tokenize() returns. */
class TokenizerTest {
  private static List<String> split(String s) {
    return s.isEmpty() ? List.of() : Arrays.asList(s.split(" "));
  }

  @ParameterizedTest(name = "rouge: {0}")
  @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
      "Hello, World! 123abc|hello world 123abc",
      "It's a dog's life.|it s a dog s life",
      "e-mail under_score  dots.and/slashes|e mail under score dots and slashes",
      "café au lait|caf au lait",
      "GPT-4 模型 v2.0|gpt 4 v2 0",
      "\u212Aelvin sign|kelvin sign",
      "İstanbul|i stanbul",
  })
  void rougeDefault(String text, String expected) {
    assertEquals(split(expected), new RougeTokenizer(false).tokens(text));
  }

  @Test
  void rougeDropsNonAsciiAndWhitespace() {
    RougeTokenizer t = new RougeTokenizer(false);
    assertEquals(List.of(), t.tokens("用中文写一首短诗"));
    assertEquals(List.of(), t.tokens("   \t\n "));
    assertEquals(List.of("tabs", "and", "newlines"), t.tokens("tabs\tand\nnewlines"));
  }

  @ParameterizedTest(name = "rouge+stem: {0}")
  @CsvSource(delimiter = '|', value = {
      "Running dogs are happily jumping|run dog are happili jump",
      "the cats was generalization|the cat was gener",
      "caresses ponies ties|caress poni ti",
  })
  void rougeStemmed(String text, String expected) {
    assertEquals(split(expected), new RougeTokenizer(true).tokens(text));
  }

  @ParameterizedTest(name = "unicode: {0}")
  @CsvSource(delimiter = '|', value = {
      "用中文写一首短诗|用 中 文 写 一 首 短 诗",
      "日本語のテキスト|日 本 語 の テ キ ス ト",
      "한국어 문장|한 국 어 문 장",
      "Hello, World! 123abc|hello world 123abc",
      "ｆｕｌｌｗｉｄｔｈ ＡＢＣ|fullwidth abc",
      "naïve café|naïve café",
      "GPT-4 模型|gpt 4 模 型",
      "Привет, мир|привет мир",
      "नमस्ते दुनिया|नमस्ते दुनिया",
  })
  void unicode(String text, String expected) {
    assertEquals(split(expected), new UnicodeTokenizer(false).tokens(text));
  }

  @ParameterizedTest(name = "unicode equals rouge on ASCII: {0}")
  @CsvSource(delimiter = '|', value = {
      "Give three tips for staying healthy.",
      "Rewrite the sentence in passive voice: 'The cat chased 2 mice.'",
  })
  void unicodeAgreesWithRougeOnAscii(String text) {
    assertEquals(new RougeTokenizer(true).tokens(text), new UnicodeTokenizer(true).tokens(text));
  }
}
