package io.instructflow.pipelines.blend;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A blended row in the shapes trainers read. Each method returns the row's JSON object for one format,
 * or empty when the row cannot be said in it without losing something (the run summary and the card
 * count those rows per format; they are in every format that can hold them).
 *
 * <ul>
 *   <li>{@code jsonl}: our record, provenance included.
 *   <li>{@code alpaca}: {@code instruction}, {@code input}, {@code output}; a chat must be exactly one
 *       user turn and one assistant turn.
 *   <li>{@code messages}: {@code {"messages": [{"role", "content"}...]}} (TRL / OpenAI chat format); a
 *       single-turn record is a user turn (instruction, a blank line, input) and an assistant turn.
 *   <li>{@code sharegpt}: {@code {"conversations": [{"from": "system"|"human"|"gpt", "value"}...]}}.
 *   <li>{@code dpo}: {@code prompt}, {@code chosen}, {@code rejected} (text), their chat turns, scores and
 *       margin, for rows that are preference pairs.
 *   <li>{@code parquet}: columns {@code id, split, source, license, instruction, input, output,
 *       messages (list of role/content), provenance (JSON text)}; see {@link ParquetShard}.
 * </ul>
 */
public final class Exports {
  private Exports() {}

  /**
   * The row as a DPO pair (TRL's {@code prompt}, {@code chosen}, {@code rejected} as text, the same as
   * chat turns, and the scores and margin when known), for rows read from preference pairs; a row
   * without a rejected answer cannot be a pair. A multi-turn prompt's text is the HH-RLHF transcript
   * ("\n\nHuman: ...\n\nAssistant:").
   */
  public static Optional<Map<String, Object>> dpo(Example e) {
    Object pref = e.metadata().get(io.instructflow.schemas.io.RecordConverter.PREFERENCE_KEY);
    if (!(pref instanceof Map<?, ?> p) || !(p.get("rejected") instanceof String rejected) || !e.isChat()) {
      return Optional.empty();
    }
    List<Message> t = e.messages();
    List<Message> prompt = t.subList(0, t.size() - 1);
    String chosen = t.get(t.size() - 1).content();
    String promptText;
    if (prompt.size() == 1 && prompt.get(0).role().equals("user")) {
      promptText = prompt.get(0).content();
    } else {
      StringBuilder b = new StringBuilder();
      for (Message m : prompt) {
        b.append(m.role().equals("assistant") ? "\n\nAssistant: " : m.role().equals("user") ? "\n\nHuman: " : "\n\nSystem: ")
            .append(m.content());
      }
      promptText = b.append("\n\nAssistant:").toString();
    }
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("prompt", promptText);
    m.put("chosen", chosen);
    m.put("rejected", rejected);
    List<Map<String, Object>> pm = new ArrayList<>();
    prompt.forEach(x -> pm.add(Map.of("role", x.role(), "content", x.content())));
    m.put("prompt_messages", pm);
    List<Map<String, Object>> cm = new ArrayList<>(pm);
    cm.add(Map.of("role", "assistant", "content", chosen));
    List<Map<String, Object>> rm = new ArrayList<>(pm);
    rm.add(Map.of("role", "assistant", "content", rejected));
    m.put("chosen_messages", cm);
    m.put("rejected_messages", rm);
    for (String k : List.of("score_chosen", "score_rejected", "margin")) {
      if (p.get(k) != null) {
        m.put(k, p.get(k));
      }
    }
    m.put("id", e.id());
    return Optional.of(m);
  }

  /** File extension of each format's shards. */
  public static String extension(String format) {
    return switch (format) {
      case "alpaca" -> "json";
      case "parquet" -> "parquet";
      default -> "jsonl";
    };
  }

  /** The row as the Alpaca triple. */
  public static Optional<Map<String, Object>> alpaca(Example e) {
    Map<String, Object> m = new LinkedHashMap<>();
    if (!e.isChat()) {
      m.put("instruction", e.instruction());
      m.put("input", e.input() == null ? "" : e.input());
      m.put("output", e.output() == null ? "" : e.output());
      return Optional.of(m);
    }
    List<Message> t = e.messages();
    if (t.size() != 2 || !t.get(0).role().equals("user") || !t.get(1).role().equals("assistant")) {
      return Optional.empty();
    }
    m.put("instruction", t.get(0).content());
    m.put("input", "");
    m.put("output", t.get(1).content());
    return Optional.of(m);
  }

  /** The row's turns: a chat's own, or user (instruction and input) then assistant (output, when there is one). */
  public static List<Message> turns(Example e) {
    if (e.isChat()) {
      return e.messages();
    }
    List<Message> out = new ArrayList<>();
    String user = e.input() == null || e.input().isEmpty() ? e.instruction() : e.instruction() + "\n\n" + e.input();
    out.add(new Message("user", user));
    if (e.output() != null) {
      out.add(new Message("assistant", e.output()));
    }
    return out;
  }

  /** The row in the chat {@code messages} format. */
  public static Optional<Map<String, Object>> messages(Example e) {
    List<Map<String, Object>> l = new ArrayList<>();
    for (Message m : turns(e)) {
      l.add(Map.of("role", m.role(), "content", m.content()));
    }
    return Optional.of(Map.of("messages", l));
  }

  /** The row in the ShareGPT format; a tool turn cannot be said in it. */
  public static Optional<Map<String, Object>> sharegpt(Example e) {
    List<Map<String, Object>> l = new ArrayList<>();
    for (Message m : turns(e)) {
      String from = switch (m.role()) {
        case "system" -> "system";
        case "user" -> "human";
        case "assistant" -> "gpt";
        default -> null;
      };
      if (from == null) {
        return Optional.empty();
      }
      l.add(Map.of("from", from, "value", m.content()));
    }
    return Optional.of(Map.of("conversations", l));
  }

  /** The JSON line of a row in a line-oriented format, or empty. */
  public static Optional<String> line(String format, Example e) {
    Optional<Map<String, Object>> m = switch (format) {
      case "jsonl" -> Optional.of(Map.of());
      case "alpaca" -> alpaca(e);
      case "messages" -> messages(e);
      case "sharegpt" -> sharegpt(e);
      case "dpo" -> dpo(e);
      default -> throw new IllegalArgumentException("not a line format: " + format);
    };
    if (m.isEmpty()) {
      return Optional.empty();
    }
    return Optional.of(format.equals("jsonl") ? Json.line(e) : Json.line(m.get()));
  }
}
