package io.instructflow.filters.quality;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.filters.chain.RecordFilter;
import io.instructflow.filters.rouge.RougeL;
import io.instructflow.filters.rouge.Tokenizer;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An output that merely repeats its instruction: ROUGE-L F between the output and the instruction
 * (Unicode tokens, so any script) at or above {@code threshold} (default 0.9) drops
 * ({@value #REPEATS}). A record without output is not judged here.
 *
 * @param threshold the F at which an output counts as a repeat
 */
public record EchoFilter(double threshold) implements RecordFilter {
  private static final long serialVersionUID = 1L;

  public static final String TYPE = "echo";
  public static final String REPEATS = "echo.repeats_instruction";

  public EchoFilter {
    if (!(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("echo: threshold must be in (0, 1], got " + threshold);
    }
  }

  /** From a chain config: {@code threshold}. */
  public static EchoFilter fromJson(JsonNode n, String at) {
    Config c = new Config(n, at, Set.of("threshold"));
    try {
      return new EchoFilter(c.number("threshold", 0.9));
    } catch (IllegalArgumentException e) {
      throw c.error(e.getMessage());
    }
  }

  @Override
  public String id() {
    return TYPE;
  }

  @Override
  public Verdict test(Example e) {
    String out = TextField.OUTPUT.of(e);
    if (out.isBlank()) {
      return Verdict.KEPT;
    }
    Tokenizer tok = Tokenizer.named("unicode", false);
    List<String> a = tok.tokens(out);
    List<String> b = tok.tokens(TextField.INSTRUCTION.of(e));
    if (a.isEmpty() || b.isEmpty()) {
      return Verdict.KEPT;
    }
    Map<String, Integer> ids = new HashMap<>();
    double f = RougeL.fmeasure(ids(a, ids), ids(b, ids));
    return f >= threshold
        ? new Verdict.Dropped(TYPE, REPEATS, Map.of("score", Math.round(f * 10_000) / 10_000.0, "threshold", threshold))
        : Verdict.KEPT;
  }

  private static int[] ids(List<String> tokens, Map<String, Integer> ids) {
    int[] out = new int[tokens.size()];
    for (int i = 0; i < out.length; i++) {
      out[i] = ids.computeIfAbsent(tokens.get(i), k -> ids.size());
    }
    return out;
  }

  /** Makes this filter from its chain config entry; listed in {@code META-INF/services} ({@link io.instructflow.filters.chain.FilterRegistry}). */
  public static final class Factory extends io.instructflow.filters.chain.FilterFactory.Of {
    public Factory() {
      super(TYPE, EchoFilter::fromJson);
    }
  }
}
