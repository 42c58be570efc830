package io.instructflow.filters.rouge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class LongIntMapTest {
  @Test
  void agreesWithHashMapThroughGrowth() {
    long seed = 20261125L;
    Random r = new Random(seed);
    LongIntMap map = new LongIntMap();
    Map<Long, Integer> reference = new HashMap<>();
    for (int i = 0; i < 50_000; i++) {
      // few distinct keys at first, so adds hit existing keys too; negative keys included
      long key = r.nextInt(20_000) - 5_000L << (r.nextBoolean() ? 24 : 0);
      int delta = 1 + r.nextInt(3);
      map.add(key, delta);
      reference.merge(key, delta, Integer::sum);
    }
    assertEquals(reference.size(), map.size(), "seed " + seed);
    for (Map.Entry<Long, Integer> e : reference.entrySet()) {
      assertEquals(e.getValue(), map.get(e.getKey()), "key " + e.getKey() + ", seed " + seed);
    }
    assertEquals(0, map.get(123_456_789_012L));
  }

  @Test
  void refusesTheReservedKey() {
    assertThrows(IllegalArgumentException.class, () -> new LongIntMap().add(Long.MIN_VALUE, 1));
  }
}
