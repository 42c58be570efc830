package io.instructflow.pipelines.stats;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Message;
import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Statistics of a set of records: counts, composition by dataset / license / format, and the length
 * distribution (characters and whitespace-separated words) of each field. Mergeable, so it is computed
 * per worker and combined.
 *
 * <p>Character counts are Unicode code points, so a Chinese instruction counts one per character, not
 * one per UTF-16 unit. Words are whitespace-separated runs, which under-counts unsegmented Chinese text;
 * the character counts are the measure to read for it.
 */
public final class DatasetStats implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final String[] FIELDS = {"instruction", "input", "output", "messages"};

  private long records;
  private long chat;
  private final TreeMap<String, Long> byDataset = new TreeMap<>();
  private final TreeMap<String, Long> byLicense = new TreeMap<>();
  private final TreeMap<String, Long> byFormat = new TreeMap<>();
  private final TreeMap<String, Long> present = new TreeMap<>();
  private final TreeMap<String, FieldStats> chars = new TreeMap<>();
  private final TreeMap<String, FieldStats> words = new TreeMap<>();
  private final FieldStats turns = new FieldStats();

  /** Adds one record. */
  public void add(Example e) {
    records++;
    byDataset.merge(e.provenance().origin().dataset(), 1L, Long::sum);
    byLicense.merge(e.provenance().origin().license(), 1L, Long::sum);
    byFormat.merge(e.provenance().origin().format(), 1L, Long::sum);
    if (e.isChat()) {
      chat++;
      turns.add(e.messages().size());
      StringBuilder all = new StringBuilder();
      for (Message m : e.messages()) {
        all.append(m.content()).append('\n');
      }
      field("messages", all.toString());
    } else {
      field("instruction", e.instruction());
      field("input", e.input());
      field("output", e.output());
    }
  }

  private void field(String name, String value) {
    if (value == null || value.isEmpty()) {
      return;
    }
    present.merge(name, 1L, Long::sum);
    chars.computeIfAbsent(name, k -> new FieldStats()).add(value.codePointCount(0, value.length()));
    String t = value.strip();
    words.computeIfAbsent(name, k -> new FieldStats()).add(t.isEmpty() ? 0 : t.split("\\s+").length);
  }

  /** Adds everything {@code o} saw. */
  public DatasetStats merge(DatasetStats o) {
    records += o.records;
    chat += o.chat;
    o.byDataset.forEach((k, v) -> byDataset.merge(k, v, Long::sum));
    o.byLicense.forEach((k, v) -> byLicense.merge(k, v, Long::sum));
    o.byFormat.forEach((k, v) -> byFormat.merge(k, v, Long::sum));
    o.present.forEach((k, v) -> present.merge(k, v, Long::sum));
    o.chars.forEach((k, v) -> chars.computeIfAbsent(k, x -> new FieldStats()).merge(v));
    o.words.forEach((k, v) -> words.computeIfAbsent(k, x -> new FieldStats()).merge(v));
    turns.merge(o.turns);
    return this;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DatasetStats d && toMap().equals(d.toMap());
  }

  @Override
  public int hashCode() {
    return toMap().hashCode();
  }

  /** Number of records seen. */
  public long records() {
    return records;
  }

  /** The statistics as a JSON-ready map. */
  public Map<String, Object> toMap() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("records", records);
    m.put("chatRecords", chat);
    m.put("byDataset", byDataset);
    m.put("byLicense", byLicense);
    m.put("byFormat", byFormat);
    Map<String, Object> fields = new LinkedHashMap<>();
    for (String f : FIELDS) {
      if (!present.containsKey(f)) {
        continue;
      }
      Map<String, Object> fm = new LinkedHashMap<>();
      fm.put("present", present.get(f));
      fm.put("chars", chars.get(f).summary());
      fm.put("words", words.get(f).summary());
      fields.put(f, fm);
    }
    m.put("fields", fields);
    if (chat > 0) {
      m.put("turns", turns.summary());
    }
    return m;
  }
}
