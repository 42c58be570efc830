package io.instructflow.generators.pairs;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reading the answers of the pairs judge's multi-candidate protocols, however loosely the model kept
 * to the asked format. Nothing here throws on any input: what cannot be read is left out and the
 * caller records why.
 */
public final class JudgeReplies {
  private JudgeReplies() {}

  /**
   * One text's annotation for one aspect, as UltraFeedback's annotators wrote it.
   *
   * @param rating 1 to 5, or null for "N/A" (honesty on creative writing)
   * @param rationale the rationale for the rating ("" when absent)
   * @param type for truthfulness and helpfulness, the type line ("None" or identifiers), else null
   */
  public record Annotation(Double rating, String rationale, String type) {}

  /** A block's header: "#### Output for Text 2", "**Text 2**", "Text 2:". */
  private static final Pattern HEADER = Pattern.compile("(?im)^[\\s#*>_-]*(?:output\\s+for\\s+)?text\\s*(\\d{1,3})[\\s:*#)\\].-]*$");
  private static final Pattern RATING = Pattern.compile("(?im)^[\\s*_-]*rating[\\s*_]*[:：=]\\s*\\**\\s*(n\\s*/\\s*a|[1-5](?:\\.0)?)(?:\\s*/\\s*5)?(?![\\d.]*\\d)");
  private static final Pattern RATIONALE = Pattern.compile("(?im)^[\\s*_-]*rationale(?:\\s+for\\s+rating)?[\\s*_]*[:：]\\s*\\**\\s*([^\\n]*)");
  private static final Pattern TYPE = Pattern.compile("(?im)^[\\s*_-]*type[\\s*_]*[:：]\\s*\\**\\s*([^\\n]*)");

  /**
   * The annotations an UltraFeedback-style answer holds, by 1-based text position. Blocks are found by
   * their headers ("Output for Text k"); an answer without headers is split at blank lines, as the
   * reference does, and used only when it has exactly one block with a rating per text. Within a block
   * the first "Rating:" counts (1–5, "4/5", or N/A); the rationale is the first "Rationale:" line after
   * it (the reference's "Rationale For Rating" in the typed aspects), else the first in the block.
   * A position outside 1..n, or a block with no readable rating, is left out; a repeated position
   * keeps its first block.
   *
   * @param n how many texts the prompt showed
   */
  public static Map<Integer, Annotation> ultraFeedback(String reply, int n) {
    Map<Integer, Annotation> out = new LinkedHashMap<>();
    if (reply == null || reply.isBlank() || n < 1) {
      return out;
    }
    List<int[]> heads = new ArrayList<>();
    Matcher h = HEADER.matcher(reply);
    while (h.find()) {
      heads.add(new int[] {h.start(), h.end(), Integer.parseInt(h.group(1))});
    }
    if (!heads.isEmpty()) {
      for (int i = 0; i < heads.size(); i++) {
        int k = heads.get(i)[2];
        String body = reply.substring(heads.get(i)[1], i + 1 < heads.size() ? heads.get(i + 1)[0] : reply.length());
        Annotation a = block(body);
        if (k >= 1 && k <= n && a != null && !out.containsKey(k)) {
          out.put(k, a);
        }
      }
      return out;
    }
    List<Annotation> blocks = new ArrayList<>();
    for (String b : reply.split("\\n\\s*\\n")) {
      if (RATING.matcher(b).find()) {
        blocks.add(block(b));
      }
    }
    if (blocks.size() == n) {
      for (int k = 1; k <= n; k++) {
        if (blocks.get(k - 1) != null) {
          out.put(k, blocks.get(k - 1));
        }
      }
    }
    return out;
  }

  private static Annotation block(String body) {
    Matcher r = RATING.matcher(body);
    if (!r.find()) {
      return null;
    }
    String v = r.group(1).replaceAll("\\s", "");
    Double rating = v.equalsIgnoreCase("n/a") ? null : Double.valueOf(v);
    Matcher why = RATIONALE.matcher(body);
    String rationale = "";
    if (why.find(r.end())) {
      rationale = why.group(1).strip();
    } else if (why.find(0)) {
      rationale = why.group(1).strip();
    }
    Matcher t = TYPE.matcher(body);
    return new Annotation(rating, rationale, t.find() ? t.group(1).strip() : null);
  }

  /** "[[A]]", "[[B]]", "[[C]]" (or "[[tie]]"), MT-Bench's verdict format. */
  private static final Pattern BRACKETED = Pattern.compile("(?i)\\[\\[\\s*(A|B|C|tie)\\s*]]");
  /** "Verdict: A", "Final verdict: assistant B", "verdict is tie". */
  private static final Pattern WORDED = Pattern.compile(
      "(?i:verdict)\\W{0,3}(?:(?i:is)\\s+)?[:：]?\\s*\\**\\s*(?:(?i:assistant)\\s+|a\\s+)?([ABC]|(?i:tie))\\b");

  /**
   * A pairwise verdict: "A", "B", "C" (a tie), or null when the answer holds none. The last bracketed
   * verdict counts (an answer may quote the format before giving its own); without one, the last
   * worded "verdict: A".
   */
  public static String verdict(String reply) {
    if (reply == null) {
      return null;
    }
    String v = last(BRACKETED, reply);
    if (v == null) {
      v = last(WORDED, reply);
    }
    if (v == null) {
      return null;
    }
    v = v.toUpperCase(java.util.Locale.ROOT);
    return v.equals("TIE") ? "C" : v;
  }

  private static String last(Pattern p, String s) {
    Matcher m = p.matcher(s);
    String v = null;
    while (m.find()) {
      v = m.group(1);
    }
    return v;
  }
}
