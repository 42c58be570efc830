package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.runtime.Storage;
import picocli.CommandLine.Option;

/** Where a command's pipelines run; shared by every command. */
public final class RunOptions {
  @Option(names = "--runner", defaultValue = "spark", paramLabel = "spark|direct",
      description = "Beam runner: spark (embedded local[*] unless --spark-master) or direct. Default: ${DEFAULT-VALUE}.")
  String runner;

  @Option(names = "--spark-master", paramLabel = "URL",
      description = "Spark master, e.g. spark://host:7077 or local[4]. Default: local[*] (embedded).")
  String sparkMaster;

  @Option(names = "--s3-endpoint", paramLabel = "URL",
      description = "S3-compatible endpoint for s3:// paths (MinIO, Ceph, s3proxy...), e.g. http://127.0.0.1:9000. "
          + "Default: AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else Amazon S3.")
  String s3Endpoint;

  @Option(names = "--s3-region", paramLabel = "REGION",
      description = "Region for s3:// paths. Default: aws.region / AWS_REGION, else the AWS profile's region, else "
          + "AWS_DEFAULT_REGION, else us-east-1.")
  String s3Region;

  @Option(names = "--s3-path-style",
      description = "Address s3:// buckets as ENDPOINT/BUCKET/KEY (path style), as most self-hosted stores need.")
  boolean s3PathStyle;

  /** The runner these options select; also sets how {@code s3://} paths are reached (Storage). */
  public Runner toRunner() {
    try {
      Storage.useS3(new Storage.S3Settings(s3Endpoint, s3Region, s3PathStyle));
      return new Runner(runner, sparkMaster);
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
  }
}
