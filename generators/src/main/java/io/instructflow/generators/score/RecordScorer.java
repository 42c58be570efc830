package io.instructflow.generators.score;

import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.RejectReason;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Scores records from a model's token log-probabilities (issue 22): {@link Ifd} and the Deita-style
 * {@code complexity} and {@code quality} ({@link DeitaScore}). One {@link LanguageModel#score} call per batch
 * carries every request of every record; each record comes back scored, or failed with a reject reason.
 *
 * <p>A record's scores go into {@code metadata.scores.<name>} (other names already there stay), each an
 * object with the {@code value}, the scorer {@code model} (its name, file SHA-256 and backend), the
 * {@code format} (text or chat) and the {@code template} id and hash; IFD adds both perplexities and the
 * response's token count, the Deita scores the six renormalized probabilities. Values are rounded to
 * {@value #DECIMALS} decimals, so that batching and prefix reuse (which move log-probabilities by about
 * 1e-6) do not change the data. Nothing is sampled: the same record and model give the same scores.
 */
public final class RecordScorer {
  private RecordScorer() {}

  /** Decimals kept of every stored number. */
  public static final int DECIMALS = 4;
  /** The metadata key holding the scores. */
  public static final String METADATA_KEY = "scores";

  /** A score this class computes; its code names it in {@code metadata.scores} and on the command line. */
  public enum Kind {
    /** Instruction-Following Difficulty: needs a response. */
    IFD("ifd"),
    /** Deita-style instruction complexity, 1 to 6. */
    COMPLEXITY("complexity"),
    /** Deita-style response quality, 1 to 6: needs a response. */
    QUALITY("quality");

    private final String code;

    Kind(String code) {
      this.code = code;
    }

    public String code() {
      return code;
    }

    /** The kind called {@code code}. */
    public static Kind parse(String code) {
      for (Kind k : values()) {
        if (k.code.equals(code == null ? "" : code.trim().toLowerCase(Locale.ROOT))) {
          return k;
        }
      }
      throw new IllegalArgumentException("--scores: expected ifd, complexity or quality, got '" + code + "'");
    }
  }

  /**
   * What to compute.
   *
   * @param kinds the scores, without repeats, in the order given
   * @param chat whether requests use the model's chat template (else plain text)
   * @param complexity the complexity template ({{instruction}}), or null when not computed
   * @param quality the quality template ({{instruction}}, {{output}}), or null when not computed
   */
  public record Settings(List<Kind> kinds, boolean chat, PromptTemplate complexity, PromptTemplate quality)
      implements Serializable {
    private static final long serialVersionUID = 1L;

    public Settings {
      kinds = List.copyOf(kinds);
      if (kinds.isEmpty()) {
        throw new IllegalArgumentException("--scores: give at least one of ifd, complexity, quality");
      }
      if (Set.copyOf(kinds).size() != kinds.size()) {
        throw new IllegalArgumentException("--scores: a score is named twice in " + kinds);
      }
      if (kinds.contains(Kind.COMPLEXITY) != (complexity != null)) {
        throw new IllegalArgumentException("the complexity template is needed exactly when complexity is scored");
      }
      if (kinds.contains(Kind.QUALITY) != (quality != null)) {
        throw new IllegalArgumentException("the quality template is needed exactly when quality is scored");
      }
      if (complexity != null) {
        complexity.requirePlaceholders(Set.of("instruction"));
      }
      if (quality != null) {
        quality.requirePlaceholders(Set.of("instruction", "output"));
      }
    }

    /** Settings for {@code kinds} with the built-in templates, or overrides from {@code templates}. */
    public static Settings of(List<Kind> kinds, boolean chat, Path templates) throws IOException {
      return new Settings(kinds, chat,
          kinds.contains(Kind.COMPLEXITY) ? PromptTemplate.load(DeitaScore.COMPLEXITY_TEMPLATE, templates) : null,
          kinds.contains(Kind.QUALITY) ? PromptTemplate.load(DeitaScore.QUALITY_TEMPLATE, templates) : null);
    }

    /** The settings for provenance and the run summary. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      List<String> codes = new ArrayList<>();
      kinds.forEach(k -> codes.add(k.code()));
      m.put("scores", codes);
      m.put("format", chat ? "chat" : "text");
      if (kinds.contains(Kind.IFD) && !chat) {
        m.put("ifdTemplateHash", Ifd.textTemplate().templateHash());
      }
      if (complexity != null) {
        m.put("complexityTemplateHash", complexity.hash());
        m.put("complexityTemplateSource", complexity.source());
      }
      if (quality != null) {
        m.put("qualityTemplateHash", quality.hash());
        m.put("qualityTemplateSource", quality.source());
      }
      return m;
    }
  }

  /** What became of one record (an {@link Annotation}). */
  public sealed interface Outcome extends Annotation {
    /** Scored: the record with its scores in {@code metadata.scores}. */
    record Scored(Example record, Map<String, Object> scores, int requests) implements Outcome {}

    /** Not scored, with the reject reason and a message naming the score. */
    record Failed(RejectReason reason, String message, int requests) implements Outcome {}
  }

  /**
   * Scores a batch: one outcome per record, in order. A record lacking what a score needs (a response for
   * ifd or quality) fails with {@code missing_field} without any request; a failed request fails its record
   * with its reason ({@code prompt_too_long}, {@code no_chat_template}, else {@code generation_failed}).
   */
  public static List<Outcome> score(LanguageModel model, Settings s, List<Example> records) {
    List<ScoreRequest> reqs = new ArrayList<>();
    int[] first = new int[records.size() + 1];
    List<ScoredTurn> turns = new ArrayList<>(records.size());
    for (int r = 0; r < records.size(); r++) {
      first[r] = reqs.size();
      Example e = records.get(r);
      ScoredTurn t = ScoredTurn.of(e);
      turns.add(t);
      if (t.hasResponse() || !needsResponse(s)) {
        for (Kind k : s.kinds()) {
          reqs.addAll(requests(e.id(), k, t, s));
        }
      }
    }
    first[records.size()] = reqs.size();
    List<ScoreResult> res = reqs.isEmpty() ? List.of() : model.score(reqs);
    if (res.size() != reqs.size()) {
      throw new IllegalStateException("model " + model.ref().id() + " answered " + res.size() + " of " + reqs.size()
          + " score requests");
    }
    ModelRef ref = model.ref();
    List<Outcome> out = new ArrayList<>(records.size());
    for (int r = 0; r < records.size(); r++) {
      Example e = records.get(r);
      int n = first[r + 1] - first[r];
      if (n == 0) {
        out.add(new Outcome.Failed(RejectReason.MISSING_FIELD, needing(s) + " need a response, and the record has "
            + (e.isChat() ? "no assistant turn after another turn" : "no output"), 0));
        continue;
      }
      out.add(outcome(e, res.subList(first[r], first[r + 1]), s, ref));
    }
    return out;
  }

  private static boolean needsResponse(Settings s) {
    return s.kinds().contains(Kind.IFD) || s.kinds().contains(Kind.QUALITY);
  }

  private static String needing(Settings s) {
    List<String> k = new ArrayList<>();
    s.kinds().stream().filter(x -> x != Kind.COMPLEXITY).forEach(x -> k.add(x.code()));
    return String.join(" and ", k);
  }

  private static List<ScoreRequest> requests(String id, Kind k, ScoredTurn t, Settings s) {
    return switch (k) {
      case IFD -> Ifd.requests(id, t, s.chat());
      case COMPLEXITY -> DeitaScore.requests(id + "/complexity", s.complexity(), Map.of("instruction", t.instruction()),
          s.chat());
      case QUALITY -> DeitaScore.requests(id + "/quality", s.quality(),
          Map.of("instruction", t.instruction(), "output", t.response()), s.chat());
    };
  }

  private static int count(Kind k) {
    return k == Kind.IFD ? 2 : DeitaScore.MAX;
  }

  private static Outcome outcome(Example e, List<ScoreResult> res, Settings s, ModelRef ref) {
    for (int i = 0; i < res.size(); i++) {
      ScoreResult x = res.get(i);
      if (!x.ok()) {
        Kind k = kindAt(s, i);
        return new Outcome.Failed(reason(x.errorKind()), k.code() + ": " + x.error(), res.size());
      }
    }
    Map<String, Object> scores = new LinkedHashMap<>();
    int at = 0;
    for (Kind k : s.kinds()) {
      List<ScoreResult> mine = res.subList(at, at + count(k));
      at += count(k);
      Map<String, Object> v = new LinkedHashMap<>();
      if (k == Kind.IFD) {
        double ifd = Ifd.value(mine.get(0), mine.get(1));
        if (!Double.isFinite(ifd)) {
          return new Outcome.Failed(RejectReason.GENERATION_FAILED, "ifd: the response has no token to score",
              res.size());
        }
        v.put("value", round(ifd));
        v.put("pplConditioned", round(mine.get(0).perplexity()));
        v.put("pplAlone", round(mine.get(1).perplexity()));
        v.put("responseTokens", mine.get(1).tokens().size());
      } else {
        double[] lp = DeitaScore.logprobs(mine);
        v.put("value", round(DeitaScore.expectation(lp)));
        List<Double> p = new ArrayList<>();
        for (double x : DeitaScore.probabilities(lp)) {
          p.add(round(x));
        }
        v.put("probabilities", p);
      }
      v.put("model", modelMap(ref));
      v.put("format", s.chat() ? "chat" : "text");
      switch (k) {
        case IFD -> {
          if (!s.chat()) {
            v.put("template", Ifd.TEMPLATE_ID);
            v.put("templateHash", Ifd.textTemplate().templateHash());
          }
        }
        case COMPLEXITY -> {
          v.put("template", s.complexity().id());
          v.put("templateHash", s.complexity().hash());
        }
        case QUALITY -> {
          v.put("template", s.quality().id());
          v.put("templateHash", s.quality().hash());
        }
      }
      scores.put(k.code(), v);
    }
    Map<String, Object> all = new LinkedHashMap<>();
    if (e.metadata().get(METADATA_KEY) instanceof Map<?, ?> old) {
      old.forEach((key, val) -> all.put(String.valueOf(key), val));
    }
    all.putAll(scores);
    return new Outcome.Scored(e.withMetadata(METADATA_KEY, all), scores, res.size());
  }

  private static Kind kindAt(Settings s, int index) {
    int at = 0;
    for (Kind k : s.kinds()) {
      at += count(k);
      if (index < at) {
        return k;
      }
    }
    throw new IllegalArgumentException("request index " + index);
  }

  /**
   * The model as {@code metadata.scores} and {@code metadata.tags} name it: its {@code id}, file
   * {@code sha256} when it has one, and {@code backend}, in that order.
   */
  public static Map<String, Object> modelMap(ModelRef ref) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", ref.id());
    if (ref.sha256() != null) {
      m.put("sha256", ref.sha256());
    }
    m.put("backend", ref.backend());
    return m;
  }

  static RejectReason reason(ErrorKind k) {
    return k.rejectReason();
  }

  /** {@code x} rounded to {@value #DECIMALS} decimals. */
  public static double round(double x) {
    return Math.round(x * 10_000) / 10_000.0;
  }
}
