package io.instructflow.pipelines.runtime;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.io.hdfs.HadoopFileSystemOptions;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.hadoop.conf.Configuration;

/**
 * Which file systems paths may name, and their configuration (issue 23 item 5; README, Storage).
 *
 * <p>Local paths and {@code file://} need nothing. {@code hdfs://} (and {@code webhdfs://}) go through
 * Beam's Hadoop file system: its configuration is the one Hadoop users expect, {@code core-site.xml}
 * and {@code hdfs-site.xml} from {@code HADOOP_CONF_DIR} (or {@code YARN_CONF_DIR}), found by Beam's
 * {@link HadoopFileSystemOptions}; when neither is set, a default Hadoop {@link Configuration} (which
 * reads {@code core-site.xml} from the class path when there is one), so fully qualified
 * {@code hdfs://namenode:8020/path} URIs work with no setup (see {@link #hadoopConfiguration}). Other schemes ({@code s3://},
 * {@code gs://}...) are refused before anything is read or written, naming the path, rather than
 * failing later inside a worker.
 */
public final class Storage {
  private Storage() {}

  /**
   * Schemes this build can read and write: webhdfs and viewfs need {@code dfs.nameservices} (or an
   * {@code fs.defaultFS} of that scheme) in the Hadoop configuration.
   */
  public static final Set<String> SCHEMES = Set.of("file", "hdfs", "webhdfs", "viewfs");

  /** A path names a file system this build does not have. */
  public static final class UnsupportedStorageException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    UnsupportedStorageException(String message) {
      super(message);
    }
  }

  /**
   * Gives {@code options} a Hadoop configuration: the one found through {@code HADOOP_CONF_DIR} /
   * {@code YARN_CONF_DIR}, else a default {@link Configuration}. Options serialize to Spark's
   * executors with it, so workers register the same {@code hdfs} file system.
   */
  public static void configure(PipelineOptions options) {
    options.as(HadoopFileSystemOptions.class).setHdfsConfiguration(List.of(hadoopConfiguration()));
  }

  /**
   * The Hadoop configuration: HADOOP_CONF_DIR's (or YARN_CONF_DIR's) files when set, else Hadoop's
   * defaults. Beam registers its Hadoop file system for the scheme of {@code fs.defaultFS} (and for
   * hdfs, webhdfs and viewfs when {@code dfs.nameservices} is set); a default of {@code file:///}
   * would clash with Beam's local file system and register no {@code hdfs}, so such a default
   * becomes {@code hdfs:///}. Qualified URIs ({@code hdfs://host:port/...}) name their own name node
   * either way; only unqualified {@code hdfs:///path} needs a real {@code fs.defaultFS}.
   */
  static Configuration hadoopConfiguration() {
    List<Configuration> found = PipelineOptionsFactory.as(HadoopFileSystemOptions.class).getHdfsConfiguration();
    Configuration c = found == null || found.isEmpty() ? new Configuration() : new Configuration(found.get(0));
    String d = c.get("fs.defaultFS");
    String scheme = d == null || d.isEmpty() ? null : URI.create(d).getScheme();
    if (scheme == null || scheme.equals("file")) {
      c.set("fs.defaultFS", "hdfs:///");
    }
    return c;
  }

  /** Whether {@code path} is a URI with a scheme ({@code hdfs://...}, {@code file://...}), not a plain path. */
  public static boolean isUri(String path) {
    return path.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*");
  }

  /** The scheme of {@code path} in lower case, or {@code file} for a plain local path. */
  public static String scheme(String path) {
    if (isUri(path)) {
      return path.substring(0, path.indexOf(':')).toLowerCase(Locale.ROOT);
    }
    return "file";
  }

  /**
   * Checks that {@code path} (given as {@code what}, e.g. {@code --out}) names a file system this
   * build has; throws {@link UnsupportedStorageException} with the fix otherwise.
   */
  public static void require(String what, String path) {
    String s = scheme(path);
    if (SCHEMES.contains(s)) {
      return;
    }
    String hint = s.equals("s3") || s.equals("s3a") || s.equals("s3n")
        ? " S3-compatible stores are not built in yet: mount the bucket (for example with s3fs or mountpoint-s3) and "
            + "give the local path, or copy the data to HDFS (README, Storage)."
        : " Supported: local paths, file://, hdfs:// and webhdfs:// (README, Storage).";
    throw new UnsupportedStorageException(what + " " + path + ": no file system for '" + s + "://' in this build." + hint);
  }

  /**
   * Every file under folder {@code dir} (ending in {@code /}), at any depth, sorted by path. Local
   * folders use Beam's {@code **} glob; Hadoop's globs do not cross {@code /}, so other file systems
   * are walked one level at a time.
   */
  public static List<ResourceId> filesUnder(String dir) throws IOException {
    List<ResourceId> out = new ArrayList<>();
    if (!isUri(dir) || dir.startsWith("file://")) {
      for (MatchResult.Metadata m : FileSystems.match(dir + "**", EmptyMatchTreatment.ALLOW).metadata()) {
        if (!m.resourceId().isDirectory()) {
          out.add(m.resourceId());
        }
      }
    } else {
      walk(dir, out);
    }
    out.sort(Comparator.comparing(ResourceId::toString));
    return out;
  }

  private static void walk(String dir, List<ResourceId> out) throws IOException {
    MatchResult r = FileSystems.match(dir + "*", EmptyMatchTreatment.ALLOW);
    if (r.status() != MatchResult.Status.OK) {
      return;
    }
    for (MatchResult.Metadata m : r.metadata()) {
      ResourceId id = m.resourceId();
      // a Hadoop match names a folder without a trailing '/', so isDirectory() is false for it: a
      // zero-length entry with entries under it is a folder
      if (id.isDirectory() || m.sizeBytes() == 0 && hasEntries(id.toString())) {
        String sub = id.toString();
        walk(sub.endsWith("/") ? sub : sub + "/", out);
      } else {
        out.add(id);
      }
    }
  }

  /** Whether {@code path} is a folder holding at least one entry (a file has none). */
  public static boolean hasEntries(String path) throws IOException {
    String dir = path.endsWith("/") ? path : path + "/";
    MatchResult r = FileSystems.match(dir + "*", EmptyMatchTreatment.ALLOW);
    return r.status() == MatchResult.Status.OK && !r.metadata().isEmpty();
  }
}
