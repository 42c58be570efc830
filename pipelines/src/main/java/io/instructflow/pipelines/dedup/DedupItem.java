package io.instructflow.pipelines.dedup;

import io.instructflow.pipelines.io.OrderKey;
import java.io.Serializable;
import java.util.List;

/**
 * What the near-duplicate decision needs of one record: its place in the order, its tokens, and how
 * to name it when another record matches it.
 *
 * @param key input position
 * @param sortValue the {@code --order-by} value, or null to use input order
 * @param tokens the compared text's tokens
 * @param id the record id
 * @param location the record's origin location
 */
record DedupItem(OrderKey key, SortValue sortValue, List<String> tokens, String id, String location) implements Serializable {}
