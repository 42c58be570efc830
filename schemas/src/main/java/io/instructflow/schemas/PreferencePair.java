package io.instructflow.schemas;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A preference pair for DPO-style training, as the {@code pairs} command writes it: one JSON object per
 * line that TRL's DPO trainer reads as is ({@code prompt}, {@code chosen}, {@code rejected} as text),
 * with the same three as chat messages, the scores and margin, what each side is (model, sampling,
 * ratings), and the provenance of the prompt and of every step that made the pair.
 *
 * @param id content id of prompt, chosen and rejected
 * @param prompt the prompt as text
 * @param promptMessages the prompt as chat turns
 * @param chosen the preferred completion
 * @param rejected the other completion
 * @param chosenMessages the prompt's turns followed by the chosen answer
 * @param rejectedMessages the prompt's turns followed by the rejected answer
 * @param scoreChosen the chosen side's score (given, or the mean of its aspect ratings)
 * @param scoreRejected the rejected side's score
 * @param margin scoreChosen minus scoreRejected
 * @param chosenInfo the chosen candidate: model, sampling parameters, seed, ratings, where it came from
 * @param rejectedInfo the same for the rejected candidate
 * @param metadata free-form extra fields
 * @param provenance where the prompt came from and every step that made the pair
 */
public record PreferencePair(
    String id,
    String prompt,
    @JsonProperty("prompt_messages") List<Message> promptMessages,
    String chosen,
    String rejected,
    @JsonProperty("chosen_messages") List<Message> chosenMessages,
    @JsonProperty("rejected_messages") List<Message> rejectedMessages,
    @JsonProperty("score_chosen") double scoreChosen,
    @JsonProperty("score_rejected") double scoreRejected,
    double margin,
    @JsonProperty("chosen_info") Map<String, Object> chosenInfo,
    @JsonProperty("rejected_info") Map<String, Object> rejectedInfo,
    Map<String, Object> metadata,
    Provenance provenance) {
  public PreferencePair {
    Objects.requireNonNull(prompt, "prompt");
    Objects.requireNonNull(chosen, "chosen");
    Objects.requireNonNull(rejected, "rejected");
    Objects.requireNonNull(provenance, "provenance");
    promptMessages = List.copyOf(promptMessages);
    chosenMessages = List.copyOf(chosenMessages);
    rejectedMessages = List.copyOf(rejectedMessages);
    chosenInfo = Maps.sortedCopy(chosenInfo);
    rejectedInfo = Maps.sortedCopy(rejectedInfo);
    metadata = Maps.sortedCopy(metadata);
    if (id == null) {
      id = Ids.sha256Hex((prompt + "\u0000" + chosen + "\u0000" + rejected).getBytes(java.nio.charset.StandardCharsets.UTF_8))
          .substring(0, 24);
    }
  }
}
