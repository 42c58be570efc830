package io.instructflow.pipelines.blend;

import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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
   * Writes {@code rows} (in order) to {@code path}, one at a time; each row's source and license are
   * those of its {@code metadata.blend}.
   *
   * @param split the rows' split
   */
  public static void write(String path, String split, java.util.Iterator<Example> rows) throws IOException {
    // written to a local file first: parquet-mr lists a column's encodings in a hash set's order, which
    // changes from JVM to JVM, so the footer is put in a canonical order before the file is published
    java.nio.file.Path local = java.nio.file.Files.createTempFile("instructflow-shard-", ".parquet");
    try {
      writeLocal(local, split, rows);
      canonicalCopy(local, FileSystems.matchNewResource(path, false));
    } finally {
      java.nio.file.Files.deleteIfExists(local);
    }
  }

  private static void writeLocal(java.nio.file.Path file, String split, java.util.Iterator<Example> rows) throws IOException {
    ResourceId id = FileSystems.matchNewResource(file.toString(), false);
    Configuration conf = new Configuration(false);
    // the standard three-level LIST layout, which pyarrow (and so Hugging Face datasets) maps to list<struct>
    conf.setBoolean("parquet.avro.write-old-list-structure", false);
    try (ParquetWriter<GenericRecord> w = AvroParquetWriter.<GenericRecord>builder(new ChannelFile(id))
        .withSchema(SCHEMA).withConf(conf).withCompressionCodec(CompressionCodecName.SNAPPY).build()) {
      while (rows.hasNext()) {
        Example e = rows.next();
        Map<?, ?> blend = (Map<?, ?>) e.metadata().get(BlendPipeline.NAMESPACE);
        GenericRecord r = new GenericData.Record(SCHEMA);
        r.put("id", e.id());
        r.put("split", split);
        r.put("source", String.valueOf(blend.get("source")));
        r.put("license", String.valueOf(blend.get("license")));
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

  /**
   * Copies a Parquet file to {@code target} with its footer in a canonical order: each column chunk's
   * encodings sorted by id, its page encoding statistics by page type and encoding. Nothing else
   * changes; the data pages are copied as they are.
   */
  static void canonicalCopy(java.nio.file.Path file, ResourceId target) throws IOException {
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(file)) {
      long size = ch.size();
      java.nio.ByteBuffer tail = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
      ch.read(tail, size - 8);
      int footerLength = tail.getInt(0);
      if (tail.get(4) != 'P' || tail.get(5) != 'A' || tail.get(6) != 'R' || tail.get(7) != '1') {
        throw new IOException("not a Parquet file: " + file);
      }
      long footerStart = size - 8 - footerLength;
      java.nio.ByteBuffer footer = java.nio.ByteBuffer.allocate(footerLength);
      while (footer.hasRemaining() && ch.read(footer, footerStart + footer.position()) > 0) {
        // read the footer whole
      }
      org.apache.parquet.format.FileMetaData meta = org.apache.parquet.format.Util.readFileMetaData(
          new java.io.ByteArrayInputStream(footer.array()));
      for (org.apache.parquet.format.RowGroup g : meta.getRow_groups()) {
        for (org.apache.parquet.format.ColumnChunk c : g.getColumns()) {
          org.apache.parquet.format.ColumnMetaData m = c.getMeta_data();
          List<org.apache.parquet.format.Encoding> enc = new ArrayList<>(m.getEncodings());
          enc.sort(java.util.Comparator.comparingInt(org.apache.parquet.format.Encoding::getValue));
          m.setEncodings(enc);
          if (m.isSetEncoding_stats()) {
            List<org.apache.parquet.format.PageEncodingStats> st = new ArrayList<>(m.getEncoding_stats());
            st.sort(java.util.Comparator.comparingInt((org.apache.parquet.format.PageEncodingStats x) -> x.getPage_type().getValue())
                .thenComparingInt(x -> x.getEncoding().getValue()));
            m.setEncoding_stats(st);
          }
        }
      }
      java.io.ByteArrayOutputStream canonical = new java.io.ByteArrayOutputStream(footerLength);
      org.apache.parquet.format.Util.writeFileMetaData(meta, canonical);
      try (OutputStream os = Channels.newOutputStream(FileSystems.create(target, "application/vnd.apache.parquet"))) {
        try (java.io.InputStream in = java.nio.channels.Channels.newInputStream(ch.position(0))) {
          byte[] buf = new byte[1 << 16];
          long left = footerStart;
          while (left > 0) {
            int k = in.read(buf, 0, (int) Math.min(buf.length, left));
            if (k < 0) {
              throw new IOException("short read of " + file);
            }
            os.write(buf, 0, k);
            left -= k;
          }
        }
        canonical.writeTo(os);
        java.nio.ByteBuffer end = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        end.putInt(canonical.size()).put((byte) 'P').put((byte) 'A').put((byte) 'R').put((byte) '1');
        os.write(end.array());
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
