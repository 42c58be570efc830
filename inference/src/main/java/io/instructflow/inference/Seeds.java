package io.instructflow.inference;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Per-request seeds that do not depend on order, batching or runner: each is a hash of the run seed
 * and the record id, so a record gets the same seed whichever worker, batch or slot serves it.
 */
public final class Seeds {
  /** Largest seed: seeds stay in [0, 2^31 − 1 − 16] so that seed + i for n ≤ 16 completions fits llama.cpp's int. */
  public static final long MAX = Integer.MAX_VALUE - 16L;

  private Seeds() {}

  /** The seed of record {@code recordId} in a run seeded with {@code runSeed}. */
  public static long derive(long runSeed, String recordId) {
    try {
      MessageDigest d = MessageDigest.getInstance("SHA-256");
      d.update(("instructflow-seed\0" + runSeed + "\0").getBytes(StandardCharsets.UTF_8));
      d.update(recordId.getBytes(StandardCharsets.UTF_8));
      byte[] h = d.digest();
      long v = 0;
      for (int i = 0; i < 8; i++) {
        v = (v << 8) | (h[i] & 0xff);
      }
      return Math.floorMod(v, MAX + 1);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
