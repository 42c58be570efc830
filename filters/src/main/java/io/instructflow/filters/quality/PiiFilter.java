package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.RecordRewriter;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Personal data in any text field: e-mail addresses, phone numbers (9 to 15 digits in a phone-like
 * layout), IPv4 addresses and payment-card numbers (13 to 19 digits that pass the Luhn check). In
 * {@code drop} mode a record with any drops ({@code pii.<kind>}, evidence: how many of each kind,
 * never the values); in {@code redact} mode each finding is replaced by {@code <EMAIL>},
 * {@code <PHONE>}, {@code <IP>} or {@code <CARD>}, the record gets a {@value #STEP} step naming what
 * was redacted, and goes on (with a new content id; its parent is the original).
 *
 * @param redact redact instead of dropping
 */
public record PiiFilter(boolean redact) implements RecordRewriter {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "pii";
  public static final String EMAIL = "pii.email";
  public static final String PHONE = "pii.phone";
  public static final String IPV4 = "pii.ipv4";
  public static final String CARD = "pii.credit_card";
  /** The provenance step of a redaction. */
  public static final String STEP = "filter.pii_redact";

  private static final Pattern EMAIL_RE = Pattern.compile("[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}");
  private static final Pattern CARD_RE = Pattern.compile("(?<!\\w)(?<!\\d\\.)\\d(?:[ -]?\\d){12,18}(?!\\w)(?!\\.\\d)");
  private static final Pattern IP_RE = Pattern.compile(
      "(?<!\\w)(?<!\\d\\.)(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?!\\w)(?!\\.\\d)");
  private static final Pattern PHONE_RE = Pattern.compile(
      "(?<![\\w+])(?:\\+\\d{1,3}[ .-]?)?(?:\\(\\d{1,4}\\)[ .-]?)?\\d{2,4}(?:[ .-]\\d{2,4}){1,4}(?![\\w])");

  /** What a kind is called and replaced with. */
  private enum Kind {
    EMAIL_K(EMAIL, "<EMAIL>"), CARD_K(CARD, "<CARD>"), IP_K(IPV4, "<IP>"), PHONE_K(PHONE, "<PHONE>");

    final String reason;
    final String mask;

    Kind(String reason, String mask) {
      this.reason = reason;
      this.mask = mask;
    }

    Pattern pattern() {
      return switch (this) {
        case EMAIL_K -> EMAIL_RE;
        case CARD_K -> CARD_RE;
        case IP_K -> IP_RE;
        case PHONE_K -> PHONE_RE;
      };
    }

    boolean accept(String match) {
      String digits = match.replaceAll("\\D", "");
      return switch (this) {
        case CARD_K -> luhn(digits);
        case PHONE_K -> digits.length() >= 9 && digits.length() <= 15;
        default -> true;
      };
    }
  }

  /** From a chain config: {@code mode}: {@code drop} (default) or {@code redact}. */
  public static PiiFilter fromJson(JsonNode n, String at) {
    Config c = new Config(n, at, Set.of("mode"));
    String mode = c.text("mode", "drop");
    if (!mode.equals("drop") && !mode.equals("redact")) {
      throw c.error("mode must be drop or redact, got '" + mode + "'");
    }
    return new PiiFilter(mode.equals("redact"));
  }

  /** Whether a digit string passes the Luhn check. */
  static boolean luhn(String digits) {
    int sum = 0;
    boolean twice = false;
    for (int i = digits.length() - 1; i >= 0; i--) {
      int d = digits.charAt(i) - '0';
      if (twice) {
        d *= 2;
        if (d > 9) {
          d -= 9;
        }
      }
      sum += d;
      twice = !twice;
    }
    return digits.length() >= 13 && sum % 10 == 0;
  }

  /** The text with every finding masked, counting findings by reason into {@code counts}. */
  static String mask(String text, Map<String, Integer> counts) {
    String t = text;
    for (Kind k : Kind.values()) {
      Matcher m = k.pattern().matcher(t);
      StringBuilder b = new StringBuilder();
      int last = 0;
      while (m.find()) {
        if (k.accept(m.group())) {
          b.append(t, last, m.start()).append(k.mask);
          last = m.end();
          counts.merge(k.reason, 1, Integer::sum);
        }
      }
      t = b.append(t, last, t.length()).toString();
    }
    return t;
  }

  private static List<String> texts(Example e) {
    List<String> out = new ArrayList<>();
    if (e.isChat()) {
      e.messages().forEach(m -> out.add(m.content()));
    } else {
      out.add(e.instruction());
      out.add(e.input() == null ? "" : e.input());
      out.add(e.output() == null ? "" : e.output());
    }
    return out;
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    if (redact) {
      return Verdict.KEPT;
    }
    Map<String, Integer> counts = new TreeMap<>();
    texts(e).forEach(t -> mask(t, counts));
    if (counts.isEmpty()) {
      return Verdict.KEPT;
    }
    String first = counts.keySet().iterator().next();
    Map<String, Object> d = new LinkedHashMap<>();
    counts.forEach((k, v) -> d.put(k.substring(4), v));
    return new Verdict.Dropped(TYPE, first, d);
  }

  @Override
  public Example rewrite(Example e) {
    if (!redact) {
      return e;
    }
    Map<String, Integer> counts = new TreeMap<>();
    Map<String, Object> meta = new LinkedHashMap<>(e.metadata());
    Example out;
    if (e.isChat()) {
      List<Message> ms = new ArrayList<>();
      e.messages().forEach(m -> ms.add(new Message(m.role(), mask(m.content(), counts))));
      if (counts.isEmpty()) {
        return e;
      }
      out = Example.chat(ms, meta, e.provenance());
    } else {
      String i = mask(e.instruction(), counts);
      String in = e.input() == null ? null : mask(e.input(), counts);
      String o = e.output() == null ? null : mask(e.output(), counts);
      if (counts.isEmpty()) {
        return e;
      }
      out = Example.single(i, in, o, meta, e.provenance());
    }
    Map<String, Object> p = new LinkedHashMap<>();
    counts.forEach((k, v) -> p.put(k.substring(4).toLowerCase(Locale.ROOT), v));
    return out.withStep(new Step(STEP, "1", p, Verdict.KEPT, List.of(e.id()), null, null, null, null));
  }

  /** Makes this filter from its chain config entry; listed in {@code META-INF/services} ({@link io.instructflow.filters.chain.FilterRegistry}). */
  public static final class Factory extends io.instructflow.filters.chain.FilterFactory.Of {
    public Factory() {
      super(TYPE, PiiFilter::fromJson);
    }
  }
}
