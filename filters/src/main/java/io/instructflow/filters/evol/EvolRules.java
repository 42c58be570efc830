package io.instructflow.filters.evol;

import io.instructflow.filters.instruction.PyText;
import io.instructflow.schemas.Verdict;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The four elimination rules of Evol-Instruct (WizardLM), which decide whether an evolution failed:
 *
 * <ol>
 *   <li>{@value #NO_GAIN}: no information gain. The judge said the evolved instruction equals its
 *       parent ({@value #JUDGED_EQUAL}); also, without asking, an evolved instruction that is empty
 *       ({@value #EMPTY}) or the parent again up to case and whitespace ({@value #IDENTICAL}).
 *   <li>{@value #SORRY}: the response contains "sorry" (any case) and has fewer than 80 words
 *       ({@value #SORRY_SHORT}): the model could not answer the evolved instruction.
 *   <li>{@value #STOPWORDS}: the response has no word that is not a stop word, only punctuation and
 *       stop words ({@value #STOPWORDS_ONLY}).
 *   <li>{@value #COPIED}: the evolved instruction copies words of the evolving prompt
 *       ({@value #COPIED_MARKER}): the paper's phrases ("given prompt", "rewritten prompt") as whole
 *       words, or a label of the evolving prompts ({@code #Rewritten Prompt#}, our {@code #New Task#})
 *       in label form. Ordinary words are not a copy: "add a new task to the to-do list" and "renew
 *       tasks" pass (issue 19).
 * </ol>
 *
 * The first failing rule decides. Ids and reasons are stored in the data: never rename one.
 */
public final class EvolRules {
  private EvolRules() {}

  /** Rule 1. */
  public static final String NO_GAIN = "evol_no_gain";
  /** The judge answered that the two instructions are equal (details: answer). */
  public static final String JUDGED_EQUAL = "evol_no_gain.judged_equal";
  /** The evolved instruction is the parent again, up to case and whitespace. */
  public static final String IDENTICAL = "evol_no_gain.identical";
  /** The model's rewrite was empty. */
  public static final String EMPTY = "evol_no_gain.empty";
  /** Rule 2. */
  public static final String SORRY = "evol_sorry";
  /** The response says sorry in fewer than 80 words (details: words). */
  public static final String SORRY_SHORT = "evol_sorry.short_apology";
  /** Rule 3. */
  public static final String STOPWORDS = "evol_stopwords";
  /** The response is punctuation and stop words only. */
  public static final String STOPWORDS_ONLY = "evol_stopwords.only_stopwords";
  /** Rule 4. */
  public static final String COPIED = "evol_copied_prompt";
  /** The evolved instruction contains a phrase of the evolving prompt (details: phrase). */
  public static final String COPIED_MARKER = "evol_copied_prompt.marker";

  /** Below this many words a "sorry" response fails rule 2. */
  public static final int SORRY_WORDS = 80;

  /**
   * The paper's phrases of the evolving prompt (its rule 4 names "given prompt", "rewritten prompt" and
   * "#Rewritten Prompt#"; WizardLM's in-breadth prompt adds "created prompt"), matched in any case as
   * whole words (a plural too) with any whitespace between them, so "the given prompts" is caught and
   * "forgiven prompt" is not.
   */
  public static final List<String> PROMPT_PHRASES = List.of("given prompt", "rewritten prompt", "created prompt");

  /**
   * The label words of evolving prompts, ours ({@code #Original Task#}, {@code #New Task#}) and the
   * reference's ({@code #The Given Prompt#}, {@code #Rewritten Prompt#}, {@code #Created Prompt#}). They
   * count only in the form of a label: between {@code #} marks, or opening a line and followed by a
   * colon ({@code New Task: ...}). As plain words they are ordinary English ("add a new task to the
   * to-do list", issue 19), so they are not matched there.
   */
  public static final List<String> LABELS = List.of("given prompt", "rewritten prompt", "created prompt",
      "original task", "new task", "given task", "rewritten task", "created task", "original prompt", "new prompt");

  private static final String LABEL_WORDS = "(?:the\\s+)?(?:"
      + String.join("|", LABELS.stream().map(l -> l.replace(" ", "\\s+")).toList()) + ")";
  private static final Pattern PHRASE = Pattern.compile("\\b(?:"
      + String.join("|", PROMPT_PHRASES.stream().map(l -> l.replace(" ", "\\s+")).toList()) + ")s?\\b",
      Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);
  private static final Pattern HASH_LABEL = Pattern.compile("#\\s*" + LABEL_WORDS + "\\s*#",
      Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);
  private static final Pattern LINE_LABEL = Pattern.compile("^[\\s*#]*" + LABEL_WORDS + "\\s*[#*]*\\s*:",
      Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.MULTILINE);

  /** English stop words (function words) for rule 3. */
  static final Set<String> STOP = Set.of("a", "about", "above", "after", "again", "against", "all", "am", "an", "and",
      "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
      "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had",
      "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in",
      "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of",
      "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she",
      "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there",
      "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were",
      "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours",
      "yourself", "yourselves", "s", "t", "don", "ok", "okay", "yes", "oh");

  /** The judge's answer, as parsed by the generator. */
  public enum Judge {
    EQUAL, NOT_EQUAL, UNKNOWN;

    /** The lower-case name stored in the data. */
    public String code() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** The judge answer stored as {@code code}, UNKNOWN for anything else. */
    public static Judge fromCode(String code) {
      for (Judge j : values()) {
        if (j.code().equals(code)) {
          return j;
        }
      }
      return UNKNOWN;
    }
  }

  /**
   * Tests one evolution.
   *
   * @param parent the instruction it evolved from, or null when unknown (then only the judge's word
   *     counts for rule 1)
   * @param evolved the evolved instruction
   * @param judge what the judge said
   * @param judgeAnswer the judge's raw answer, for evidence
   * @param response the response to the evolved instruction
   */
  public static Verdict test(String parent, String evolved, Judge judge, String judgeAnswer, String response) {
    String e = PyText.collapse(evolved);
    if (e.isEmpty()) {
      return new Verdict.Dropped(NO_GAIN, EMPTY, Map.of());
    }
    if (parent != null && PyText.collapse(parent).equalsIgnoreCase(e)) {
      return new Verdict.Dropped(NO_GAIN, IDENTICAL, Map.of());
    }
    if (judge == Judge.EQUAL) {
      return new Verdict.Dropped(NO_GAIN, JUDGED_EQUAL, Map.of("answer", judgeAnswer == null ? "" : judgeAnswer));
    }
    int words = PyText.split(response).size();
    if (response.toLowerCase(Locale.ROOT).contains("sorry") && words < SORRY_WORDS) {
      return new Verdict.Dropped(SORRY, SORRY_SHORT, Map.of("words", words, "limit", SORRY_WORDS));
    }
    if (onlyStopWords(response)) {
      return new Verdict.Dropped(STOPWORDS, STOPWORDS_ONLY, Map.of());
    }
    String copied = copiedPhrase(evolved);
    if (copied != null) {
      return new Verdict.Dropped(COPIED, COPIED_MARKER, Map.of("phrase", copied));
    }
    return Verdict.KEPT;
  }

  /**
   * The first phrase of an evolving prompt that {@code evolved} copies (lower case, one space between
   * words, without {@code #}, colon or a leading "the"), or null: a label ({@link #LABELS}) between
   * {@code #} marks or opening a line before a colon, or one of {@link #PROMPT_PHRASES} anywhere as
   * whole words.
   */
  public static String copiedPhrase(String evolved) {
    int best = Integer.MAX_VALUE;
    String found = null;
    for (Pattern p : List.of(HASH_LABEL, LINE_LABEL, PHRASE)) {
      Matcher m = p.matcher(evolved);
      if (m.find() && m.start() < best) {
        best = m.start();
        found = m.group();
      }
    }
    if (found == null) {
      return null;
    }
    String words = PyText.collapse(found.replaceAll("[#*:]", " ")).toLowerCase(Locale.ROOT);
    return words.startsWith("the ") ? words.substring(4) : words;
  }

  /** Whether every word of {@code text} (runs of letters and digits) is a stop word. */
  static boolean onlyStopWords(String text) {
    for (String w : text.toLowerCase(Locale.ROOT).split("[^\\p{L}\\p{N}]+")) {
      if (!w.isEmpty() && !STOP.contains(w)) {
        return false;
      }
    }
    return true;
  }
}
