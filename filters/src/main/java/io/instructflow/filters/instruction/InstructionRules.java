package io.instructflow.filters.instruction;

import io.instructflow.schemas.Verdict;
import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The cheap rules a generated instruction must pass before the ROUGE-L rule: word count, unsuitable
 * words, the "write a program" prefix and the first character. Two presets carry the published rules:
 *
 * <ul>
 *   <li>{@link #selfInstruct()}: whitespace collapsed and trimmed first; ≤ 3 or > 150 words dropped;
 *       the words image(s), graph(s), picture(s), file(s), map(s), draw, plot and "go to" (whole word,
 *       any case); a "write a program" prefix in any case (the reference capitalizes the text, which
 *       lower-cases all but its first letter, before testing the prefix); a first character that is
 *       ASCII punctuation or, after that capitalization, not ASCII.
 *   <li>{@link #alpaca()}: only trimmed; the same word limits; the list above plus video, audio, music,
 *       flowchart, diagram; the prefix "Write a program" with that exact case; the same first-character
 *       rules without capitalization.
 * </ul>
 *
 * <p>Filter ids and reasons are stored in the data and never renamed. Whitespace, word splitting, word
 * boundaries and case folding follow Python's rules (see {@link PyText}), so decisions match the
 * reference code on non-English text too: a Chinese instruction, for one, fails the first-character
 * rule exactly as it does there (use {@link #withAsciiFirst} to lift that rule for non-English pools).
 *
 * @param preset preset name, for provenance
 * @param collapseWhitespace collapse runs of whitespace into one space before testing
 * @param minWordsExclusive an instruction needs more than this many words
 * @param maxWords an instruction may have at most this many words
 * @param blockedWords words (or phrases) that drop an instruction, matched whole-word in any case
 * @param programPrefix the prefix that drops an instruction
 * @param prefixAnyCase whether the prefix test ignores case
 * @param asciiFirst whether a non-ASCII first character drops the instruction
 */
public record InstructionRules(String preset, boolean collapseWhitespace, int minWordsExclusive, int maxWords,
    List<String> blockedWords, String programPrefix, boolean prefixAnyCase, boolean asciiFirst) implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Filter: word count. Reasons {@link #TOO_FEW_WORDS}, {@link #TOO_MANY_WORDS}. */
  public static final String WORDS = "instruction_words";
  /** At most {@code minWordsExclusive} words (details: words, limit). */
  public static final String TOO_FEW_WORDS = "instruction_words.too_few";
  /** More than {@code maxWords} words (details: words, limit). */
  public static final String TOO_MANY_WORDS = "instruction_words.too_many";
  /** Filter: a word a text-only model cannot act on (images, files, maps...). */
  public static final String BLOCKED = "blocked_word";
  /** The instruction contains a blocked word (details: word). */
  public static final String BLOCKED_FOUND = "blocked_word.found";
  /** Filter: the "write a program" prefix. */
  public static final String PROGRAM = "write_a_program";
  /** The instruction starts with the prefix. */
  public static final String PROGRAM_PREFIX = "write_a_program.prefix";
  /** Filter: the first character. Reasons {@link #FIRST_PUNCTUATION}, {@link #FIRST_NON_ASCII}. */
  public static final String FIRST = "first_character";
  /** The first character is ASCII punctuation (details: character). */
  public static final String FIRST_PUNCTUATION = "first_character.punctuation";
  /** The first character is not ASCII (details: character). */
  public static final String FIRST_NON_ASCII = "first_character.non_ascii";
  /** Filter: nothing left after trimming. */
  public static final String EMPTY = "instruction_empty";
  /** The instruction is empty or whitespace. */
  public static final String EMPTY_BLANK = "instruction_empty.blank";

  private static final List<String> SELF_INSTRUCT_WORDS = List.of(
      "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw", "plot", "go to");
  private static final List<String> ALPACA_EXTRA = List.of("video", "audio", "music", "flowchart", "diagram");

  public InstructionRules {
    Objects.requireNonNull(preset, "preset");
    blockedWords = List.copyOf(blockedWords);
    if (minWordsExclusive < 0 || maxWords <= minWordsExclusive) {
      throw new IllegalArgumentException(
          "word limits must satisfy 0 <= min < max, got min " + minWordsExclusive + ", max " + maxWords);
    }
    for (String w : blockedWords) {
      if (w.isBlank() || !w.chars().allMatch(c -> c < 128)) {
        throw new IllegalArgumentException("blocked words must be non-blank ASCII, got '" + w + "'");
      }
    }
  }

  /** The Self-Instruct reference rules. */
  public static InstructionRules selfInstruct() {
    return new InstructionRules("self-instruct", true, 3, 150, SELF_INSTRUCT_WORDS, "write a program", true, true);
  }

  /** The Alpaca rules. */
  public static InstructionRules alpaca() {
    List<String> words = new java.util.ArrayList<>(SELF_INSTRUCT_WORDS);
    words.addAll(ALPACA_EXTRA);
    return new InstructionRules("alpaca", false, 3, 150, words, "Write a program", false, true);
  }

  /** A copy with the non-ASCII first-character rule on or off. */
  public InstructionRules withAsciiFirst(boolean on) {
    return new InstructionRules(preset, collapseWhitespace, minWordsExclusive, maxWords, blockedWords, programPrefix,
        prefixAnyCase, on);
  }

  /** The ids of the filters these rules apply, in order. */
  public List<String> filterIds() {
    return List.of(EMPTY, WORDS, BLOCKED, PROGRAM, FIRST);
  }

  /** The text as the rules see it and as it is stored: collapsed (when the preset does) and trimmed. */
  public String normalize(String raw) {
    return collapseWhitespace ? PyText.collapse(raw) : PyText.strip(raw);
  }

  /** Tests an instruction already passed through {@link #normalize}; the first failing rule decides. */
  public Verdict test(String text) {
    if (text.isEmpty()) {
      return new Verdict.Dropped(EMPTY, EMPTY_BLANK, Map.of());
    }
    int words = PyText.split(text).size();
    if (words <= minWordsExclusive) {
      return new Verdict.Dropped(WORDS, TOO_FEW_WORDS, Map.of("words", words, "limit", minWordsExclusive));
    }
    if (words > maxWords) {
      return new Verdict.Dropped(WORDS, TOO_MANY_WORDS, Map.of("words", words, "limit", maxWords));
    }
    for (String w : blockedWords) {
      if (PyText.containsWord(text, w)) {
        return new Verdict.Dropped(BLOCKED, BLOCKED_FOUND, Map.of("word", w));
      }
    }
    if (text.regionMatches(prefixAnyCase, 0, programPrefix, 0, programPrefix.length())) {
      return new Verdict.Dropped(PROGRAM, PROGRAM_PREFIX, Map.of("prefix", programPrefix));
    }
    int first = text.codePointAt(0);
    if (first < 128 && PyText.PUNCTUATION.indexOf(first) >= 0) {
      return new Verdict.Dropped(FIRST, FIRST_PUNCTUATION, Map.of("character", new String(Character.toChars(first))));
    }
    int shown = collapseWhitespace ? PyText.capitalizedFirst(text) : first;
    if (asciiFirst && shown >= 128) {
      return new Verdict.Dropped(FIRST, FIRST_NON_ASCII, Map.of("character", new String(Character.toChars(first))));
    }
    return Verdict.KEPT;
  }

  /** The settings, for provenance and the run summary. */
  public Map<String, Object> asMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("preset", preset);
    m.put("collapseWhitespace", collapseWhitespace);
    m.put("minWordsExclusive", minWordsExclusive);
    m.put("maxWords", maxWords);
    m.put("blockedWords", blockedWords);
    m.put("programPrefix", programPrefix);
    m.put("prefixAnyCase", prefixAnyCase);
    m.put("asciiFirst", asciiFirst);
    return m;
  }
}
