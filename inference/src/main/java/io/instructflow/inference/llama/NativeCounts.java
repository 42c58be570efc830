package io.instructflow.inference.llama;

import java.util.concurrent.atomic.AtomicLong;

/** Native objects made and freed since the JVM started (for tests: every one made is freed). */
final class NativeCounts {
  /** The JVM's counts, for every model, context and sampler of the engine. */
  static final NativeCounts NATIVE = new NativeCounts();

  final AtomicLong modelsLoaded = new AtomicLong();
  final AtomicLong modelsFreed = new AtomicLong();
  final AtomicLong contextsMade = new AtomicLong();
  final AtomicLong contextsFreed = new AtomicLong();
  final AtomicLong samplersMade = new AtomicLong();
  final AtomicLong samplersFreed = new AtomicLong();

  private NativeCounts() {}
}
