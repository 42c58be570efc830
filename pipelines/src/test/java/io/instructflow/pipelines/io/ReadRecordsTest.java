package io.instructflow.pipelines.io;

import io.instructflow.pipelines.TestFiles;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Reject;
import java.nio.file.Path;
import java.util.List;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.testing.CoderProperties;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TypeDescriptors;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** {@link ReadRecords} on Beam's TestPipeline: exact contents of both outputs. */
public class ReadRecordsTest {
  @Rule public final transient TestPipeline p = TestPipeline.create();
  @Rule public final transient TemporaryFolder tmp = new TemporaryFolder();

  @Test
  public void splitsRecordsAndRejectsWithOrderKeys() throws Exception {
    Path f = TestFiles.mixedFile(tmp.getRoot().toPath());
    InputFile in = new InputFile(3, f.toString(), "mixed.jsonl", "mixed");
    ReadRecords.Result r = p.apply(ReadRecords.of(List.of(in)).withLicense("MIT").withMaxRecordBytes(256));

    PCollection<String> examples = r.examples().apply("DescribeExamples",
        MapElements.into(TypeDescriptors.strings()).via((KV<OrderKey, Example> kv) ->
            kv.getKey().source() + ":" + kv.getKey().position() + ":" + kv.getKey().sub() + " " + kv.getValue().instruction()
                + " " + kv.getValue().provenance().origin().license()));
    PAssert.that(examples).containsInAnyOrder(
        "3:1:0 Good one MIT", "3:4:0 Good two MIT", "3:9:0 用中文写一首短诗 MIT", "3:12:0 Good three MIT", "3:15:0 Good four MIT");

    PCollection<String> rejects = r.rejects().apply("DescribeRejects",
        MapElements.into(TypeDescriptors.strings()).via((KV<OrderKey, Reject> kv) ->
            kv.getKey().position() + " " + kv.getValue().location() + " " + kv.getValue().reason().code()));
    PAssert.that(rejects).containsInAnyOrder(
        "2 mixed.jsonl:2 invalid_json", "3 mixed.jsonl:3 not_an_object", "5 mixed.jsonl:5 missing_field",
        "6 mixed.jsonl:6 wrong_type", "7 mixed.jsonl:7 empty_instruction", "8 mixed.jsonl:8 invalid_utf8",
        "10 mixed.jsonl:10 line_too_long", "11 mixed.jsonl:11 wrong_type", "14 mixed.jsonl:14 invalid_json");
    p.run().waitUntilFinish();
  }

  @Test
  public void codersRoundTrip() throws Exception {
    CoderProperties.coderDecodeEncodeEqual(OrderKey.Coder.of(), new OrderKey(7, 123_456_789_012L, 3));
    CoderProperties.coderDeterministic(OrderKey.Coder.of(), new OrderKey(1, 2, 3), new OrderKey(1, 2, 3));
    Example e = Example.single("用中文写一首短诗", "", "春风", java.util.Map.of("k", List.of(1, "x")),
        new io.instructflow.schemas.Provenance(
            new io.instructflow.schemas.Origin("d", "MIT", "f.jsonl:1", null, "alpaca", null), List.of()));
    CoderProperties.coderDecodeEncodeEqual(JsonCoder.of(Example.class), e);
    CoderProperties.coderDecodeEncodeEqual(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class)),
        KV.of(new OrderKey(0, 2, 0), Reject.of("s", "s:2", io.instructflow.schemas.RejectReason.INVALID_JSON, "m", "import",
            "{\"x\":".getBytes(java.nio.charset.StandardCharsets.UTF_8), 5)));
  }
}
