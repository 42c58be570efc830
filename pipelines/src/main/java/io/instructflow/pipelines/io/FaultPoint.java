package io.instructflow.pipelines.io;

/**
 * Named points in the life of an output (after {@code prepare}, after each published shard, after the
 * manifest...) where the fault-injection tests stop a run to kill it (issue 21). With the system
 * property {@value #PROPERTY} set to a point's name, the process prints {@code FAULT-POINT <name>} on
 * standard error when it gets there and then waits forever, so that the test kills it with
 * {@code kill -9} exactly there. With the property set to {@value #LIST}, it prints
 * {@code FAULT-POINT-PASSED <name>} at every point and goes on (the tests learn a run's points so).
 * Without the property, {@link #reach} does nothing.
 */
public final class FaultPoint {
  private FaultPoint() {}

  /** The system property naming the point to stop at. */
  public static final String PROPERTY = "instructflow.faultPoint";
  /** What the process prints when it stops, followed by the point's name. */
  public static final String BANNER = "FAULT-POINT ";
  /** The property value that lists the points passed instead of stopping. */
  public static final String LIST = "*";
  /** What the process prints at each point when listing them, followed by the point's name. */
  public static final String PASSED = "FAULT-POINT-PASSED ";

  private static final String ARMED = System.getProperty(PROPERTY);

  /** Stops here for good when this is the point {@value #PROPERTY} names; else returns at once. */
  public static void reach(String name) {
    if (ARMED == null) {
      return;
    }
    if (ARMED.equals(LIST)) {
      System.err.println(PASSED + name);
      System.err.flush();
      return;
    }
    if (!ARMED.equals(name)) {
      return;
    }
    System.out.flush();
    System.err.println(BANNER + name);
    System.err.flush();
    while (true) {
      try {
        Thread.sleep(60_000);
      } catch (InterruptedException e) {
        // only a kill ends this wait
      }
    }
  }

  /** The system property naming the point where {@link #exhaustHeap} fills the heap. */
  public static final String OOM_PROPERTY = "instructflow.faultOom";

  private static final String OOM_ARMED = System.getProperty(OOM_PROPERTY);

  /** What {@link #exhaustHeap} holds: kept reachable, so the heap stays full after the error. */
  private static final java.util.List<long[]> HELD = new java.util.ArrayList<>();

  /**
   * Fills the heap for real when {@value #OOM_PROPERTY} names this point, until the JVM throws its own
   * {@link OutOfMemoryError}, and keeps what it took, as a run whose data outgrew the heap would; else
   * returns at once. The tests use it to see what a run does when the heap runs out on a worker thread.
   */
  public static void exhaustHeap(String name) {
    if (OOM_ARMED == null || !OOM_ARMED.equals(name)) {
      return;
    }
    synchronized (HELD) {
      while (true) {
        HELD.add(new long[1 << 16]);
      }
    }
  }
}
