package io.instructflow.filters.dedup;

import java.util.Arrays;

/**
 * A multimap from 64-bit keys to int values with no boxing: open addressing for the keys, one linked
 * list of entries per key in flat arrays. About 24 bytes per distinct key at the highest load, plus 8
 * per entry; what the streaming dedup rules keep for each kept record.
 *
 * <pre>{@code
 * LongMultiMap m = new LongMultiMap();
 * m.put(key, 7);
 * for (int e = m.first(key); e >= 0; e = m.next(e)) { int v = m.value(e); }
 * }</pre>
 */
final class LongMultiMap {
  private long[] keys = new long[1 << 10];
  private int[] heads = new int[1 << 10];
  private boolean[] used = new boolean[1 << 10];
  private int distinct;
  private int[] values = new int[1 << 10];
  private int[] next = new int[1 << 10];
  private int entries;

  /** Adds {@code value} under {@code key}; values of a key come back newest first. */
  void put(long key, int value) {
    if (3 * (distinct + 1) > 2 * keys.length) {
      grow();
    }
    if (entries == values.length) {
      values = Arrays.copyOf(values, entries * 2);
      next = Arrays.copyOf(next, entries * 2);
    }
    int slot = find(key);
    values[entries] = value;
    if (used[slot]) {
      next[entries] = heads[slot];
    } else {
      used[slot] = true;
      keys[slot] = key;
      next[entries] = -1;
      distinct++;
    }
    heads[slot] = entries++;
  }

  /** The newest entry of {@code key}, or -1. */
  int first(long key) {
    int slot = find(key);
    return used[slot] ? heads[slot] : -1;
  }

  /** The entry after {@code entry} under the same key, or -1. */
  int next(int entry) {
    return next[entry];
  }

  /** The value of {@code entry}. */
  int value(int entry) {
    return values[entry];
  }

  private int find(long key) {
    int mask = keys.length - 1;
    for (int i = (int) MinHashDedup.mix(key) & mask; ; i = (i + 1) & mask) {
      if (!used[i] || keys[i] == key) {
        return i;
      }
    }
  }

  private void grow() {
    long[] oldKeys = keys;
    int[] oldHeads = heads;
    boolean[] oldUsed = used;
    keys = new long[oldKeys.length * 2];
    heads = new int[keys.length];
    used = new boolean[keys.length];
    for (int i = 0; i < oldKeys.length; i++) {
      if (oldUsed[i]) {
        int slot = find(oldKeys[i]);
        used[slot] = true;
        keys[slot] = oldKeys[i];
        heads[slot] = oldHeads[i];
      }
    }
  }
}
