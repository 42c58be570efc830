package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The polling level of the persistent CPU thread pools, chosen by {@value CpuThreadPool#PROPERTY}. */
class CpuThreadPoolTest {
  @AfterEach
  void clear() {
    System.clearProperty(CpuThreadPool.PROPERTY);
  }

  @Test
  void pollLevelComesFromTheProperty() {
    assertEquals(CpuThreadPool.DEFAULT_POLL, CpuThreadPool.pollLevel());
    System.setProperty(CpuThreadPool.PROPERTY, "on");
    assertEquals(CpuThreadPool.DEFAULT_POLL, CpuThreadPool.pollLevel());
    System.setProperty(CpuThreadPool.PROPERTY, " 0 ");
    assertEquals(0, CpuThreadPool.pollLevel());
    System.setProperty(CpuThreadPool.PROPERTY, "100");
    assertEquals(100, CpuThreadPool.pollLevel());
    for (String bad : new String[] {"101", "-1", "fast"}) {
      System.setProperty(CpuThreadPool.PROPERTY, bad);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, CpuThreadPool::pollLevel);
      assertTrue(e.getMessage().contains(CpuThreadPool.PROPERTY) && e.getMessage().contains(bad), e.getMessage());
    }
  }

  @Test
  void poolsStartAndStopAtEveryLevelAndOffMeansNone() {
    for (String level : new String[] {"0", "50", "100"}) {
      System.setProperty(CpuThreadPool.PROPERTY, level);
      try (CpuThreadPool pool = CpuThreadPool.create(2)) {
        assertNotNull(pool, "poll " + level);
      }
    }
    System.setProperty(CpuThreadPool.PROPERTY, "off");
    assertNull(CpuThreadPool.create(2));
    System.clearProperty(CpuThreadPool.PROPERTY);
    assertNull(CpuThreadPool.create(1), "one thread needs no pool");
  }
}
