package io.instructflow.generators.pairs;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One input row of the {@code pairs} command: a prompt and the candidates it brings. Shapes:
 *
 * <ul>
 *   <li>UltraFeedback: {@code instruction} and {@code completions[]} with {@code model},
 *       {@code response} and {@code annotations.<aspect>.Rating} (a rating that is not a number, such as
 *       "N/A", is left out); {@code overall_score} is kept in the candidate's info, not used to rank.
 *   <li>Simple: {@code prompt} and {@code candidates[]} with {@code text}, optional {@code score}
 *       (used as is) and {@code model}.
 *   <li>A response: {@code instruction} (with optional {@code input}) or {@code prompt}, and one of
 *       {@code response}, {@code output}, {@code completion}: one candidate, whose model is the row's
 *       {@code model} or the file's name (Self-Instruct's {@code <model>_predictions.jsonl}). Rows with
 *       the same prompt, from any file, are one prompt with several candidates.
 *   <li>A prompt alone ({@code prompt}, or {@code instruction} and {@code input}): candidates come from
 *       {@code --candidates}.
 * </ul>
 *
 * @param prompt the prompt text (instruction, a blank line, input)
 * @param shape {@code ultrafeedback}, {@code candidates}, {@code response} or {@code prompt}
 * @param candidates the candidates the row brings
 */
public record PairInput(String prompt, String shape, List<Candidate> candidates) implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Thrown for a row that is none of the shapes. */
  public static final class BadRow extends Exception {
    private static final long serialVersionUID = 1L;

    public BadRow(String message) {
      super(message);
    }
  }

  /**
   * Reads a row.
   *
   * @param fileModel the model name a response row gets when it has no {@code model}
   * @param location {@code file:line}, recorded with each candidate
   */
  public static PairInput parse(JsonNode n, String fileModel, String location) throws BadRow {
    if (n == null || !n.isObject()) {
      throw new BadRow("not a JSON object");
    }
    String prompt = promptOf(n);
    if (prompt == null || prompt.isBlank()) {
      throw new BadRow("no prompt: expected 'prompt' or 'instruction'");
    }
    List<Candidate> out = new ArrayList<>();
    if (n.has("completions")) {
      if (!n.get("completions").isArray()) {
        throw new BadRow("'completions' is not an array");
      }
      int k = 0;
      for (JsonNode c : n.get("completions")) {
        if (!c.path("response").isTextual()) {
          throw new BadRow("completions[" + k + "] has no 'response' text");
        }
        Map<String, Double> ratings = new LinkedHashMap<>();
        c.path("annotations").fields().forEachRemaining(e -> {
          String key = Aspects.key(e.getKey());
          JsonNode r = e.getValue().path("Rating");
          if (key != null && (r.isNumber() || r.isTextual() && r.asText().matches("\\d+(\\.\\d+)?"))) {
            ratings.put(key, r.asDouble());
          }
        });
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("location", location);
        info.put("index", k);
        if (c.has("overall_score") && c.get("overall_score").isNumber()) {
          info.put("overall_score", c.get("overall_score").asDouble());
        }
        out.add(new Candidate(c.get("response").asText(), c.path("model").asText("unknown"), null, ratings, info));
        k++;
      }
      return new PairInput(prompt, "ultrafeedback", out);
    }
    if (n.has("candidates")) {
      if (!n.get("candidates").isArray()) {
        throw new BadRow("'candidates' is not an array");
      }
      int k = 0;
      for (JsonNode c : n.get("candidates")) {
        JsonNode text = c.isTextual() ? c : c.path("text");
        if (!text.isTextual()) {
          throw new BadRow("candidates[" + k + "] has no 'text'");
        }
        JsonNode score = c.path("score");
        if (!score.isMissingNode() && !score.isNull() && !score.isNumber()) {
          throw new BadRow("candidates[" + k + "].score is not a number");
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("location", location);
        info.put("index", k);
        out.add(new Candidate(text.asText(), c.path("model").asText(fileModel), score.isNumber() ? score.asDouble() : null,
            Map.of(), info));
        k++;
      }
      return new PairInput(prompt, "candidates", out);
    }
    for (String f : List.of("response", "output", "completion")) {
      if (n.path(f).isTextual()) {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("location", location);
        out.add(new Candidate(n.get(f).asText(), n.path("model").asText(fileModel), null, Map.of(), info));
        return new PairInput(prompt, "response", out);
      }
    }
    return new PairInput(prompt, "prompt", out);
  }

  static String promptOf(JsonNode n) {
    if (n.path("prompt").isTextual() && !n.has("instruction")) {
      return n.get("prompt").asText();
    }
    if (!n.path("instruction").isTextual()) {
      return n.path("prompt").isTextual() ? n.get("prompt").asText() : null;
    }
    String ins = n.get("instruction").asText().strip();
    String in = n.path("input").asText("").strip();
    return in.isEmpty() ? ins : ins + "\n\n" + in;
  }

  /** The model name of a file: its base name without {@code .jsonl}/{@code .json} and a {@code _predictions} suffix. */
  public static String fileModel(String fileName) {
    return fileName.replaceAll("\\.(jsonl|json)$", "").replaceAll("_predictions$", "");
  }
}
