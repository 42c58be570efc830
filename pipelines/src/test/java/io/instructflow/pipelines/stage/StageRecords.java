package io.instructflow.pipelines.stage;

import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import org.apache.beam.sdk.values.KV;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Keyed records for stage tests: one per instruction, at lines 1, 2, ... of {@code in.jsonl}, no steps yet. */
public final class StageRecords {
  private StageRecords() {}

  /** One record per instruction of {@code texts}, each with {@code output} as its response. */
  public static List<KV<OrderKey, Example>> of(List<String> texts, String output) {
    List<KV<OrderKey, Example>> out = new ArrayList<>();
    for (int i = 0; i < texts.size(); i++) {
      out.add(KV.of(new OrderKey(0, i + 1, 0), Example.single(texts.get(i), null, output, Map.of(),
          new Provenance(new Origin("in", "unknown", "in.jsonl:" + (i + 1), null, "instruction", null), List.of()))));
    }
    return out;
  }
}
