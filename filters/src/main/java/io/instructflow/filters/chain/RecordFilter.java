package io.instructflow.filters.chain;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Verdict;
import java.io.Serializable;

/**
 * A per-record filter: keeps a record or drops it with a reason code and evidence. Stateless and
 * thread-safe, so a pipeline can apply it to records in any order and on any worker.
 */
public interface RecordFilter extends Serializable {
  /** The filter's stable id, as written in chain configs. */
  String id();

  /** {@link Verdict#KEPT} or a drop; never null. Poor text is a drop, not an exception. */
  Verdict test(Example e);
}
