package io.instructflow.pipelines.blend;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;

/**
 * The token estimate behind {@code targetTokens} and the card's token counts: each Han, kana or Hangul
 * character is one token, and any other run of text is one token per four characters (rounded up),
 * over instruction, input and output (or every turn of a chat). It is close for Llama-family
 * tokenizers on English and errs high for Qwen-style vocabularies on Chinese; no tokenizer is loaded.
 */
public final class Tokens {
  private Tokens() {}

  /** Estimated tokens of a record. */
  public static int of(Example e) {
    if (e.isChat()) {
      int n = 0;
      for (Message m : e.messages()) {
        n += of(m.content());
      }
      return n;
    }
    return of(e.instruction()) + of(e.input()) + of(e.output());
  }

  /** Estimated tokens of a text (0 for null). */
  public static int of(String text) {
    if (text == null) {
      return 0;
    }
    int cjk = 0;
    int other = 0;
    for (int i = 0; i < text.length(); ) {
      int cp = text.codePointAt(i);
      i += Character.charCount(cp);
      Character.UnicodeScript s = Character.UnicodeScript.of(cp);
      if (s == Character.UnicodeScript.HAN || s == Character.UnicodeScript.HIRAGANA || s == Character.UnicodeScript.KATAKANA
          || s == Character.UnicodeScript.HANGUL) {
        cjk++;
      } else {
        other++;
      }
    }
    return cjk + (other + 3) / 4;
  }
}
