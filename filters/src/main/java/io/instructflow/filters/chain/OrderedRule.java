package io.instructflow.filters.chain;

import io.instructflow.schemas.Verdict;
import java.io.Serializable;
import java.util.List;

/**
 * An order-dependent rule of a chain: it sees every record that passed the per-record filters, in
 * input order, and keeps the first of each group of duplicates; a dropped record's verdict names the
 * kept record it duplicates ({@code matched_id}, {@code matched_location}).
 */
public interface OrderedRule extends Serializable {
  /** The rule's id, as written in chain configs. */
  String id();

  /** One verdict per item, in order. */
  List<Verdict> apply(List<GateInput> items);
}
