package io.instructflow.pipelines.runtime;

import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.aws2.options.S3ClientBuilderFactory;
import org.apache.beam.sdk.io.aws2.options.S3Options;
import org.apache.beam.sdk.io.aws2.s3.DefaultS3ClientBuilderFactory;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.io.hdfs.HadoopFileSystemOptions;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.hadoop.conf.Configuration;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.regions.providers.AwsProfileRegionProvider;
import software.amazon.awssdk.regions.providers.SystemSettingsRegionProvider;
import software.amazon.awssdk.services.s3.S3ClientBuilder;

/**
 * Which file systems paths may name, and their configuration (issue 23 item 5; docs/storage.md).
 *
 * <p>Local paths and {@code file://} need nothing. {@code hdfs://} (and {@code webhdfs://}) go through
 * Beam's Hadoop file system: its configuration is the one Hadoop users expect, {@code core-site.xml}
 * and {@code hdfs-site.xml} from {@code HADOOP_CONF_DIR} (or {@code YARN_CONF_DIR}), found by Beam's
 * {@link HadoopFileSystemOptions}; when neither is set, a default Hadoop {@link Configuration} (which
 * reads {@code core-site.xml} from the class path when there is one), so fully qualified
 * {@code hdfs://namenode:8020/path} URIs work with no setup (see {@link #hadoopConfiguration}).
 * {@code s3://bucket/key} goes through Beam's AWS file system (SDK v2) to Amazon S3 or any
 * S3-compatible store, configured by {@link S3Settings} (see {@link #configure}). Other schemes
 * ({@code gs://}, {@code s3a://}...) are refused before anything is read or written, naming the path,
 * rather than failing later inside a worker.
 */
public final class Storage {
  private Storage() {}

  /**
   * Schemes this build can read and write: webhdfs and viewfs need {@code dfs.nameservices} (or an
   * {@code fs.defaultFS} of that scheme) in the Hadoop configuration.
   */
  public static final Set<String> SCHEMES = Set.of("file", "hdfs", "webhdfs", "viewfs", "s3");

  /** Schemes of object stores: no folders, and a rename is a copy then a delete (docs/storage.md). */
  public static final Set<String> OBJECT_STORES = Set.of("s3");

  /** The region the S3 client gets when none is configured: S3's own default. */
  public static final String DEFAULT_S3_REGION = "us-east-1";

  /**
   * How {@code s3://} paths are reached: every field may be null (unset).
   *
   * @param endpoint an S3-compatible endpoint such as {@code http://127.0.0.1:9000} (MinIO, Ceph, s3proxy);
   *     null for Amazon S3 itself, or {@code AWS_ENDPOINT_URL_S3} / {@code AWS_ENDPOINT_URL} when set
   * @param region the signing region; null for the SDK's environment and profile settings
   *     ({@code aws.region}, {@code AWS_REGION}, {@code AWS_PROFILE}'s {@code region}), else {@value #DEFAULT_S3_REGION}
   * @param pathStyle whether buckets are addressed as {@code endpoint/bucket/key} rather than
   *     {@code bucket.endpoint/key}, as most self-hosted stores need
   */
  public record S3Settings(String endpoint, String region, boolean pathStyle) {
    public S3Settings {
      if (endpoint != null) {
        URI u;
        try {
          u = URI.create(endpoint);
        } catch (IllegalArgumentException e) {
          throw new IllegalArgumentException("--s3-endpoint " + endpoint + " is not a URI: " + e.getMessage());
        }
        if (u.getScheme() == null || u.getHost() == null
            || !u.getScheme().equals("http") && !u.getScheme().equals("https")) {
          throw new IllegalArgumentException("--s3-endpoint " + endpoint + " must be an http:// or https:// URL with a host");
        }
      }
      if (region != null && region.isBlank()) {
        throw new IllegalArgumentException("--s3-region must not be blank");
      }
    }

    /** Nothing set: Amazon S3, the region from the environment. */
    public static S3Settings defaults() {
      return new S3Settings(null, null, false);
    }
  }

  /** The S3 settings of the command this process runs (set by the CLI before its pipelines are built). */
  private static volatile S3Settings s3 = S3Settings.defaults();

  /** Sets how {@code s3://} paths are reached, for the pipelines built after this call. */
  public static void useS3(S3Settings settings) {
    s3 = settings == null ? S3Settings.defaults() : settings;
  }

  /** The S3 settings in force. */
  public static S3Settings s3() {
    return s3;
  }

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
    configureS3(options.as(S3Options.class), s3, System.getenv());
  }

  /**
   * Gives {@code o} the S3 endpoint, region and addressing of {@code settings}, falling back on the
   * standard AWS environment variables ({@code env}). The region is always set: Beam's default would
   * ask the EC2 instance metadata service, a network call on every run, S3 or not. Credentials are
   * left to the SDK's default chain ({@code aws.accessKeyId} / {@code aws.secretAccessKey} system
   * properties, {@code AWS_ACCESS_KEY_ID} / {@code AWS_SECRET_ACCESS_KEY} / {@code AWS_SESSION_TOKEN},
   * web identity, the {@code ~/.aws} profile of {@code AWS_PROFILE}, container and instance roles),
   * resolved in each JVM that touches S3, executors included: no key travels with the options.
   */
  static void configureS3(S3Options o, S3Settings settings, java.util.Map<String, String> env) {
    String endpoint = settings.endpoint();
    if (endpoint == null) {
      endpoint = firstSet(env.get("AWS_ENDPOINT_URL_S3"), env.get("AWS_ENDPOINT_URL"));
      if (endpoint != null) {
        // validated the same way as the flag
        new S3Settings(endpoint, null, false);
      }
    }
    if (endpoint != null) {
      o.setEndpoint(URI.create(endpoint));
    }
    o.setAwsRegion(Region.of(settings.region() != null ? settings.region() : environmentRegion()));
    o.setS3ClientFactoryClass(settings.pathStyle() ? PathStyleS3ClientFactory.class : S3ClientFactory.class);
  }

  private static String firstSet(String... values) {
    for (String v : values) {
      if (v != null && !v.isBlank()) {
        return v.trim();
      }
    }
    return null;
  }

  /**
   * Sets the {@code aws.region} system property to {@link #environmentRegion} when neither it nor
   * {@code AWS_REGION} is set. Beam registers its S3 file system with whatever options it has, even in
   * a run that never touches S3, and with no region its default asks the EC2 instance metadata
   * service over the network; with the property set it never does.
   */
  public static void pinRegion() {
    if (System.getProperty("aws.region") == null && System.getenv("AWS_REGION") == null) {
      System.setProperty("aws.region", environmentRegion());
    }
  }

  /** The region from system properties, environment or profile files, never from the network. */
  static String environmentRegion() {
    try {
      return new SystemSettingsRegionProvider().getRegion().id();
    } catch (SdkClientException | IllegalArgumentException e) {
      // not set there: the profile's, else the default
    }
    try {
      Region r = new AwsProfileRegionProvider().getRegion();
      if (r != null) {
        return r.id();
      }
    } catch (SdkClientException | IllegalArgumentException e) {
      // no profile file, or no region in it
    }
    String d = System.getenv("AWS_DEFAULT_REGION");
    return d != null && !d.isBlank() ? d.trim() : DEFAULT_S3_REGION;
  }

  /**
   * Beam's S3 client as Beam builds it (endpoint, region, credentials, retries from the options), less
   * one header: Beam sends {@code x-amz-server-side-encryption-bucket-key-enabled: false} with every
   * upload, which some S3-compatible stores refuse (s3proxy answers 501 Not Implemented), and which on
   * Amazon S3 overrides the bucket's own Bucket Key setting. Without it each object follows its
   * bucket's default encryption settings. A {@code true} (Beam's {@code --bucketKeyEnabled}) is kept.
   * The class name travels with the options, so executors build the same client.
   */
  public static class S3ClientFactory implements S3ClientBuilderFactory {
    @Override
    public S3ClientBuilder createBuilder(S3Options options) {
      S3ClientBuilder b = new DefaultS3ClientBuilderFactory().createBuilder(options);
      ClientOverrideConfiguration current = b.overrideConfiguration();
      ClientOverrideConfiguration.Builder c = current == null ? ClientOverrideConfiguration.builder() : current.toBuilder();
      return b.overrideConfiguration(c.addExecutionInterceptor(new DropBucketKeyFalse()).build());
    }
  }

  /** {@link S3ClientFactory} with path-style addressing ({@code endpoint/bucket/key}), for {@code --s3-path-style}. */
  public static final class PathStyleS3ClientFactory extends S3ClientFactory {
    @Override
    public S3ClientBuilder createBuilder(S3Options options) {
      return super.createBuilder(options).forcePathStyle(true);
    }
  }

  /** Removes a {@code false} Bucket Key header before the request is signed (see {@link S3ClientFactory}). */
  static final class DropBucketKeyFalse implements ExecutionInterceptor {
    static final String HEADER = "x-amz-server-side-encryption-bucket-key-enabled";

    @Override
    public SdkHttpRequest modifyHttpRequest(Context.ModifyHttpRequest context, ExecutionAttributes attributes) {
      SdkHttpRequest r = context.httpRequest();
      List<String> v = r.headers().get(HEADER);
      if (v != null && v.size() == 1 && v.get(0).equalsIgnoreCase("false")) {
        return r.toBuilder().removeHeader(HEADER).build();
      }
      return r;
    }
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

  /** Whether {@code path} is on an object store ({@code s3://}): no folders, no atomic rename. */
  public static boolean isObjectStore(String path) {
    return OBJECT_STORES.contains(scheme(path));
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
    String hint = s.equals("s3a") || s.equals("s3n")
        ? " S3 buckets are named s3://bucket/key here (Beam's AWS file system, docs/storage.md)."
        : " Supported: local paths, file://, hdfs://, webhdfs:// and s3:// (docs/storage.md).";
    throw new UnsupportedStorageException(what + " " + path + ": no file system for '" + s + "://' in this build." + hint);
  }

  /**
   * Every file under folder {@code dir} (ending in {@code /}), at any depth, sorted by path. Local
   * folders and object stores (one listing of the prefix) use Beam's {@code **} glob; Hadoop's globs
   * do not cross {@code /}, so Hadoop file systems are walked one level at a time.
   */
  public static List<ResourceId> filesUnder(String dir) throws IOException {
    List<ResourceId> out = new ArrayList<>();
    if (!isUri(dir) || dir.startsWith("file://") || isObjectStore(dir)) {
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

  /**
   * Whether {@code path} is a folder holding at least one entry (a file has none). On an object store a
   * folder is a key prefix: it holds entries when some object's key starts with {@code path/}.
   */
  public static boolean hasEntries(String path) throws IOException {
    String dir = path.endsWith("/") ? path : path + "/";
    MatchResult r = FileSystems.match(dir + (isObjectStore(dir) ? "**" : "*"), EmptyMatchTreatment.ALLOW);
    return r.status() == MatchResult.Status.OK && !r.metadata().isEmpty();
  }
}
