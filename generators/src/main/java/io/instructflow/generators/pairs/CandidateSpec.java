package io.instructflow.generators.pairs;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * One entry of {@code --candidates}: which model writes candidates, how many, and how it samples.
 * Written {@code MODEL[:t=T][:n=N][:top_p=P][:max=TOKENS]}, entries separated by commas, where MODEL is
 * a GGUF file (embedded llama.cpp) or {@code NAME@URL} (model NAME behind an OpenAI-compatible API at
 * URL). Defaults: t=0.7, n=1, top_p=0.95, max=256.
 *
 * @param model GGUF path, or NAME@URL
 * @param temperature sampling temperature
 * @param n candidates per prompt
 * @param topP nucleus sampling
 * @param maxTokens tokens per candidate
 */
public record CandidateSpec(String model, double temperature, int n, double topP, int maxTokens) implements Serializable {
  private static final long serialVersionUID = 1L;

  public CandidateSpec {
    if (model == null || model.isBlank()) {
      throw new IllegalArgumentException("--candidates: an entry has no model");
    }
    if (n < 1 || maxTokens < 1 || temperature < 0 || !(topP > 0 && topP <= 1)) {
      throw new IllegalArgumentException("--candidates " + model + ": need n >= 1, max >= 1, t >= 0, 0 < top_p <= 1");
    }
  }

  /** Whether MODEL names a remote model ({@code NAME@URL}). */
  public boolean remote() {
    return model.matches("[^/@]+@https?://.+");
  }

  /** The remote model's name. */
  public String remoteName() {
    return model.substring(0, model.indexOf('@'));
  }

  /** The remote model's URL. */
  public String remoteUrl() {
    return model.substring(model.indexOf('@') + 1);
  }

  /** Parses a {@code --candidates} value. */
  public static List<CandidateSpec> parseList(String value) {
    List<CandidateSpec> out = new ArrayList<>();
    for (String entry : value.split(",")) {
      if (entry.isBlank()) {
        continue;
      }
      List<String> model = new ArrayList<>();
      double t = 0.7;
      int n = 1;
      double p = 0.95;
      int max = 256;
      for (String part : entry.trim().split(":")) {
        String[] kv = part.split("=", 2);
        try {
          switch (kv.length == 2 && model.size() > 0 ? kv[0] : "") {
            case "t" -> t = Double.parseDouble(kv[1]);
            case "n" -> n = Integer.parseInt(kv[1]);
            case "top_p" -> p = Double.parseDouble(kv[1]);
            case "max" -> max = Integer.parseInt(kv[1]);
            default -> model.add(part);
          }
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("--candidates: '" + part + "' in '" + entry.trim() + "' is not a number");
        }
      }
      out.add(new CandidateSpec(String.join(":", model), t, n, p, max));
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException("--candidates: no entries");
    }
    return out;
  }
}
