package io.instructflow.pipelines.dedup;

import java.io.Serializable;

/**
 * The near-duplicate decision for one record.
 *
 * @param kept whether it is kept
 * @param matchedId for a dropped record, the id of the kept record it matched best
 * @param matchedLocation that record's origin location
 * @param score the ROUGE-L F of the match
 */
record DedupDecision(boolean kept, String matchedId, String matchedLocation, double score) implements Serializable {}
