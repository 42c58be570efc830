package io.instructflow.schemas;

import com.fasterxml.jackson.annotation.JsonIgnore;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One instruction example: either single-turn ({@code instruction}, optional {@code input} and
 * {@code output}) or multi-turn ({@code messages}), never both.
 *
 * <p>{@code id} is the content hash from {@link Ids#contentId}: the same content gets the same id on
 * every run and every worker. Build instances with {@link #single} or {@link #chat}, which compute it;
 * the canonical constructor checks the invariants but not the hash (readers check it themselves so a
 * mismatch becomes a reject, not an exception).
 *
 * @param id content hash
 * @param instruction the task, non-blank for single-turn records, null for chat records
 * @param input optional context for the task, null when absent
 * @param output the answer, null when the record is a prompt without an answer
 * @param messages chat turns, empty for single-turn records
 * @param metadata free-form, key-sorted extra fields (source columns, flags)
 * @param provenance origin and steps
 */
public record Example(
    String id,
    String instruction,
    String input,
    String output,
    List<Message> messages,
    Map<String, Object> metadata,
    Provenance provenance) {

  public Example {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(provenance, "provenance");
    messages = Maps.listCopy(messages, "messages");
    metadata = Maps.sortedCopy(metadata);
    if (messages.isEmpty()) {
      if (instruction == null || instruction.isBlank()) {
        throw new IllegalArgumentException("a single-turn example needs a non-blank instruction, got '" + instruction + "'");
      }
    } else if (instruction != null || input != null || output != null) {
      throw new IllegalArgumentException("a chat example carries messages only, not instruction/input/output");
    }
  }

  /** A single-turn example with its content id computed. */
  public static Example single(
      String instruction, String input, String output, Map<String, ?> metadata, Provenance provenance) {
    String id = Ids.contentId(instruction, input, output, List.of());
    return new Example(id, instruction, input, output, List.of(), Maps.sortedCopy(metadata), provenance);
  }

  /** A chat example with its content id computed. */
  public static Example chat(List<Message> messages, Map<String, ?> metadata, Provenance provenance) {
    if (messages == null || messages.isEmpty()) {
      throw new IllegalArgumentException("a chat example needs at least one message");
    }
    String id = Ids.contentId(null, null, null, messages);
    return new Example(id, null, null, null, messages, Maps.sortedCopy(metadata), provenance);
  }

  /** True when the record is multi-turn. */
  @JsonIgnore
  public boolean isChat() {
    return !messages.isEmpty();
  }

  /** The instruction, or for a chat record the first user turn (empty when it has none). */
  @JsonIgnore
  public String instructionText() {
    if (!isChat()) {
      return instruction;
    }
    return messages.stream().filter(m -> m.role().equals("user")).map(Message::content).findFirst().orElse("");
  }

  /** The answer, or for a chat record the last assistant turn. */
  @JsonIgnore
  public Optional<String> outputText() {
    if (!isChat()) {
      return Optional.ofNullable(output);
    }
    for (int i = messages.size() - 1; i >= 0; i--) {
      if (messages.get(i).role().equals("assistant")) {
        return Optional.of(messages.get(i).content());
      }
    }
    return Optional.empty();
  }

  /** The content id this record's fields hash to; equals {@link #id} for an untampered record. */
  @JsonIgnore
  public String computedId() {
    return Ids.contentId(instruction, input, output, messages);
  }

  /** A copy with metadata {@code key} set to {@code value}. */
  public Example withMetadata(String key, Object value) {
    Map<String, Object> m = new java.util.LinkedHashMap<>(metadata);
    m.put(key, value);
    return new Example(id, instruction, input, output, messages, m, provenance);
  }

  /** A copy with one more provenance step. */
  public Example withStep(Step step) {
    return new Example(id, instruction, input, output, messages, metadata, provenance.plus(step));
  }
}
