package io.instructflow.pipelines.runtime;

import java.util.Map;
import java.util.TreeMap;

/** Versions of instructflow and of the engines it runs on, for run summaries. */
public final class Versions {
  private Versions() {}

  /** instructflow's version, from the jar manifest (or {@code dev} when run from classes). */
  public static String instructflow() {
    String v = Versions.class.getPackage().getImplementationVersion();
    return v == null ? "dev" : v;
  }

  /** instructflow, Beam, Spark and Java versions. */
  public static Map<String, String> all() {
    Map<String, String> m = new TreeMap<>();
    m.put("instructflow", instructflow());
    m.put("beam", org.apache.beam.sdk.util.ReleaseInfo.getReleaseInfo().getVersion());
    m.put("spark", org.apache.spark.package$.MODULE$.SPARK_VERSION());
    m.put("java", System.getProperty("java.version"));
    return m;
  }
}
