package io.instructflow.filters.rouge;

import java.util.Arrays;

/**
 * A map from long keys to int counts, open addressing with linear probing, no boxing: the document
 * frequencies of {@link RougeIndex}, looked up for every query term.
 */
final class LongIntMap {
  private static final long EMPTY = Long.MIN_VALUE;

  private long[] keys;
  private int[] values;
  private int size;

  LongIntMap() {
    keys = new long[1 << 12];
    values = new int[keys.length];
    Arrays.fill(keys, EMPTY);
  }

  /** The value of {@code key}, or 0. */
  int get(long key) {
    check(key);
    int mask = keys.length - 1;
    for (int i = slot(key, mask); ; i = (i + 1) & mask) {
      long k = keys[i];
      if (k == key) {
        return values[i];
      }
      if (k == EMPTY) {
        return 0;
      }
    }
  }

  /** Adds {@code delta} to the value of {@code key} (absent keys count as 0). */
  void add(long key, int delta) {
    check(key);
    if (2 * (size + 1) > keys.length) {
      grow();
    }
    int mask = keys.length - 1;
    for (int i = slot(key, mask); ; i = (i + 1) & mask) {
      long k = keys[i];
      if (k == key) {
        values[i] += delta;
        return;
      }
      if (k == EMPTY) {
        keys[i] = key;
        values[i] = delta;
        size++;
        return;
      }
    }
  }

  int size() {
    return size;
  }

  private static void check(long key) {
    if (key == EMPTY) {
      throw new IllegalArgumentException("reserved key");
    }
  }

  private static int slot(long key, int mask) {
    long h = key * 0x9E3779B97F4A7C15L;
    return (int) (h ^ (h >>> 32)) & mask;
  }

  private void grow() {
    long[] oldKeys = keys;
    int[] oldValues = values;
    keys = new long[oldKeys.length * 2];
    values = new int[keys.length];
    Arrays.fill(keys, EMPTY);
    size = 0;
    for (int i = 0; i < oldKeys.length; i++) {
      if (oldKeys[i] != EMPTY) {
        add(oldKeys[i], oldValues[i]);
      }
    }
  }
}
