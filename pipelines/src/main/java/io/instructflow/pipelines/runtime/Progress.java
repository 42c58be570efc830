package io.instructflow.pipelines.runtime;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Process-wide progress counters and the console ticker that shows them.
 *
 * <p>Workers add to named counters; a daemon thread in the driver prints a line every few seconds while
 * a stage runs. With the embedded runners the workers share the driver's JVM, so the ticker sees live
 * numbers; on a cluster the counters stay in the executors and the driver shows only elapsed time (Beam
 * metrics in the run summary have the totals).
 */
public final class Progress {
  /** Records read by a reader. */
  public static final String READ = "read";

  /** Records a deciding step (dedup) has decided. */
  public static final String DECIDED = "decided";
  /** Records a planning step (the blend's selection) has placed. */
  public static final String PLANNED = "planned";
  /** Records sent through the model (or answered from its cache). */
  public static final String GENERATED = "generated";
  /** Completion tokens the model generated (cache hits not counted). */
  public static final String TOKENS = "tokens generated";

  private static final ConcurrentHashMap<String, AtomicLong> COUNTERS = new ConcurrentHashMap<>();

  private Progress() {}

  /** Adds {@code n} to counter {@code name}. */
  public static void add(String name, long n) {
    COUNTERS.computeIfAbsent(name, k -> new AtomicLong()).addAndGet(n);
  }

  /** The current value of counter {@code name}. */
  public static long get(String name) {
    AtomicLong a = COUNTERS.get(name);
    return a == null ? 0 : a.get();
  }

  /** Starts a ticker for {@code stage} that reports the given counters; close it when the stage ends. */
  public static Ticker start(String stage, String counter, PrintStream out) {
    return new Ticker(stage, new String[] {counter}, out);
  }

  /** Starts a ticker for {@code stage} that reports several counters. */
  public static Ticker start(String stage, String[] counters, PrintStream out) {
    return new Ticker(stage, counters, out);
  }

  /** Prints progress lines until closed. */
  public static final class Ticker implements AutoCloseable {
    private static final long PERIOD_MS = 3000;
    private final Thread thread;
    private volatile boolean running = true;

    Ticker(String stage, String[] counters, PrintStream out) {
      long[] base = new long[counters.length];
      for (int i = 0; i < counters.length; i++) {
        base[i] = get(counters[i]);
      }
      long t0 = System.nanoTime();
      thread =
          new Thread(
              () -> {
                while (running) {
                  try {
                    Thread.sleep(PERIOD_MS);
                  } catch (InterruptedException e) {
                    return;
                  }
                  if (!running) {
                    return;
                  }
                  double s = (System.nanoTime() - t0) / 1e9;
                  StringBuilder line = new StringBuilder();
                  for (int i = 0; i < counters.length; i++) {
                    long n = get(counters[i]) - base[i];
                    // a one-word counter counts records; others name their unit ("tokens generated")
                    String label = counters[i].contains(" ") ? counters[i] : "records " + counters[i];
                    line.append(String.format(Locale.ROOT, "%s%,d %s (%,.0f/s)", i == 0 ? "" : ", ", n, label,
                        n / Math.max(s, 1e-9)));
                  }
                  out.printf(Locale.ROOT, "  %s: %s, %.0f s elapsed%n", stage, line, s);
                }
              },
              "progress-" + stage);
      thread.setDaemon(true);
      thread.start();
    }

    @Override
    public void close() {
      running = false;
      thread.interrupt();
    }
  }
}
