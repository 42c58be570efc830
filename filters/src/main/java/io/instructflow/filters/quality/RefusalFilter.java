package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.RecordFilter;
import io.instructflow.filters.instruction.PyText;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Refusals and AI disclaimers in the output: a record whose output contains one of the phrases (any
 * case, whitespace collapsed, curly apostrophes read as straight ones) drops ({@value #PHRASE}). A
 * phrase edge that is a Latin letter or digit must be a word boundary ("i am an ai" does not match
 * "i am an aide"); CJK phrases match anywhere, as their scripts have no spaces.
 *
 * @param phrases the phrases, lower case
 */
public record RefusalFilter(List<String> phrases) implements RecordFilter {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "refusal";
  public static final String PHRASE = "refusal.phrase";

  /** Phrases that mark a refusal or a model talking about itself instead of answering. */
  public static final List<String> DEFAULT_PHRASES = List.of("as an ai language model", "as an ai model",
      "as a language model", "as an ai assistant", "i'm just an ai", "i am just an ai", "i'm an ai", "i am an ai",
      "i'm sorry, but i", "i am sorry, but i", "i apologize, but", "i cannot fulfill", "i can't fulfill",
      "i cannot comply", "i can't comply", "i cannot assist", "i can't assist", "i'm unable to", "i am unable to",
      "i'm not able to", "i am not able to", "i do not have the ability", "i don't have the ability",
      "i cannot provide", "i can't provide", "my knowledge cutoff", "my training data", "openai's",
      "against my programming", "i'm not programmed", "as of my last update", "作为一个人工智能", "作为一个ai",
      "作为ai语言模型", "我无法");

  public RefusalFilter {
    phrases = phrases.stream().map(p -> normalize(p)).toList();
    if (phrases.isEmpty()) {
      throw new IllegalArgumentException("refusal: the phrase list is empty");
    }
  }

  /** From a chain config: {@code phrases} (default {@link #DEFAULT_PHRASES}). */
  public static RefusalFilter fromJson(JsonNode n, String at) {
    Config c = new Config(n, at, Set.of("phrases"));
    return new RefusalFilter(c.texts("phrases", DEFAULT_PHRASES));
  }

  static String normalize(String s) {
    return PyText.collapse(s.replace('\u2019', '\'').replace('\u2018', '\'')).toLowerCase(Locale.ROOT);
  }

  /** Whether {@code t} contains {@code p}, with word boundaries at its Latin letter or digit edges. */
  static boolean contains(String t, String p) {
    for (int i = t.indexOf(p); i >= 0; i = t.indexOf(p, i + 1)) {
      boolean start = !latin(p.charAt(0)) || i == 0 || !Character.isLetterOrDigit(t.charAt(i - 1));
      int end = i + p.length();
      boolean stop = !latin(p.charAt(p.length() - 1)) || end == t.length() || !Character.isLetterOrDigit(t.charAt(end));
      if (start && stop) {
        return true;
      }
    }
    return false;
  }

  private static boolean latin(char c) {
    return c < 0x250 && Character.isLetterOrDigit(c);
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    String t = normalize(TextField.OUTPUT.of(e));
    for (String p : phrases) {
      if (contains(t, p)) {
        return new Verdict.Dropped(TYPE, PHRASE, Map.of("phrase", p));
      }
    }
    return Verdict.KEPT;
  }

  /** Makes this filter from its chain config entry; listed in {@code META-INF/services} ({@link io.instructflow.filters.chain.FilterRegistry}). */
  public static final class Factory extends io.instructflow.filters.chain.FilterFactory.Of {
    public Factory() {
      super(TYPE, RefusalFilter::fromJson);
    }
  }
}
