package io.instructflow.pipelines.blend;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.avro.AvroParquetWriter;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.io.OutputFile;
import org.apache.parquet.io.PositionOutputStream;

/**
 * One Parquet shard of a blend (Snappy-compressed, one row group per 128 MB), written through Beam's
 * FileSystems so it works on any filesystem the pipeline can write. Columns: {@code id}, {@code split},
 * {@code source}, {@code license} (strings), {@code instruction}, {@code input}, {@code output}
 * (nullable strings), {@code messages} (list of {@code role}/{@code content}: the row as chat turns,
 * for every row) and {@code provenance} (our provenance as JSON text). Hugging Face datasets and
 * pandas read it as is.
 */
public final class ParquetShard {
  private ParquetShard() {}

  static final Schema MESSAGE = SchemaBuilder.record("message").namespace("io.instructflow").fields()
      .requiredString("role").requiredString("content").endRecord();

  /** The rows' schema. */
  public static final Schema SCHEMA = SchemaBuilder.record("row").namespace("io.instructflow").fields()
      .requiredString("id").requiredString("split").requiredString("source").requiredString("license")
      .optionalString("instruction").optionalString("input").optionalString("output")
      .name("messages").type().array().items(MESSAGE).noDefault()
      .requiredString("provenance").endRecord();

  /**
   * Writes {@code rows} (in order) to {@code path}.
   *
   * @param split the rows' split
   * @param sources each row's source name, in row order
   * @param licenses each row's source license, in row order
   */
  public static void write(String path, String split, List<Example> rows, List<String> sources, List<String> licenses)
      throws IOException {
    ResourceId id = FileSystems.matchNewResource(path, false);
    Configuration conf = new Configuration(false);
    // the standard three-level LIST layout, which pyarrow (and so Hugging Face datasets) maps to list<struct>
    conf.setBoolean("parquet.avro.write-old-list-structure", false);
    try (ParquetWriter<GenericRecord> w = AvroParquetWriter.<GenericRecord>builder(new ChannelFile(id))
        .withSchema(SCHEMA).withConf(conf).withCompressionCodec(CompressionCodecName.SNAPPY).build()) {
      for (int i = 0; i < rows.size(); i++) {
        Example e = rows.get(i);
        GenericRecord r = new GenericData.Record(SCHEMA);
        r.put("id", e.id());
        r.put("split", split);
        r.put("source", sources.get(i));
        r.put("license", licenses.get(i));
        r.put("instruction", e.isChat() ? null : e.instruction());
        r.put("input", e.isChat() ? null : e.input());
        r.put("output", e.isChat() ? null : e.output());
        List<GenericRecord> turns = new ArrayList<>();
        for (Message m : Exports.turns(e)) {
          GenericRecord t = new GenericData.Record(MESSAGE);
          t.put("role", m.role());
          t.put("content", m.content());
          turns.add(t);
        }
        r.put("messages", turns);
        r.put("provenance", Json.line(e.provenance()));
        w.write(r);
      }
    }
  }

  /** A Parquet output file over a Beam resource. */
  private record ChannelFile(ResourceId id) implements OutputFile {
    @Override
    public PositionOutputStream create(long blockSizeHint) throws IOException {
      return open();
    }

    @Override
    public PositionOutputStream createOrOverwrite(long blockSizeHint) throws IOException {
      return open();
    }

    @Override
    public boolean supportsBlockSize() {
      return false;
    }

    @Override
    public long defaultBlockSize() {
      return 0;
    }

    private PositionOutputStream open() throws IOException {
      OutputStream os = Channels.newOutputStream(FileSystems.create(id, "application/vnd.apache.parquet"));
      return new PositionOutputStream() {
        private long pos;

        @Override
        public long getPos() {
          return pos;
        }

        @Override
        public void write(int b) throws IOException {
          os.write(b);
          pos++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
          os.write(b, off, len);
          pos += len;
        }

        @Override
        public void flush() throws IOException {
          os.flush();
        }

        @Override
        public void close() throws IOException {
          os.close();
        }
      };
    }
  }
}
