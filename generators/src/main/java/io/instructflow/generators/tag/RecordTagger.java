package io.instructflow.generators.tag;

import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.generators.score.Annotation;
import io.instructflow.generators.score.RecordScorer;
import io.instructflow.generators.score.ScoredTurn;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.SamplingParams;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
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
import java.util.Optional;
import java.util.Set;

/**
 * Magpie-style tags of a record's instruction (issue 22, item 5): its task category, difficulty and input
 * quality, each a label from a fixed set chosen by a judge model.
 *
 * <p>Each tag is one greedy generation request whose prompt is the tag's template filled with the
 * instruction ({@link ScoredTurn#instruction()}: a single-turn record's instruction and input, a chat's
 * last user turn before its last assistant turn, or its last user turn when no assistant answers). With
 * the embedded engine a GBNF grammar ({@link #grammar}) admits only the tag's labels, so the reply is
 * always one of them; an OpenAI-compatible endpoint has no grammar, and a reply that is not exactly a
 * label (after trimming, case and a final period) fails the record. Greedy decoding makes the label a
 * function of the prompt and the model: the same record and model give the same tags on every run.
 *
 * <p>The tags go into {@code metadata.tags.<tag>} (other tags already there stay), each an object with
 * the {@code value} (the label), the judge {@code model} (its name, file SHA-256 and backend), the
 * {@code format} (text or chat) and the {@code template} id and hash, as {@code metadata.scores} holds
 * scores. A record fails, whole, with a reject reason: {@code missing_field} (no instruction),
 * {@code prompt_too_long}, {@code no_chat_template}, {@code generation_failed} (the backend failed, or the
 * reply is not a label).
 */
public final class RecordTagger {
  private RecordTagger() {}

  /** The metadata key holding the tags. */
  public static final String METADATA_KEY = "tags";
  /** Most tokens a label may take (the longest, information_seeking, is 19 characters). */
  static final int MAX_TOKENS = 32;

  /** A tag: its code names it in {@code metadata.tags} and on the command line. */
  public enum Tag {
    /** What the request asks for: Magpie's twelve task categories. */
    TASK_CATEGORY("task_category", "tag/task-category@1", List.of("information_seeking", "reasoning", "planning",
        "editing", "coding", "math", "role_playing", "data_analysis", "creative_writing", "advice_seeking",
        "brainstorming", "others")),
    /** How hard the request is to answer well. */
    DIFFICULTY("difficulty", "tag/difficulty@1", List.of("very_easy", "easy", "medium", "hard", "very_hard")),
    /** How clear and specific the request is. */
    INPUT_QUALITY("input_quality", "tag/input-quality@1", List.of("very_poor", "poor", "average", "good",
        "excellent"));

    private final String code;
    private final String template;
    private final List<String> labels;

    Tag(String code, String template, List<String> labels) {
      this.code = code;
      this.template = template;
      this.labels = labels;
    }

    public String code() {
      return code;
    }

    /** The built-in template's id. */
    public String template() {
      return template;
    }

    /** The labels, in the order the template lists them. */
    public List<String> labels() {
      return labels;
    }

    /** The tag called {@code code}. */
    public static Tag parse(String code) {
      for (Tag t : values()) {
        if (t.code.equals(code == null ? "" : code.trim().toLowerCase(Locale.ROOT))) {
          return t;
        }
      }
      throw new IllegalArgumentException("--tags: expected task_category, difficulty or input_quality, got '" + code
          + "'");
    }

    /** The tag called {@code code}, if there is one. */
    public static Optional<Tag> of(String code) {
      for (Tag t : values()) {
        if (t.code.equals(code)) {
          return Optional.of(t);
        }
      }
      return Optional.empty();
    }
  }

  /**
   * What to tag.
   *
   * @param tags the tags, without repeats, in the order given
   * @param chat whether requests use the model's chat template (else plain text)
   * @param grammar whether a GBNF grammar holds the reply to the labels (the embedded engine)
   * @param templates one template per tag, in {@code tags} order, each with the {{instruction}} placeholder
   */
  public record Settings(List<Tag> tags, boolean chat, boolean grammar, List<PromptTemplate> templates)
      implements Serializable {
    private static final long serialVersionUID = 1L;

    public Settings {
      tags = List.copyOf(tags);
      templates = List.copyOf(templates);
      if (tags.isEmpty()) {
        throw new IllegalArgumentException("--tags: give at least one of task_category, difficulty, input_quality");
      }
      if (Set.copyOf(tags).size() != tags.size()) {
        throw new IllegalArgumentException("--tags: a tag is named twice in " + tags);
      }
      if (templates.size() != tags.size()) {
        throw new IllegalArgumentException("one template per tag: " + tags.size() + " tags, " + templates.size()
            + " templates");
      }
      templates.forEach(t -> t.requirePlaceholders(Set.of("instruction")));
    }

    /** Settings for {@code tags} with the built-in templates, or overrides from {@code templates}. */
    public static Settings of(List<Tag> tags, boolean chat, boolean grammar, Path templates) throws IOException {
      List<PromptTemplate> t = new ArrayList<>();
      for (Tag tag : tags) {
        t.add(PromptTemplate.load(tag.template(), templates));
      }
      return new Settings(tags, chat, grammar, t);
    }

    /** The same tags and templates with the request format and grammar resolved for a model. */
    public Settings resolved(boolean chat, boolean grammar) {
      return new Settings(tags, chat, grammar, templates);
    }

    /** The settings for provenance and the run summary. */
    public Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      List<String> codes = new ArrayList<>();
      tags.forEach(t -> codes.add(t.code()));
      m.put("tags", codes);
      m.put("format", chat ? "chat" : "text");
      m.put("grammar", grammar);
      Map<String, String> hashes = new LinkedHashMap<>();
      templates.forEach(t -> hashes.put(t.id(), t.hash()));
      m.put("templates", hashes);
      return m;
    }
  }

  /** What became of one record (an {@link Annotation}). */
  public sealed interface Outcome extends Annotation {
    /** Tagged: the record with its tags in {@code metadata.tags}, and the labels by tag code. */
    record Tagged(Example record, Map<String, String> labels, int requests) implements Outcome {}

    /** Not tagged, with the reject reason and a message naming the tag. */
    record Failed(RejectReason reason, String message, int requests) implements Outcome {}
  }

  /**
   * The GBNF grammar of a tag: exactly one of its labels, after a space in text format (the prompt ends
   * with "Label:") and alone in chat format.
   */
  public static String grammar(Tag tag, boolean chat) {
    StringBuilder b = new StringBuilder("root ::= ");
    if (!chat) {
      b.append("\" \" ");
    }
    b.append('(');
    for (int i = 0; i < tag.labels().size(); i++) {
      b.append(i == 0 ? "" : " | ").append('"').append(tag.labels().get(i)).append('"');
    }
    return b.append(")\n").toString();
  }

  /**
   * The label a reply names, if it is exactly one of the tag's labels once trimmed, lower-cased and
   * stripped of one final period; a longer reply that merely contains a label is not read.
   */
  public static Optional<String> parse(Tag tag, String reply) {
    if (reply == null) {
      return Optional.empty();
    }
    String s = reply.strip().toLowerCase(Locale.ROOT);
    if (s.endsWith(".")) {
      s = s.substring(0, s.length() - 1).strip();
    }
    return tag.labels().contains(s) ? Optional.of(s) : Optional.empty();
  }

  /** The request for one tag of one record (greedy, seed 0: the reply depends on the prompt alone). */
  static GenerationRequest request(String id, Tag tag, PromptTemplate t, String instruction, Settings s) {
    String prompt = t.render(Map.of("instruction", instruction));
    SamplingParams p = SamplingParams.greedy(MAX_TOKENS);
    if (s.grammar()) {
      p = p.withGrammar(grammar(tag, s.chat()));
    }
    String rid = id + "/" + tag.code();
    return s.chat() ? GenerationRequest.chat(rid, List.of(new Message("user", prompt)), p, 0)
        : GenerationRequest.text(rid, prompt, p, 0);
  }

  /**
   * Tags a batch with one call to the model: one outcome per record, in order. A record without an
   * instruction fails with {@code missing_field} without any request.
   */
  public static List<Outcome> tag(LanguageModel model, Settings s, List<Example> records) {
    List<GenerationRequest> reqs = new ArrayList<>();
    int[] first = new int[records.size() + 1];
    for (int r = 0; r < records.size(); r++) {
      first[r] = reqs.size();
      String instruction = ScoredTurn.of(records.get(r)).instruction();
      if (!instruction.isBlank()) {
        for (int k = 0; k < s.tags().size(); k++) {
          reqs.add(request(records.get(r).id(), s.tags().get(k), s.templates().get(k), instruction, s));
        }
      }
    }
    first[records.size()] = reqs.size();
    List<GenerationResult> res = reqs.isEmpty() ? List.of() : model.generate(reqs);
    if (res.size() != reqs.size()) {
      throw new IllegalStateException("model " + model.ref().id() + " answered " + res.size() + " of " + reqs.size()
          + " tag requests");
    }
    ModelRef ref = model.ref();
    List<Outcome> out = new ArrayList<>(records.size());
    for (int r = 0; r < records.size(); r++) {
      Example e = records.get(r);
      if (first[r + 1] == first[r]) {
        out.add(new Outcome.Failed(RejectReason.MISSING_FIELD, "the record has no instruction to tag", 0));
        continue;
      }
      out.add(outcome(e, res.subList(first[r], first[r + 1]), s, ref));
    }
    return out;
  }

  private static Outcome outcome(Example e, List<GenerationResult> res, Settings s, ModelRef ref) {
    Map<String, Object> tags = new LinkedHashMap<>();
    Map<String, String> labels = new LinkedHashMap<>();
    for (int k = 0; k < res.size(); k++) {
      Tag tag = s.tags().get(k);
      GenerationResult x = res.get(k);
      if (!x.ok()) {
        return new Outcome.Failed(reason(x.errorKind()), tag.code() + ": " + x.error(), res.size());
      }
      String reply = x.choices().get(0).text();
      Optional<String> label = parse(tag, reply);
      if (label.isEmpty()) {
        String shown = reply.length() > 60 ? reply.substring(0, 60) + "…" : reply;
        return new Outcome.Failed(RejectReason.GENERATION_FAILED, tag.code() + ": the reply '" + shown
            + "' is not one of " + tag.labels(), res.size());
      }
      Map<String, Object> v = new LinkedHashMap<>();
      v.put("value", label.get());
      v.put("model", RecordScorer.modelMap(ref));
      v.put("format", s.chat() ? "chat" : "text");
      v.put("template", s.templates().get(k).id());
      v.put("templateHash", s.templates().get(k).hash());
      tags.put(tag.code(), v);
      labels.put(tag.code(), label.get());
    }
    Map<String, Object> all = new LinkedHashMap<>();
    if (e.metadata().get(METADATA_KEY) instanceof Map<?, ?> old) {
      old.forEach((key, val) -> all.put(String.valueOf(key), val));
    }
    all.putAll(tags);
    return new Outcome.Tagged(e.withMetadata(METADATA_KEY, all), labels, res.size());
  }

  static RejectReason reason(ErrorKind k) {
    return k.rejectReason();
  }

  /**
   * The value of tag {@code code} in a record's metadata: {@code metadata.tags.<code>.value} as this class
   * writes it, or a plain string {@code metadata.tags.<code>}; empty when the record has neither.
   */
  public static Optional<String> value(Example e, String code) {
    if (!(e.metadata().get(METADATA_KEY) instanceof Map<?, ?> tags)) {
      return Optional.empty();
    }
    Object v = tags.get(code);
    if (v instanceof Map<?, ?> m) {
      v = m.get("value");
    }
    return v instanceof String str ? Optional.of(str) : Optional.empty();
  }
}
