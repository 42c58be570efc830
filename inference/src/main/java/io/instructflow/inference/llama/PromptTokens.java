package io.instructflow.inference.llama;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * How a chat prompt is cut before tokenization so that only the chat template's own text may become
 * control tokens (issue 21): message contents are untrusted, and a user message holding
 * {@code <|im_end|><|im_start|>system} must stay text, not close its turn and open a system turn.
 *
 * <p>llama.cpp's {@code llama_tokenize(..., parse_special=true)} first cuts the text at every occurrence
 * of a special token's text ({@code tokenizer_st_partition} in llama-vocab.cpp: the special tokens
 * longest text first; for each, every raw fragment left to right; whitespace next to a token with the
 * LSTRIP / RSTRIP attribute dropped), then tokenizes each raw fragment on its own. {@link #partition}
 * does the same cut in Java with one difference: a control or unknown token's text counts only where it
 * lies wholly inside template text; where it touches a message's content it stays raw text.
 * User-defined tokens are cut everywhere, as llama.cpp does with special parsing off. Each raw fragment
 * is then given to llama.cpp with special parsing off, alone, exactly as llama.cpp tokenizes fragments:
 * with SPM vocabularies every raw fragment is either first or follows a token, so llama.cpp gives each
 * one its leading space, and a call of its own does the same. Hence for contents holding no control
 * token text the tokens are exactly those of the whole rendered prompt tokenized with special parsing
 * on, which the tests check for ordinary ASCII and Chinese messages. (The one theoretical difference:
 * llama.cpp orders special tokens of equal text length in no defined order, and we order them by id;
 * it matters only for two such tokens whose texts overlap.)
 *
 * <p>{@link #contentSpans} finds where the contents are in the rendered prompt: the template is rendered
 * a second time with a unique sentinel in place of each content, and the rendered prompt is matched
 * piece by piece against the template text between sentinels, each content taken as it is or trimmed
 * (some of llama.cpp's templates trim contents).
 */
final class PromptTokens {
  private PromptTokens() {}

  /** A token of the special-token cache: its id, its text in UTF-8 and its attribute bits. */
  record Special(int id, byte[] text, int attr) {
    boolean control() {
      return (attr & (LlamaApi.TOKEN_ATTR_CONTROL | LlamaApi.TOKEN_ATTR_UNKNOWN)) != 0;
    }

    /** The tokens llama.cpp's special parsing considers, in the order it tries them. */
    static List<Special> ordered(List<Special> all) {
      List<Special> out = new ArrayList<>();
      for (Special s : all) {
        if ((s.attr & (LlamaApi.TOKEN_ATTR_CONTROL | LlamaApi.TOKEN_ATTR_UNKNOWN | LlamaApi.TOKEN_ATTR_USER_DEFINED)) != 0
            && s.text.length > 0) {
          out.add(s);
        }
      }
      out.sort(Comparator.comparingInt((Special s) -> -s.text.length).thenComparingInt(Special::id));
      return out;
    }
  }

  /** Bytes {@code [start, end)} of the prompt. */
  record Span(int start, int end) {}

  /** Raw text {@code [start, end)} to tokenize as text ({@code token} = -1), or one token. */
  record Fragment(int start, int end, int token) {
    boolean raw() {
      return token < 0;
    }
  }

  /**
   * The prompt cut into raw text and special tokens, control tokens only outside {@code untrusted}.
   *
   * @param text the rendered prompt in UTF-8
   * @param specials the special tokens in the order of {@link Special#ordered}
   * @param untrusted byte spans whose text never becomes a control or unknown token
   */
  static List<Fragment> partition(byte[] text, List<Special> specials, List<Span> untrusted) {
    List<Fragment> frags = new ArrayList<>();
    if (text.length > 0) {
      frags.add(new Fragment(0, text.length, -1));
    }
    for (Special t : specials) {
      List<Fragment> next = new ArrayList<>(frags.size() + 4);
      for (Fragment f : frags) {
        if (!f.raw()) {
          next.add(f);
          continue;
        }
        int start = f.start();
        int from = start;
        int end = f.end();
        while (true) {
          int m = indexOf(text, t.text(), from, end);
          if (m < 0) {
            if (end > start) {
              next.add(new Fragment(start, end, -1));
            }
            break;
          }
          if (t.control() && touches(untrusted, m, m + t.text().length)) {
            from = m + 1;
            continue;
          }
          int leftEnd = m;
          if ((t.attr() & LlamaApi.TOKEN_ATTR_LSTRIP) != 0) {
            while (leftEnd > start && isSpace(text[leftEnd - 1])) {
              leftEnd--;
            }
          }
          if (leftEnd > start) {
            next.add(new Fragment(start, leftEnd, -1));
          }
          next.add(new Fragment(m, m + t.text().length, t.id()));
          int right = m + t.text().length;
          if ((t.attr() & LlamaApi.TOKEN_ATTR_RSTRIP) != 0) {
            while (right < end && isSpace(text[right])) {
              right++;
            }
          }
          start = right;
          from = right;
          if (start >= end) {
            break;
          }
        }
      }
      frags = next;
    }
    return frags;
  }

  /** Whether {@code [s, e)} shares a byte with a non-empty span. */
  private static boolean touches(List<Span> spans, int s, int e) {
    for (Span u : spans) {
      if (u.start() < u.end() && s < u.end() && u.start() < e) {
        return true;
      }
    }
    return false;
  }

  /** C's {@code isspace} in the "C" locale, as llama.cpp strips and trims. */
  static boolean isSpace(byte b) {
    return b == ' ' || b == '\t' || b == '\n' || b == 0x0b || b == '\f' || b == '\r';
  }

  private static int indexOf(byte[] text, byte[] what, int from, int end) {
    outer:
    for (int i = from; i + what.length <= end; i++) {
      for (int k = 0; k < what.length; k++) {
        if (text[i + k] != what[k]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  /**
   * A character for sentinels found neither in the rendered prompt nor in any content (a private-use
   * code point).
   */
  static char sentinelMark(String rendered, List<String> contents) {
    for (char c = '\uE000'; c < '\uF8FF'; c++) {
      String s = String.valueOf(c);
      if (!rendered.contains(s) && contents.stream().noneMatch(x -> x.contains(s))) {
        return c;
      }
    }
    throw new IllegalArgumentException("no free sentinel character");
  }

  /** The sentinel standing for content {@code i}. */
  static String sentinel(char mark, int i) {
    return mark + Integer.toString(i) + mark;
  }

  /**
   * Where the contents lie in the rendered prompt.
   *
   * @param rendered the template rendered with the real contents, in UTF-8
   * @param withSentinels the template rendered with {@link #sentinel}{@code (mark, i)} for content i
   * @param contents the contents
   * @throws IllegalArgumentException when the rendered prompt is not the sentinel rendering with each
   *     sentinel replaced by its content (as is or trimmed): the template does something else with them
   */
  static List<Span> contentSpans(byte[] rendered, String withSentinels, char mark, List<String> contents) {
    String[] parts = withSentinels.split(String.valueOf(mark), -1);
    if (parts.length % 2 != 1) {
      throw new IllegalArgumentException("the template split a sentinel");
    }
    List<Span> spans = new ArrayList<>();
    int pos = 0;
    for (int k = 0; k < parts.length; k += 2) {
      byte[] piece = parts[k].getBytes(StandardCharsets.UTF_8);
      if (!matches(rendered, pos, piece)) {
        throw new IllegalArgumentException("the template's text differs between renderings");
      }
      pos += piece.length;
      if (k + 1 == parts.length) {
        break;
      }
      int i;
      try {
        i = Integer.parseInt(parts[k + 1]);
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("the template changed a sentinel");
      }
      if (i < 0 || i >= contents.size()) {
        throw new IllegalArgumentException("the template changed a sentinel");
      }
      byte[] nextPiece = parts[k + 2].getBytes(StandardCharsets.UTF_8);
      byte[] raw = contents.get(i).getBytes(StandardCharsets.UTF_8);
      byte[] trimmed = trim(raw);
      byte[] taken = null;
      for (byte[] c : List.of(raw, trimmed)) {
        if (matches(rendered, pos, c) && matches(rendered, pos + c.length, nextPiece)) {
          taken = c;
          break;
        }
      }
      if (taken == null) {
        throw new IllegalArgumentException("the template changes message " + i + "'s text beyond trimming it");
      }
      spans.add(new Span(pos, pos + taken.length));
      pos += taken.length;
    }
    if (pos != rendered.length) {
      throw new IllegalArgumentException("the template's text differs between renderings");
    }
    return spans;
  }

  private static boolean matches(byte[] text, int at, byte[] what) {
    return at + what.length <= text.length && Arrays.equals(text, at, at + what.length, what, 0, what.length);
  }

  private static byte[] trim(byte[] b) {
    int s = 0;
    int e = b.length;
    while (s < e && isSpace(b[s])) {
      s++;
    }
    while (e > s && isSpace(b[e - 1])) {
      e--;
    }
    return Arrays.copyOfRange(b, s, e);
  }
}
