package io.instructflow.filters.chain;

import io.instructflow.schemas.Verdict;
import java.io.Closeable;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * An order-dependent rule of a chain: it sees every record that passed the per-record filters, in
 * input order, and keeps the first of each group of duplicates; a dropped record's verdict names the
 * kept record it duplicates ({@code matched_id}, {@code matched_location}).
 *
 * <p>A rule that can decide as a stream ({@link #open} not null) is run record by record: what it
 * compares is computed per record by {@link #prepare} (in parallel, in any order), then
 * {@link Decider#decide} sees the records in input order and keeps state for the records it kept only.
 * Such a rule's {@link #apply} is that stream over a list, so both give the same verdicts.
 */
public interface OrderedRule extends Serializable {
  /** The rule's id, as written in chain configs. */
  String id();

  /** One verdict per item, in order. */
  List<Verdict> apply(List<GateInput> items);

  /** What {@link Decider#decide} needs of a record; thread-safe, needs no other record. */
  default Object prepare(GateInput item) {
    return item;
  }

  /**
   * A decider over the records in input order, or null when the rule needs the whole list at once
   * (then only {@link #apply} runs it).
   */
  default Decider open() {
    return null;
  }

  /** Whether the rule decides as a stream. */
  default boolean streams() {
    return false;
  }

  /** Decides records one by one, in input order. Not thread-safe. */
  interface Decider extends Closeable {
    /** The verdict of the next record, given what {@link #prepare} made of it. */
    Verdict decide(GateInput item, Object prepared);

    @Override
    default void close() {}
  }

  /** {@code rule}'s stream over a list: what {@link #apply} of a streaming rule is. */
  static List<Verdict> applyAsStream(OrderedRule rule, List<GateInput> items) {
    List<Verdict> out = new ArrayList<>(items.size());
    try (Decider d = rule.open()) {
      for (GateInput g : items) {
        out.add(d.decide(g, rule.prepare(g)));
      }
    }
    return out;
  }
}
