package io.instructflow.filters.chain;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.dedup.ExactDedup;
import io.instructflow.filters.dedup.MinHashComponents;
import io.instructflow.filters.dedup.MinHashDedup;
import io.instructflow.filters.dedup.SemanticComponents;
import io.instructflow.filters.dedup.SemanticDedup;
import io.instructflow.filters.judge.JudgeRule;
import io.instructflow.filters.rouge.RougeGate;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A filter chain: per-record filters applied in order (the first drop decides), then optionally the
 * order-dependent ROUGE-L rule over the records that passed them, in input order, against the
 * records kept before each one and an optional pool of texts that count as already kept.
 *
 * <p>Chains are JSON:
 *
 * <pre>{@code
 * {"name": "self-instruct",
 *  "filters": [{"type": "instruction_rules", "preset": "self-instruct"},
 *              {"type": "rouge_l", "threshold": 0.7, "tokenizer": "rouge"}]}
 * }</pre>
 *
 * Filter types: {@code instruction_rules} ({@code preset}: {@code self-instruct} or {@code alpaca};
 * {@code allowNonAsciiFirst}: lift the first-character rule), {@code evol_elimination} (the four
 * Evol-Instruct elimination rules, see {@link EvolEliminationFilter}) and {@code rouge_l} ({@code threshold},
 * default 0.7; {@code tokenizer}: {@code rouge} or {@code unicode}; it compares instructions and must
 * come last). An unknown type or field is an error, not ignored. The built-in presets are
 * {@code self-instruct} and {@code alpaca} (the rules of those papers) and {@code evol-elimination}.
 *
 * @param name the chain's name (the preset's, or the config file's)
 * @param perRecord the per-record filters, in order
 * @param judge the LLM-judge rule ({@code llm_judge}), run by the pipeline on the records that passed
 *     the per-record filters, before the dedup rules; or null
 * @param dedup the order-dependent dedup rules ({@code exact_dedup}, {@code minhash_dedup}, {@code semantic_dedup}), in order
 * @param rouge the ROUGE-L rule, or null
 * @param hash hex SHA-256 of the chain's canonical JSON, for provenance
 */
public record FilterChain(String name, List<RecordFilter> perRecord, JudgeRule judge, List<OrderedRule> dedup, Rouge rouge,
    String hash)
    implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Built-in preset names. */
  public static final List<String> PRESETS = List.of("self-instruct", "alpaca", "evol-elimination", "sft-default");

  /**
   * The types the chain reads itself, because where they stand in a chain is part of what they do:
   * the dedup rules (after every per-record filter), {@code llm_judge} (at most one, after them) and
   * {@code rouge_l} (last). Every other type is a per-record filter from {@link FilterRegistry}.
   */
  public static final List<String> RESERVED_TYPES =
      List.of(JudgeRule.TYPE, ExactDedup.TYPE, MinHashDedup.TYPE, SemanticDedup.TYPE, RougeGate.FILTER);

  /** The filter types a chain may use: the registered per-record filters, then the reserved types. */
  public static List<String> types() {
    List<String> all = new ArrayList<>(FilterRegistry.installed().types());
    all.addAll(RESERVED_TYPES);
    return List.copyOf(all);
  }


  /**
   * The ROUGE-L rule's settings.
   *
   * @param threshold drop at F above this
   * @param tokenizer tokenizer name
   */
  public record Rouge(double threshold, String tokenizer) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Rouge {
      Tokenizer.named(tokenizer, false);
      if (!(threshold > 0 && threshold <= 1)) {
        throw new IllegalArgumentException("rouge_l threshold must be in (0, 1], got " + threshold);
      }
    }

    /** The gate. */
    public RougeGate gate() {
      return new RougeGate(threshold, Tokenizer.named(tokenizer, false));
    }
  }

  public FilterChain {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(hash, "hash");
    perRecord = List.copyOf(perRecord);
    dedup = List.copyOf(dedup);
  }

  /** Whether the chain has order-dependent rules, which need every passing record in one place. */
  public boolean ordered() {
    return rouge != null || !dedup.isEmpty();
  }

  /**
   * The distributed components rule the chain starts its dedup rules with ({@code minhash_dedup} or
   * {@code semantic_dedup} with {@code mode} components: {@link MinHashComponents}, {@link SemanticComponents}), if any: a pipeline runs it as a stage of its own, then {@link #afterComponents}.
   */
  public java.util.Optional<OrderedRule> components() {
    return !dedup.isEmpty() && (dedup.get(0) instanceof MinHashComponents || dedup.get(0) instanceof SemanticComponents)
        ? java.util.Optional.of(dedup.get(0)) : java.util.Optional.empty();
  }

  /** This chain without its leading components rule (same name and hash); itself when it has none. */
  public FilterChain afterComponents() {
    return components().isEmpty() ? this : new FilterChain(name, perRecord, judge, dedup.subList(1, dedup.size()), rouge, hash);
  }

  /** The built-in preset {@code name}. */
  public static FilterChain preset(String name) {
    if (!PRESETS.contains(name)) {
      throw new IllegalArgumentException("unknown preset '" + name + "', expected one of " + PRESETS);
    }
    try (InputStream in = FilterChain.class.getResourceAsStream("/io/instructflow/filters/presets/" + name + ".json")) {
      return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8), "preset " + name);
    } catch (IOException e) {
      throw new IllegalStateException("reading preset " + name + ": " + e.getMessage(), e);
    }
  }

  /**
   * A copy with {@code f} appended to the per-record filters (before the ROUGE-L rule), its name and
   * hash extended to say so.
   */
  public FilterChain plus(RecordFilter f, String description) {
    List<RecordFilter> fs = new ArrayList<>(perRecord);
    fs.add(f);
    return new FilterChain(name + "+" + f.id(), fs, judge, dedup, rouge,
        Ids.sha256Hex((hash + "\n" + description).getBytes(StandardCharsets.UTF_8)));
  }

  /** The chain in a JSON file. */
  public static FilterChain read(Path file) throws IOException {
    return parse(Files.readString(file, StandardCharsets.UTF_8), file.toString());
  }

  /**
   * Parses a chain config.
   *
   * @param where names the config in error messages
   * @throws IllegalArgumentException on anything malformed, naming the filter and field
   */
  public static FilterChain parse(String json, String where) {
    JsonNode root;
    try {
      root = Json.mapper().readTree(json);
    } catch (IOException e) {
      throw new IllegalArgumentException(where + ": not valid JSON: " + e.getMessage());
    }
    if (root == null || !root.isObject() || !root.path("filters").isArray()) {
      throw new IllegalArgumentException(where + ": a chain is an object with a 'filters' array");
    }
    only(root, Set.of("name", "filters"), where);
    List<RecordFilter> perRecord = new ArrayList<>();
    List<OrderedRule> dedup = new ArrayList<>();
    JudgeRule judge = null;
    Rouge rouge = null;
    int i = 0;
    for (JsonNode f : root.get("filters")) {
      String at = where + ": filters[" + i++ + "]";
      if (rouge != null) {
        throw new IllegalArgumentException(at + ": rouge_l must be the last filter");
      }
      String type = f.path("type").asText("");
      boolean ordered = type.equals(ExactDedup.TYPE) || type.equals(MinHashDedup.TYPE) || type.equals(SemanticDedup.TYPE)
          || type.equals(RougeGate.FILTER);
      if (!ordered && !dedup.isEmpty()) {
        throw new IllegalArgumentException(at + ": per-record filters and llm_judge come before the dedup rules");
      }
      if (!ordered && !type.equals(JudgeRule.TYPE) && judge != null) {
        throw new IllegalArgumentException(at + ": per-record filters come before llm_judge");
      }
      switch (type) {
        case ExactDedup.TYPE -> dedup.add(ExactDedup.fromJson(f, at));
        case MinHashDedup.TYPE -> {
          OrderedRule r = MinHashDedup.ruleFromJson(f, at);
          if (r instanceof MinHashComponents && !dedup.isEmpty()) {
            // the pipeline runs it as its own distributed stage on the records the judge and the
            // per-record filters passed, before the ordered rules
            throw new IllegalArgumentException(at + ": minhash_dedup with mode components must be the first dedup rule");
          }
          dedup.add(r);
        }
        case SemanticDedup.TYPE -> {
          OrderedRule r = SemanticDedup.ruleFromJson(f, at);
          if (r instanceof SemanticComponents && !dedup.isEmpty()) {
            // like minhash_dedup's components mode: its own distributed stage, before the ordered rules
            throw new IllegalArgumentException(at + ": semantic_dedup with mode components must be the first dedup rule");
          }
          dedup.add(r);
        }
        case JudgeRule.TYPE -> {
          if (judge != null) {
            throw new IllegalArgumentException(at + ": a chain has at most one llm_judge");
          }
          judge = JudgeRule.fromJson(f, at);
        }
        case RougeGate.FILTER -> {
          only(f, Set.of("type", "threshold", "tokenizer"), at);
          try {
            rouge = new Rouge(f.path("threshold").asDouble(0.7), f.path("tokenizer").asText("rouge"));
          } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(at + ": " + e.getMessage());
          }
        }
        default -> perRecord.add(FilterRegistry.installed().factory(type).orElseThrow(() -> new IllegalArgumentException(
            at + ": unknown filter type '" + type + "', expected one of " + types())).create(f, at));
      }
    }
    String canonical = Json.line(Json.mapper().convertValue(root, Object.class));
    return new FilterChain(root.path("name").asText(where), perRecord, judge, dedup, rouge,
        Ids.sha256Hex(canonical.getBytes(StandardCharsets.UTF_8)));
  }

  static void only(JsonNode n, Set<String> allowed, String at) {
    for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!allowed.contains(k)) {
        throw new IllegalArgumentException(at + ": unknown field '" + k + "', expected " + allowed);
      }
    }
  }

  /**
   * What the per-record filters made of a record.
   *
   * @param record the record as the filters left it (rewriters such as PII redaction may change it)
   * @param verdict the first drop, or kept
   */
  public record Result(Example record, Verdict verdict) {}

  /** The per-record filters in order: the first drop decides; rewriters change the kept record. */
  public Result run(Example e) {
    Example at = e;
    for (RecordFilter f : perRecord) {
      Verdict v = f.test(at);
      if (v instanceof Verdict.Dropped) {
        return new Result(at, v);
      }
      if (f instanceof RecordRewriter r) {
        at = r.rewrite(at);
      }
    }
    return new Result(at, Verdict.KEPT);
  }

  /**
   * The whole chain over records in input order, in one JVM: per-record filters, then the ROUGE-L
   * rule over the survivors against {@code pool}. A ROUGE-L drop names its match as
   * {@code matched_id} and {@code matched_location} (a record) or {@code matched_pool_index} and
   * {@code matched_text} (a pool text).
   */
  public List<Verdict> apply(List<Example> records, List<String> pool) {
    if (judge != null) {
      throw new IllegalStateException("chain " + name + " has an llm_judge, which needs a model: run it with the filter command");
    }
    List<Verdict> out = new ArrayList<>(records.size());
    List<Integer> live = new ArrayList<>();
    for (int i = 0; i < records.size(); i++) {
      Verdict v = run(records.get(i)).verdict();
      out.add(v);
      if (v instanceof Verdict.Kept) {
        live.add(i);
      }
    }
    if (!ordered()) {
      return out;
    }
    List<GateInput> inputs = new ArrayList<>(live.size());
    live.forEach(i -> inputs.add(GateInput.of(records.get(i))));
    List<Verdict> gated = gate(inputs, pool);
    for (int j = 0; j < live.size(); j++) {
      out.set(live.get(j), gated.get(j));
    }
    return out;
  }

  /**
   * The order-dependent rules over the records that passed the per-record filters, in input order:
   * each dedup rule on the survivors of the one before, then the ROUGE-L rule on the instructions,
   * against the records kept before and {@code pool}. One verdict per input.
   */
  public List<Verdict> gate(List<GateInput> inputs, List<String> pool) {
    List<Verdict> out = new ArrayList<>(java.util.Collections.nCopies(inputs.size(), Verdict.KEPT));
    List<Integer> live = new ArrayList<>();
    for (int i = 0; i < inputs.size(); i++) {
      live.add(i);
    }
    for (OrderedRule r : dedup) {
      List<GateInput> now = new ArrayList<>(live.size());
      live.forEach(i -> now.add(inputs.get(i)));
      List<Verdict> v = r.apply(now);
      List<Integer> next = new ArrayList<>();
      for (int j = 0; j < live.size(); j++) {
        if (v.get(j) instanceof Verdict.Kept) {
          next.add(live.get(j));
        } else {
          out.set(live.get(j), v.get(j));
        }
      }
      live = next;
    }
    if (rouge == null) {
      return out;
    }
    List<String> texts = new ArrayList<>(live.size());
    live.forEach(i -> texts.add(inputs.get(i).instruction()));
    List<RougeGate.Drop> drops = rouge.gate().apply(texts, pool);
    for (int j = 0; j < live.size(); j++) {
      RougeGate.Drop d = drops.get(j);
      if (d != null) {
        if (d.inPool()) {
          out.set(live.get(j), rougeDrop(d, null, null, pool.get(d.index())));
        } else {
          GateInput match = inputs.get(live.get(d.index()));
          out.set(live.get(j), rougeDrop(d, match.id(), match.location(), null));
        }
      }
    }
    return out;
  }

  /**
   * The verdict of a ROUGE-L drop: against the record {@code matchedId} at {@code matchedLocation}, or
   * (for a pool match) the pool text {@code poolText}.
   */
  public Verdict.Dropped rougeDrop(RougeGate.Drop d, String matchedId, String matchedLocation, String poolText) {
    Map<String, Object> details = new LinkedHashMap<>();
    details.put("score", d.score());
    details.put("threshold", rouge.threshold());
    if (d.inPool()) {
      details.put("matched_pool_index", d.index());
      details.put("matched_text", poolText);
    } else {
      details.put("matched_id", matchedId);
      details.put("matched_location", matchedLocation);
    }
    return new Verdict.Dropped(RougeGate.FILTER, RougeGate.REASON, details);
  }

  /** The chain for provenance and the run summary. */
  public Map<String, Object> asMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("chain", name);
    m.put("chainHash", hash);
    List<String> ids = new ArrayList<>();
    perRecord.forEach(f -> ids.add(f.id()));
    if (judge != null) {
      ids.add(JudgeRule.TYPE);
      m.put("judgeThreshold", judge.threshold());
      m.put("judgeTemplate", judge.template());
      m.put("judgeRubric", judge.rubric().code());
    }
    dedup.forEach(r -> ids.add(r.id()));
    if (rouge != null) {
      ids.add(RougeGate.FILTER);
      m.put("rougeThreshold", rouge.threshold());
      m.put("tokenizer", rouge.tokenizer());
    }
    m.put("filters", ids);
    return m;
  }
}
