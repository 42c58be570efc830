package io.instructflow.pipelines.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.io.aws2.options.S3Options;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;

/** How {@code s3://} is configured (issue 23 item 5): flags first, then the standard AWS variables. */
class StorageTest {
  static S3Options configured(Storage.S3Settings s, Map<String, String> env) {
    S3Options o = PipelineOptionsFactory.as(S3Options.class);
    Storage.configureS3(o, s, env);
    return o;
  }

  @Test
  void flagsComeFirstThenTheAwsEndpointVariables() {
    S3Options o = configured(new Storage.S3Settings("http://127.0.0.1:9000", "eu-west-1", true),
        Map.of("AWS_ENDPOINT_URL", "http://elsewhere:1"));
    assertEquals(URI.create("http://127.0.0.1:9000"), o.getEndpoint());
    assertEquals("eu-west-1", o.getAwsRegion().id());
    assertEquals(Storage.PathStyleS3ClientFactory.class, o.getS3ClientFactoryClass());

    o = configured(Storage.S3Settings.defaults(),
        Map.of("AWS_ENDPOINT_URL", "http://generic:1", "AWS_ENDPOINT_URL_S3", "https://s3only:2"));
    assertEquals(URI.create("https://s3only:2"), o.getEndpoint(), "the S3-specific variable wins");
    assertEquals(Storage.S3ClientFactory.class, o.getS3ClientFactoryClass(), "virtual-host style unless asked");
    assertEquals(URI.create("http://generic:1"), configured(Storage.S3Settings.defaults(),
        Map.of("AWS_ENDPOINT_URL", "http://generic:1")).getEndpoint());

    o = configured(Storage.S3Settings.defaults(), Map.of());
    assertNull(o.getEndpoint(), "Amazon S3 itself");
    // the surefire JVM sets aws.region (pipelines/pom.xml), as a user's environment would
    assertEquals(System.getProperty("aws.region", Storage.DEFAULT_S3_REGION), o.getAwsRegion().id());
  }

  @Test
  void badSettingsAreRefusedWithTheValue() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new Storage.S3Settings("s3.example.com", null, false));
    assertTrue(e.getMessage().contains("--s3-endpoint s3.example.com must be an http:// or https:// URL"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> configured(Storage.S3Settings.defaults(),
        Map.of("AWS_ENDPOINT_URL", "ftp://x:1")));
    assertTrue(e.getMessage().contains("ftp://x:1"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new Storage.S3Settings(null, " ", false));
  }

  static software.amazon.awssdk.core.interceptor.InterceptorContext context(SdkHttpRequest r) {
    return software.amazon.awssdk.core.interceptor.InterceptorContext.builder()
        .request(software.amazon.awssdk.services.s3.model.PutObjectRequest.builder().bucket("b").key("k").build())
        .httpRequest(r).build();
  }

  @Test
  void onlyAFalseBucketKeyHeaderIsDropped() {
    Storage.DropBucketKeyFalse drop = new Storage.DropBucketKeyFalse();
    SdkHttpRequest.Builder b = SdkHttpRequest.builder().method(SdkHttpMethod.PUT).uri(URI.create("http://h/b/k"))
        .putHeader("x-amz-date", "20261204T000000Z");
    SdkHttpRequest off = b.copy().putHeader(Storage.DropBucketKeyFalse.HEADER, "false").build();
    SdkHttpRequest on = b.copy().putHeader(Storage.DropBucketKeyFalse.HEADER, "true").build();
    SdkHttpRequest out = drop.modifyHttpRequest(context(off), null);
    assertFalse(out.headers().containsKey(Storage.DropBucketKeyFalse.HEADER), out.headers().toString());
    assertEquals(List.of("20261204T000000Z"), out.headers().get("x-amz-date"));
    assertEquals(List.of("true"), drop.modifyHttpRequest(context(on), null).headers().get(Storage.DropBucketKeyFalse.HEADER));
  }

  @Test
  void schemes() {
    assertEquals("s3", Storage.scheme("S3://bucket/key"));
    assertTrue(Storage.isObjectStore("s3://bucket/key"));
    assertFalse(Storage.isObjectStore("hdfs://nn:8020/x"));
    assertFalse(Storage.isObjectStore("/local/s3://x"));
    Storage.require("--in", "s3://bucket/key");
    assertThrows(Storage.UnsupportedStorageException.class, () -> Storage.require("--in", "gs://bucket/key"));
  }
}
