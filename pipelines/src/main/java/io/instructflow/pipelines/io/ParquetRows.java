package io.instructflow.pipelines.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RejectReason;
import io.instructflow.schemas.io.RecordConverter;
import io.instructflow.schemas.io.RecordStreamParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericFixed;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.util.Utf8;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.HadoopReadOptions;
import org.apache.parquet.avro.AvroReadSupport;
import org.apache.parquet.column.page.PageReadStore;
import org.apache.parquet.filter2.compat.FilterCompat;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.api.ReadSupport;
import org.apache.parquet.hadoop.metadata.BlockMetaData;
import org.apache.parquet.hadoop.metadata.FileMetaData;
import org.apache.parquet.io.ColumnIOFactory;
import org.apache.parquet.io.DelegatingSeekableInputStream;
import org.apache.parquet.io.MessageColumnIO;
import org.apache.parquet.io.RecordReader;
import org.apache.parquet.io.SeekableInputStream;
import org.apache.parquet.io.api.RecordMaterializer;
import org.apache.parquet.schema.MessageType;

/**
 * Reads Parquet input files (how Hugging Face datasets are published) by row groups, each row as the
 * JSON object its JSON Lines twin would hold, so that the same shape detection and conversion
 * ({@link RecordStreamParser}, {@link RecordConverter}) apply unchanged (issue 20).
 *
 * <p>Splitting: a file is cut into runs of whole row groups of about {@link FileChunk#TARGET_BYTES}
 * compressed bytes each (a row group is never cut), read by separate tasks; a task reads its row groups
 * one at a time through parquet-hadoop, so no worker holds more than one row group of a file. Rows are
 * numbered from 0 within the file (the row groups before a piece give its first row number), and a
 * row's location is {@code <file name>#<row>}.
 *
 * <p>Row to JSON: a struct is an object (columns in file order), a list an array, a map an object,
 * strings text (checked to be valid UTF-8), integers and doubles numbers, a float the decimal number
 * it prints as ({@code 0.1f} is {@code 0.1}), booleans booleans, enums their symbol, bytes and fixed
 * values their Base64 text, a null value JSON {@code null} (which the converter reads as absent).
 * Logical types are read as their stored values (a date is its day number).
 *
 * <p>Bad input: a row whose value cannot be JSON (a string that is not UTF-8, a NaN or infinite
 * number) is one reject ({@code invalid_utf8}, {@code invalid_value}); a row the converter refuses is
 * rejected as a JSON Lines line would be; a file whose footer cannot be read is one
 * {@code unreadable_file} reject located at the file's name; a row group that cannot be decoded makes
 * its undecoded rows {@code unreadable_file} rejects, one per row, and reading goes on with the next
 * row group. So every row the footer declares ends as a record or a reject.
 */
public final class ParquetRows {
  private ParquetRows() {}

  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  /** The pieces of a Parquet file: runs of whole row groups; one unreadable piece if the footer is bad. */
  static List<FileChunk> split(InputFile file, long targetBytes) {
    List<FileChunk> out = new ArrayList<>();
    List<BlockMetaData> groups;
    try (ParquetFileReader reader = open(file)) {
      groups = reader.getRowGroups();
    } catch (IOException | RuntimeException e) {
      // parsed again (and rejected with the reason) by the piece's task
      out.add(new FileChunk(file, 0, -1, -1, 0, null, false));
      return out;
    }
    long firstRow = 0;
    int start = 0;
    long bytes = 0;
    long rows = 0;
    for (int g = 0; g < groups.size(); g++) {
      bytes += groups.get(g).getCompressedSize();
      rows += groups.get(g).getRowCount();
      if (bytes >= targetBytes || g == groups.size() - 1) {
        out.add(new FileChunk(file, out.size(), start, g + 1, firstRow, null, false));
        firstRow += rows;
        start = g + 1;
        bytes = 0;
        rows = 0;
      }
    }
    if (out.isEmpty()) {
      out.add(new FileChunk(file, 0, 0, 0, 0, null, false)); // no rows: an empty piece still writes its counts
    }
    return out;
  }

  /** Reads the row groups of {@code piece} into {@code sink}, one row at a time. */
  static void parse(FileChunk piece, RecordStreamParser parser, RecordStreamParser.Sink sink) {
    InputFile file = piece.file();
    ParquetFileReader reader;
    try {
      reader = open(file);
    } catch (IOException | RuntimeException e) {
      parser.rejectUnreadable(file.name(), 0, "not a readable Parquet file: " + describe(e), sink);
      return;
    }
    try (reader) {
      FileMetaData meta = reader.getFooter().getFileMetaData();
      MessageType fileSchema = meta.getSchema();
      Configuration conf = conf();
      AvroReadSupport<GenericRecord> support = new AvroReadSupport<>(GenericData.get());
      @SuppressWarnings("deprecation")
      ReadSupport.ReadContext context = support.init(conf, meta.getKeyValueMetaData(), fileSchema);
      RecordMaterializer<GenericRecord> materializer =
          support.prepareForRead(conf, meta.getKeyValueMetaData(), fileSchema, context);
      MessageColumnIO columns = new ColumnIOFactory(meta.getCreatedBy()).getColumnIO(context.getRequestedSchema(), fileSchema, true);
      List<BlockMetaData> groups = reader.getRowGroups();
      long row = piece.firstLine();
      // a piece made when the footer could not be read, which can be read now, is the whole file
      int from = piece.start() < 0 ? 0 : (int) piece.start();
      int to = piece.start() < 0 ? groups.size() : (int) piece.end();
      for (int g = from; g < to; g++) {
        long count = groups.get(g).getRowCount();
        long done = 0;
        String failure = null;
        RecordReader<GenericRecord> rows = null;
        try {
          PageReadStore pages = reader.readRowGroup(g);
          rows = columns.getRecordReader(pages, materializer, FilterCompat.NOOP);
        } catch (IOException | RuntimeException e) {
          failure = "row group " + g + " cannot be read: " + describe(e);
        }
        while (failure == null && done < count) {
          GenericRecord record;
          try {
            record = rows.read();
          } catch (RuntimeException e) {
            failure = "row group " + g + " cannot be decoded from row " + (row + done) + " on: " + describe(e);
            break;
          }
          if (record == null) {
            failure = "row group " + g + " gave no record for row " + (row + done);
            break;
          }
          row(parser, file, row + done, record, sink);
          done++;
        }
        for (long r = done; r < count; r++) {
          parser.rejectUnreadable(file.name() + "#" + (row + r), row + r, failure, sink);
        }
        row += count;
      }
    } catch (IOException e) {
      // closing a file we have read to the end: nothing is lost, but say so rather than swallow it
      throw new java.io.UncheckedIOException("cannot close " + file.path(), e);
    }
  }

  /** One row: its JSON object to the parser, or a reject when a value has no JSON form. */
  private static void row(RecordStreamParser parser, InputFile file, long row, GenericRecord record, RecordStreamParser.Sink sink) {
    String location = file.name() + "#" + row;
    JsonNode node;
    try {
      node = toJson(record, record.getSchema(), "");
    } catch (BadValue b) {
      byte[] raw = record.toString().getBytes(StandardCharsets.UTF_8);
      sink.reject(Reject.of(file.path(), location, b.reason, b.getMessage(), RecordConverter.STEP,
          java.util.Arrays.copyOf(raw, Math.min(raw.length, Reject.MAX_RAW_CHARS * 4)), raw.length), row);
      return;
    }
    byte[] raw;
    try {
      raw = Json.mapper().writeValueAsBytes(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("a JSON tree always serializes", e);
    }
    parser.parseNode(node, row, location, raw, sink);
  }

  /** A value that has no JSON form. */
  private static final class BadValue extends Exception {
    private static final long serialVersionUID = 1L;
    final RejectReason reason;

    BadValue(RejectReason reason, String message) {
      super(message, null, false, false);
      this.reason = reason;
    }
  }

  /** {@code value} of Avro type {@code schema} as JSON; {@code path} names it in messages. */
  static JsonNode toJson(Object value, Schema schema, String path) throws BadValue {
    if (value == null) {
      return NODES.nullNode();
    }
    switch (schema.getType()) {
      case UNION:
        return toJson(value, schema.getTypes().get(GenericData.get().resolveUnion(schema, value)), path);
      case RECORD: {
        GenericRecord r = (GenericRecord) value;
        ObjectNode o = NODES.objectNode();
        for (Schema.Field f : schema.getFields()) {
          o.set(f.name(), toJson(r.get(f.pos()), f.schema(), join(path, f.name())));
        }
        return o;
      }
      case ARRAY: {
        ArrayNode a = NODES.arrayNode();
        int i = 0;
        for (Object e : (Collection<?>) value) {
          a.add(toJson(e, schema.getElementType(), path + "[" + i++ + "]"));
        }
        return a;
      }
      case MAP: {
        ObjectNode o = NODES.objectNode();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) {
          String key = text(e.getKey(), path + " (a map key)");
          o.set(key, toJson(e.getValue(), schema.getValueType(), join(path, key)));
        }
        return o;
      }
      case STRING:
        return NODES.textNode(text(value, path));
      case ENUM:
        return NODES.textNode(value.toString());
      case BYTES: {
        ByteBuffer b = ((ByteBuffer) value).duplicate();
        byte[] bytes = new byte[b.remaining()];
        b.get(bytes);
        return NODES.textNode(Base64.getEncoder().encodeToString(bytes));
      }
      case FIXED:
        return NODES.textNode(Base64.getEncoder().encodeToString(((GenericFixed) value).bytes()));
      case INT:
        return NODES.numberNode((Integer) value);
      case LONG:
        return NODES.numberNode((Long) value);
      case FLOAT:
        return NODES.numberNode(finite(Double.parseDouble(Float.toString((Float) value)), path));
      case DOUBLE:
        return NODES.numberNode(finite((Double) value, path));
      case BOOLEAN:
        return NODES.booleanNode((Boolean) value);
      case NULL:
        return NODES.nullNode();
      default:
        throw new BadValue(RejectReason.WRONG_TYPE, "column '" + path + "' has a type JSON cannot hold: " + schema.getType());
    }
  }

  private static String join(String path, String name) {
    return path.isEmpty() ? name : path + "." + name;
  }

  private static double finite(double d, String path) throws BadValue {
    if (!Double.isFinite(d)) {
      throw new BadValue(RejectReason.INVALID_VALUE, "column '" + path + "' is " + d + ", which JSON cannot hold");
    }
    return d;
  }

  /** A string value, refusing bytes that are not UTF-8 (never replaced silently). */
  private static String text(Object value, String path) throws BadValue {
    if (value instanceof Utf8 u) {
      try {
        return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(u.getBytes(), 0, u.getByteLength()))
            .toString();
      } catch (CharacterCodingException e) {
        throw new BadValue(RejectReason.INVALID_UTF8, "column '" + path + "' is not valid UTF-8");
      }
    }
    return value.toString();
  }

  private static String describe(Throwable e) {
    String m = e.getMessage();
    return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
  }

  private static Configuration conf() {
    Configuration conf = new Configuration(false);
    // a standard three-level list (list<struct>, as pyarrow and so Hugging Face write it, with no Avro
    // schema in the file) is a list of its element structs, not of one-field {"element": ...} wrappers
    conf.setBoolean("parquet.avro.add-list-element-records", false);
    // INT96 timestamps (old Spark and Impala files) as 12-byte values instead of an exception per file
    conf.setBoolean(AvroReadSupport.READ_INT96_AS_FIXED, true);
    return conf;
  }

  private static ParquetFileReader open(InputFile file) throws IOException {
    return ParquetFileReader.open(new ChannelFile(FileSystems.matchNewResource(file.path(), false)),
        HadoopReadOptions.builder(conf()).build());
  }

  /** A Parquet input file read through Beam's FileSystems, so any scheme the pipeline reads works. */
  private record ChannelFile(ResourceId id) implements org.apache.parquet.io.InputFile {
    @Override
    public long getLength() throws IOException {
      return FileSystems.matchSingleFileSpec(id.toString()).sizeBytes();
    }

    @Override
    public SeekableInputStream newStream() throws IOException {
      java.nio.channels.ReadableByteChannel opened = FileSystems.open(id);
      if (!(opened instanceof SeekableByteChannel ch)) {
        opened.close();
        throw new IOException("the file system of " + id + " cannot seek, which Parquet needs");
      }
      return new DelegatingSeekableInputStream(Channels.newInputStream(ch)) {
        @Override
        public long getPos() throws IOException {
          return ch.position();
        }

        @Override
        public void seek(long newPos) throws IOException {
          ch.position(newPos);
        }
      };
    }
  }
}
