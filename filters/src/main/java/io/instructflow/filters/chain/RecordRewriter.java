package io.instructflow.filters.chain;

import io.instructflow.schemas.Example;

/**
 * A per-record filter that may also change the record it keeps (PII redaction, say). The chain calls
 * {@link #rewrite} on records {@link #test} kept and carries the result on to the next filter.
 */
public interface RecordRewriter extends RecordFilter {
  /** The record to carry on with; {@code e} itself when nothing changes. */
  Example rewrite(Example e);
}
