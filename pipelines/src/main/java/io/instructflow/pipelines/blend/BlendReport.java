package io.instructflow.pipelines.blend;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.io.FileSystems;

/**
 * The quota plan of a blend as written next to the data ({@value BlendPipeline#PLAN}): for each source
 * its records, its share and how it was computed, and what became of its records; the rows per split.
 *
 * @param sources per source, in spec order
 * @param splitRows rows per split
 * @param distinct distinct records selected
 * @param notes e.g. a target that could not be reached
 * @param tagQuotas per capped tag value: tag, value, quota, cap, wanted, records, sourceCaps
 *     ({@link BlendPlanner#tagReport}); null (and not written) without tag quotas
 */
public record BlendReport(List<SourceReport> sources, Map<String, Long> splitRows, long distinct, List<String> notes,
    List<Map<String, Object>> tagQuotas) {
  /**
   * One source's line of the plan.
   *
   * @param name source name
   * @param read records read (valid ones)
   * @param duplicates dropped as duplicates of an earlier record
   * @param available records left after dedup
   * @param weight its weight (explicit or from the temperature), null for a fixed share
   * @param share real-valued rows before rounding
   * @param rows rows in the blend
   * @param limitedBy {@code cap} or {@code size} when its limit held the share
   * @param fullCopies times every record is repeated by upsampling
   * @param selected distinct records in the blend
   * @param validation distinct records held out
   */
  public record SourceReport(String name, long read, long duplicates, long available, Double weight, double share, long rows,
      String limitedBy, long fullCopies, long selected, long validation) {}

  /**
   * Writes the report.
   *
   * @param quotas the quotas, one per source
   * @param duplicates records dropped as duplicates, per source index
   * @param selected distinct records selected, per source index
   * @param validation distinct records held out, per source index
   * @param splitRows rows per split, in split order
   * @param distinct distinct records selected in all
   * @param tagQuotas the tag quotas' report, or null without them
   * @param notes the quotas' notes and any of the tag quotas
   */
  static void write(String path, Quotas.Result quotas, long[] duplicates, long[] selected, long[] validation,
      Map<String, Long> splitRows, long distinct, List<Map<String, Object>> tagQuotas, List<String> notes)
      throws IOException {
    List<SourceReport> out = new ArrayList<>();
    for (int s = 0; s < quotas.quotas().size(); s++) {
      Quotas.Quota q = quotas.quotas().get(s);
      out.add(new SourceReport(q.name(), q.available() + duplicates[s], duplicates[s], q.available(), q.weight(),
          Math.round(q.share() * 1000) / 1000.0, q.rows(), q.limitedBy(), q.fullCopies(), selected[s], validation[s]));
    }
    BlendReport r = new BlendReport(out, new LinkedHashMap<>(splitRows), distinct, notes, tagQuotas);
    try (OutputStream os = Channels.newOutputStream(FileSystems.create(FileSystems.matchNewResource(path, false),
        "application/json"))) {
      os.write((Json.pretty(r) + "\n").getBytes(StandardCharsets.UTF_8));
    }
  }

  static BlendReport read(String path) throws IOException {
    try (InputStream in = Channels.newInputStream(FileSystems.open(FileSystems.matchNewResource(path, false)))) {
      JsonNode n = Json.mapper().readTree(in);
      return Json.mapper().treeToValue(n, BlendReport.class);
    }
  }

  /** Rows in all. */
  public long rows() {
    return splitRows.values().stream().mapToLong(Long::longValue).sum();
  }
}
