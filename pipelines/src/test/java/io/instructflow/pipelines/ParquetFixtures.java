package io.instructflow.pipelines;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.avro.AvroParquetWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.hadoop.util.HadoopOutputFile;

/**
 * Parquet test inputs and their JSON Lines twins, built from the same rows: a row is an ordered map of
 * column to value (null, text, number, or a list of ordered maps for nested chat columns). The twin is
 * written by a plain Jackson mapper, keys in column order and nulls written out, which is the compact
 * JSON a row of the Parquet file reads as.
 */
public final class ParquetFixtures {
  private ParquetFixtures() {}

  /** A chat turn struct, as Hugging Face's chat datasets store it (content first, then role). */
  public static final Schema TURN = SchemaBuilder.record("turn").fields()
      .optionalString("content").optionalString("role").endRecord();

  /** Alpaca-style columns, with a float and a nullable category beside the instruction fields. */
  public static final Schema ALPACA = SchemaBuilder.record("alpaca").fields()
      .optionalString("instruction").optionalString("input").optionalString("output")
      .optionalString("category").name("rating").type().optional().floatType().endRecord();

  /** UltraFeedback-binarized-style columns (HuggingFaceH4/ultrafeedback_binarized). */
  public static final Schema ULTRAFEEDBACK = SchemaBuilder.record("ultrafeedback").fields()
      .optionalString("prompt").optionalString("prompt_id")
      .name("chosen").type().optional().array().items(TURN)
      .name("rejected").type().optional().array().items(TURN)
      .name("messages").type().optional().array().items(TURN)
      .optionalDouble("score_chosen").optionalDouble("score_rejected").endRecord();

  /** An ordered row from alternating column names and values. */
  public static Map<String, Object> row(Object... kv) {
    Map<String, Object> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], kv[i + 1]);
    }
    return m;
  }

  /** Chat turns from alternating roles and contents. */
  public static List<Map<String, Object>> turns(String... roleContent) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (int i = 0; i < roleContent.length; i += 2) {
      out.add(row("content", roleContent[i + 1], "role", roleContent[i]));
    }
    return out;
  }

  /** The six Alpaca-style rows: English, Chinese, a null input, two bad rows, more Chinese. */
  public static List<Map<String, Object>> alpacaRows() {
    return List.of(
        row("instruction", "Translate to French.", "input", "Hello", "output", "Bonjour", "category", "translation", "rating", 0.1),
        row("instruction", "把这句话翻译成英文。", "input", "你好，世界", "output", "Hello, world", "category", "翻译", "rating", 4.5),
        row("instruction", "Name a colour.", "input", null, "output", "Blue", "category", "open_qa", "rating", null),
        row("instruction", null, "input", "orphan input", "output", "x", "category", "bad", "rating", 1.0),
        row("instruction", "   ", "input", "", "output", "y", "category", "bad", "rating", 2.0),
        row("instruction", "写一首关于秋天的短诗。", "input", "", "output", "秋风起，落叶黄。", "category", null, "rating", 3.25));
  }

  /** UltraFeedback-style rows: English, Chinese, a null score, and two bad rows. */
  public static List<Map<String, Object>> ultraFeedbackRows() {
    return List.of(
        row("prompt", "What is 2+2?", "prompt_id", "p0",
            "chosen", turns("user", "What is 2+2?", "assistant", "4"),
            "rejected", turns("user", "What is 2+2?", "assistant", "5"),
            "messages", turns("user", "What is 2+2?", "assistant", "4"),
            "score_chosen", 9.0, "score_rejected", 2.5),
        row("prompt", "用一句话介绍长城。", "prompt_id", "p1",
            "chosen", turns("user", "用一句话介绍长城。", "assistant", "长城是中国古代修建的军事防御工程。"),
            "rejected", turns("user", "用一句话介绍长城。", "assistant", "长城在日本。"),
            "messages", turns("user", "用一句话介绍长城。", "assistant", "长城是中国古代修建的军事防御工程。"),
            "score_chosen", 8.5, "score_rejected", 1.0),
        row("prompt", "Say hi.", "prompt_id", "p2",
            "chosen", turns("user", "Say hi.", "assistant", "Hi!"),
            "rejected", turns("user", "Say hi.", "assistant", "No."),
            "messages", null, "score_chosen", 7.0, "score_rejected", null),
        row("prompt", "Ends badly", "prompt_id", "p3",
            "chosen", turns("user", "Ends badly", "user", "still me"),
            "rejected", turns("user", "Ends badly", "assistant", "ok"),
            "messages", null, "score_chosen", 1.0, "score_rejected", 0.0),
        row("prompt", "No rejected side", "prompt_id", "p4",
            "chosen", turns("user", "No rejected side", "assistant", "fine"),
            "rejected", null, "messages", null, "score_chosen", 5.0, "score_rejected", null));
  }

  /**
   * Writes {@code rows} as a Parquet file with parquet-avro (the standard three-level lists pyarrow
   * writes), one row per row group when {@code rowsPerGroup} is 1 (0: one row group).
   */
  public static Path writeParquet(Path file, Schema schema, List<Map<String, Object>> rows, int rowsPerGroup) throws IOException {
    Configuration conf = new Configuration(false);
    conf.setBoolean("parquet.avro.write-old-list-structure", false);
    Files.createDirectories(file.toAbsolutePath().getParent());
    try (ParquetWriter<GenericRecord> w = AvroParquetWriter.<GenericRecord>builder(
            HadoopOutputFile.fromPath(new org.apache.hadoop.fs.Path(file.toAbsolutePath().toString()), conf))
        .withSchema(schema).withConf(conf).withCompressionCodec(CompressionCodecName.SNAPPY)
        // one row per group: the size is checked after every row, and any row overflows it
        .withRowGroupSize(rowsPerGroup > 0 ? 1L : 128L << 20)
        .withMinRowCountForPageSizeCheck(rowsPerGroup > 0 ? 1 : 100)
        .withMaxRowCountForPageSizeCheck(rowsPerGroup > 0 ? 1 : 10_000).build()) {
      for (Map<String, Object> r : rows) {
        w.write((GenericRecord) avro(r, schema));
      }
    }
    return file;
  }

  /** The JSON Lines twin of {@code rows}. */
  public static Path writeJsonl(Path file, List<Map<String, Object>> rows) throws IOException {
    ObjectMapper plain = new ObjectMapper();
    Files.createDirectories(file.toAbsolutePath().getParent());
    try (OutputStream out = Files.newOutputStream(file)) {
      for (Map<String, Object> r : rows) {
        out.write(plain.writeValueAsBytes(r));
        out.write('\n');
      }
    }
    return file;
  }

  private static Object avro(Object v, Schema s) {
    if (v == null) {
      return null;
    }
    if (s.getType() == Schema.Type.UNION) {
      Schema branch = s.getTypes().stream().filter(t -> t.getType() != Schema.Type.NULL).findFirst().orElseThrow();
      return avro(v, branch);
    }
    switch (s.getType()) {
      case RECORD: {
        GenericRecord g = new GenericData.Record(s);
        Map<?, ?> m = (Map<?, ?>) v;
        for (Schema.Field f : s.getFields()) {
          g.put(f.name(), avro(m.get(f.name()), f.schema()));
        }
        return g;
      }
      case ARRAY: {
        List<Object> out = new ArrayList<>();
        for (Object e : (List<?>) v) {
          out.add(avro(e, s.getElementType()));
        }
        return new GenericData.Array<>(s, out);
      }
      case FLOAT:
        return ((Number) v).floatValue();
      case DOUBLE:
        return ((Number) v).doubleValue();
      case LONG:
        return ((Number) v).longValue();
      case INT:
        return ((Number) v).intValue();
      default:
        return v;
    }
  }
}
