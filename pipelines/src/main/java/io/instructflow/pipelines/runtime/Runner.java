package io.instructflow.pipelines.runtime;

import java.util.Locale;
import org.apache.beam.runners.direct.DirectOptions;
import org.apache.beam.runners.direct.DirectRunner;
import org.apache.beam.runners.spark.SparkPipelineOptions;
import org.apache.beam.runners.spark.SparkRunner;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;

/**
 * Where a pipeline runs: Beam's SparkRunner on an embedded {@code local[*]} master (the default), on a
 * Spark cluster ({@code --spark-master spark://host:7077}), or Beam's DirectRunner.
 *
 * @param kind {@code spark} or {@code direct}
 * @param sparkMaster Spark master URL; {@code local[*]} by default
 */
public record Runner(String kind, String sparkMaster) implements java.io.Serializable {
  public Runner {
    kind = kind.toLowerCase(Locale.ROOT);
    if (!kind.equals("spark") && !kind.equals("direct")) {
      throw new IllegalArgumentException("unknown runner '" + kind + "', expected spark or direct");
    }
    if (sparkMaster == null || sparkMaster.isBlank()) {
      sparkMaster = "local[*]";
    }
  }

  /** The module openings Spark and Beam need on Java 17, for executors started by a cluster. */
  public static final String JAVA_OPENS = "--add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED "
      + "--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED "
      + "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED";

  /** The jar this class was loaded from, or null when it runs from classes (tests, the IDE). */
  static String ownJar() {
    try {
      java.net.URL u = Runner.class.getProtectionDomain().getCodeSource().getLocation();
      java.nio.file.Path p = java.nio.file.Paths.get(u.toURI());
      return p.toString().endsWith(".jar") ? p.toString() : null;
    } catch (Exception e) {
      return null;
    }
  }

  /** The default: SparkRunner on {@code local[*]}. */
  public static Runner defaults() {
    return new Runner("spark", "local[*]");
  }

  /** A one-line description for summaries, e.g. {@code SparkRunner local[*]}. */
  public String describe() {
    return kind.equals("spark") ? "SparkRunner " + sparkMaster : "DirectRunner";
  }

  /** Pipeline options for this runner; {@code jobName} names the Spark application. */
  public PipelineOptions options(String jobName) {
    if (kind.equals("direct")) {
      DirectOptions o = PipelineOptionsFactory.as(DirectOptions.class);
      o.setRunner(DirectRunner.class);
      o.setTargetParallelism(Math.max(2, Runtime.getRuntime().availableProcessors()));
      o.setBlockOnRun(true);
      // The checks re-encode every element; tests keep them (TestPipeline), runs skip the cost.
      o.setEnforceImmutability(false);
      o.setEnforceEncodability(false);
      o.setJobName(jobName);
      Storage.configure(o);
      return o;
    }
    if (sparkMaster.startsWith("local")) {
      // No web UI, no console progress bars, loopback only: an embedded engine, not a service.
      System.setProperty("spark.ui.enabled", "false");
      System.setProperty("spark.ui.showConsoleProgress", "false");
      System.setProperty("spark.driver.host", System.getProperty("spark.driver.host", "127.0.0.1"));
      System.setProperty("spark.driver.bindAddress", System.getProperty("spark.driver.bindAddress", "127.0.0.1"));
      // The executor is this JVM: a task that fails with an OutOfMemoryError anywhere in its cause chain must
      // fail the job, so that the command reports it and halts with status 1 (Main.haltOutOfMemory), not
      // exit the JVM from Spark's own handler with Spark's status (50) before the command can say why.
      System.setProperty("spark.executor.killOnFatalError.depth",
          System.getProperty("spark.executor.killOnFatalError.depth", "0"));
    }
    if (!sparkMaster.startsWith("local") && System.getProperty("spark.executor.extraJavaOptions") == null) {
      // executors on Java 17 need the same module openings as the driver (docs/cluster.md, DESIGN §6)
      System.setProperty("spark.executor.extraJavaOptions", JAVA_OPENS);
    }
    if (!sparkMaster.startsWith("local") && System.getProperty("spark.executor.extraClassPath") == null) {
      // Beam's SerializableCoder deserializes with the JVM's application class loader, which does not see
      // the jars Spark ships to executors; so the executors load this jar from the same path (same
      // machine, or a path every node mounts; docs/cluster.md)
      String self = ownJar();
      if (self != null) {
        System.setProperty("spark.executor.extraClassPath", self);
      }
    }
    SparkPipelineOptions o = PipelineOptionsFactory.as(SparkPipelineOptions.class);
    o.setRunner(SparkRunner.class);
    o.setSparkMaster(sparkMasterForBeam());
    o.setEnableSparkMetricSinks(false);
    o.setStorageLevel(storageLevel());
    o.setAppName("instructflow-" + jobName);
    o.setJobName(jobName);
    Storage.configure(o);
    return o;
  }

  /**
   * The master URL handed to Beam: {@code local[*]} spelled with the core count it stands for
   * ({@code local[N]}, N = the JVM's available processors, which is what Spark's {@code *} means), any
   * other URL as it is. Beam 2.59 recognizes an embedded master only by {@code local\[?\d*]?}; for
   * {@code local[*]} it would scan the class path and list every jar on it in {@code spark.jars}, and each
   * SparkContext's executor, which is this JVM, would then download and copy them all: with the 465 MB
   * jar 3–4 s and a class-path scan per pipeline, for nothing (docs/benchmarks.md, the demo's
   * Self-Instruct stage).
   */
  String sparkMasterForBeam() {
    return sparkMaster.equals("local[*]") ? "local[" + Runtime.getRuntime().availableProcessors() + "]" : sparkMaster;
  }

  /**
   * The Spark storage level of the datasets Beam caches (a multi-output step's result, a collection
   * read twice): {@value #STORAGE_LEVEL} unless {@code -Dinstructflow.storageLevel} says otherwise. On disk,
   * so that a cache never competes with the tasks for heap: measured with a million records and a
   * 4 GB heap, {@code MEMORY_AND_DISK_SER} filled 2 GB of heap with cached blocks and the run died of
   * it (docs/memory.md, Spark's cache). The operating system's page cache still keeps recent blocks in memory.
   */
  static String storageLevel() {
    return System.getProperty("instructflow.storageLevel", STORAGE_LEVEL);
  }

  /** The default storage level. */
  static final String STORAGE_LEVEL = "DISK_ONLY";
}
