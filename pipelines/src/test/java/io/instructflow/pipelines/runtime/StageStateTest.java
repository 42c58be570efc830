package io.instructflow.pipelines.runtime;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Round and epoch claims: the first configuration wins, atomically, even when two runs race. */
class StageStateTest {
  @Test
  void aClaimHoldsAgainstAnotherConfiguration(@TempDir Path tmp) throws Exception {
    Path rounds = tmp.resolve("rounds");
    StageState.claim(rounds, "h1", Map.of("seed", 1), "seed 1");
    assertDoesNotThrow(() -> StageState.claim(rounds, "h1", Map.of("seed", 1), "seed 1"));
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> StageState.claim(rounds, "h2", Map.of("seed", 2), "seed 2"));
    assertTrue(e.getMessage().contains("another configuration"), e.getMessage());
    try (var files = Files.list(rounds)) {
      assertEquals(1, files.count(), "no temporary file is left behind");
    }
  }

  @RepeatedTest(5)
  void ofTwoRacingClaimsExactlyOneConfigurationWins(@TempDir Path tmp) throws Exception {
    Path rounds = tmp.resolve("rounds");
    int n = 8;
    CountDownLatch go = new CountDownLatch(1);
    AtomicInteger refused = new AtomicInteger();
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      String hash = "h" + (i % 2);
      Thread t = new Thread(() -> {
        try {
          go.await();
          StageState.claim(rounds, hash, Map.of("hash", hash), hash);
        } catch (IllegalStateException e) {
          refused.incrementAndGet();
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      });
      t.start();
      threads.add(t);
    }
    go.countDown();
    for (Thread t : threads) {
      t.join();
    }
    // the claims of the winning configuration pass, the other four are refused
    assertEquals(n / 2, refused.get());
    try (var files = Files.list(rounds)) {
      assertEquals(1, files.count());
    }
  }
}
