package io.instructflow.schemas.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RejectReason;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Reads one input file (JSON Lines or one JSON array) into records and rejects, in file order.
 *
 * <p>The layout is detected from the first non-whitespace byte: {@code [} means a JSON array, anything
 * else JSON Lines. The record shape is forced, or detected from the first object that has a known key
 * set and then held for the rest of the file. Every input record ends as records or as exactly one
 * reject; nothing is skipped except blank JSONL lines, which are counted. A line longer than the limit
 * is never held in memory whole: only its first bytes are kept for the reject.
 *
 * <p>Positions: JSONL records are numbered by 1-based line, array elements by 0-based index; the
 * location is {@code name:line} or {@code name#index}.
 */
public final class RecordStreamParser {
  /** Where the parser sends what it reads. */
  public interface Sink {
    /** A record read at {@code position}; {@code sub} numbers the records one object expanded to. */
    void example(Example example, long position, int sub);

    /** An input record that could not be read. */
    void reject(Reject reject, long position);

    /** A blank JSONL line (holds no record). */
    void blankLine(long line);
  }

  /** Bytes of a rejected record kept for its {@code raw} field (enough for {@link Reject#MAX_RAW_CHARS}). */
  private static final int RAW_PREFIX_BYTES = Reject.MAX_RAW_CHARS * 4;

  private static final ObjectMapper STRICT = strictMapper();

  /** Reads one array element at a time: the rest of the array is not "trailing" content. */
  private static final ObjectReader ELEMENT_READER =
      STRICT.reader().without(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private final RecordConverter converter;
  private final InputShape forced;
  private final int maxRecordBytes;
  private final String source;
  private final String name;
  private InputShape detected;
  private boolean readLines = true;

  /**
   * @param converter turns objects into records
   * @param forced the shape to read every object as, or empty to detect it
   * @param maxRecordBytes longest accepted line (or serialized array element), in bytes
   * @param source the file's path, written to rejects
   * @param name the file's display name, used in locations
   */
  public RecordStreamParser(
      RecordConverter converter, Optional<InputShape> forced, int maxRecordBytes, String source, String name) {
    this.converter = Objects.requireNonNull(converter, "converter");
    this.forced = forced.orElse(null);
    if (maxRecordBytes < 16) {
      throw new IllegalArgumentException("maxRecordBytes must be at least 16, got " + maxRecordBytes);
    }
    this.maxRecordBytes = maxRecordBytes;
    this.source = Objects.requireNonNull(source, "source");
    this.name = Objects.requireNonNull(name, "name");
  }

  private static ObjectMapper strictMapper() {
    ObjectMapper m =
        Json.mapper()
            .copy()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .disable(JsonParser.Feature.INCLUDE_SOURCE_IN_LOCATION);
    m.getFactory().setStreamReadConstraints(Json.mapper().getFactory().streamReadConstraints());
    return m;
  }

  /** The shape this file was read as, once known. */
  public Optional<InputShape> shape() {
    return Optional.ofNullable(forced != null ? forced : detected);
  }

  /** Whether the last whole stream {@link #parse} read was JSON Lines (else a JSON array). */
  public boolean readLines() {
    return readLines;
  }

  /** Reads the whole stream, sending every record, reject and blank line to {@code sink}. */
  public void parse(InputStream raw, Sink sink) throws IOException {
    BufferedInputStream in = new BufferedInputStream(raw, 1 << 16);
    skipBom(in);
    readLines = readsAsLines(name, in);
    if (readLines) {
      parseLines(in, 1, sink);
    } else {
      parseArray(in, sink);
    }
  }

  /**
   * Reads a run of whole JSON lines cut from a JSON Lines file, whose first line is line
   * {@code firstLine} of the file (1-based; a byte-order mark is skipped only there), as records of
   * {@code shape} when it is given, as the whole file's {@link #parse} would have read them once it had
   * detected that shape; a null shape is detected here as there.
   */
  public void parseLines(InputStream raw, long firstLine, InputShape shape, Sink sink) throws IOException {
    if (firstLine < 1) {
      throw new IllegalArgumentException("lines are numbered from 1, got " + firstLine);
    }
    BufferedInputStream in = new BufferedInputStream(raw, 1 << 16);
    if (firstLine == 1) {
      skipBom(in);
    }
    if (forced == null && shape != null) {
      detected = shape;
    }
    parseLines(in, firstLine, sink);
  }

  /**
   * Whether the file is read as JSON Lines: by its name (a compression suffix, {@code .gz} or
   * {@code .zst}, set aside), else unless its first non-blank byte is {@code [}.
   */
  public static boolean readsAsLines(String name, BufferedInputStream in) throws IOException {
    String lower = withoutCompression(name.toLowerCase(java.util.Locale.ROOT));
    return lower.endsWith(".jsonl") || lower.endsWith(".ndjson") || firstNonWhitespace(in) != '[';
  }

  /** The compression suffixes a JSON input may carry (issue 20): the stream is read decompressed. */
  public static final List<String> COMPRESSION_SUFFIXES = List.of(".gz", ".zst");

  /** {@code name} without its compression suffix, if it has one. */
  public static String withoutCompression(String name) {
    String lower = name.toLowerCase(java.util.Locale.ROOT);
    for (String s : COMPRESSION_SUFFIXES) {
      if (lower.endsWith(s)) {
        return name.substring(0, name.length() - s.length());
      }
    }
    return name;
  }

  /**
   * Reads one record that arrives already parsed (a Parquet row as a JSON object): the shape is
   * detected or held exactly as for a JSONL line, then the object is converted or rejected.
   *
   * @param node the record
   * @param position its position (the row index within the file)
   * @param location its location ({@code name#row})
   * @param raw the record as compact JSON, kept (cut) in a reject
   */
  public void parseNode(JsonNode node, long position, String location, byte[] raw, Sink sink) {
    handleNode(node, position, location, Arrays.copyOf(raw, Math.min(raw.length, RAW_PREFIX_BYTES)), raw.length, sink);
  }

  /** Sends a reject for {@code location} that no record could be read from (an unreadable container). */
  public void rejectUnreadable(String location, long position, String message, Sink sink) {
    sink.reject(reject(location, RejectReason.UNREADABLE_FILE, message, new byte[0], 0), position);
  }

  private static void skipBom(BufferedInputStream in) throws IOException {
    in.mark(3);
    byte[] b = in.readNBytes(3);
    if (!(b.length == 3 && (b[0] & 0xff) == 0xEF && (b[1] & 0xff) == 0xBB && (b[2] & 0xff) == 0xBF)) {
      in.reset();
    }
  }

  private static int firstNonWhitespace(BufferedInputStream in) throws IOException {
    in.mark(1 << 16);
    int c;
    int n = 0;
    do {
      c = in.read();
      n++;
    } while (c != -1 && n < (1 << 16) - 1 && (c == ' ' || c == '\t' || c == '\r' || c == '\n'));
    in.reset();
    return c;
  }

  // ---- JSON Lines ----

  private void parseLines(InputStream in, long firstLine, Sink sink) throws IOException {
    LineBuffer line = new LineBuffer(maxRecordBytes);
    byte[] buf = new byte[1 << 16];
    long lineNo = firstLine;
    int n;
    boolean pending = false;
    while ((n = in.read(buf)) != -1) {
      int start = 0;
      for (int i = 0; i < n; i++) {
        if (buf[i] == '\n') {
          line.append(buf, start, i - start);
          handleLine(line, lineNo++, sink);
          line.clear();
          pending = false;
          start = i + 1;
        }
      }
      if (start < n) {
        line.append(buf, start, n - start);
        pending = true;
      }
    }
    if (pending) {
      handleLine(line, lineNo, sink);
    }
  }

  private void handleLine(LineBuffer line, long lineNo, Sink sink) {
    line.stripCarriageReturn();
    handleRecord(line, lineNo, name + ":" + lineNo, "line", sink);
  }

  /** One record's bytes (a JSONL line or a JSON array element), checked and converted. */
  private void handleRecord(LineBuffer line, long lineNo, String location, String what, Sink sink) {
    if (line.tooLong()) {
      sink.reject(
          reject(location, RejectReason.LINE_TOO_LONG,
              what + " is " + line.length() + " bytes, over the limit of " + maxRecordBytes + " bytes (--max-line-bytes)",
              line.prefix(), line.length()),
          lineNo);
      return;
    }
    String text;
    try {
      text = decoder().decode(ByteBuffer.wrap(line.bytes(), 0, (int) line.length())).toString();
    } catch (MalformedInputException e) {
      sink.reject(reject(location, RejectReason.INVALID_UTF8,
          "the " + what + " is not valid UTF-8 (bad byte sequence at byte " + firstBadByte(line) + " of the " + what + ")",
          line.prefix(), line.length()), lineNo);
      return;
    } catch (CharacterCodingException e) {
      sink.reject(reject(location, RejectReason.INVALID_UTF8, "the " + what + " is not valid UTF-8: " + e, line.prefix(), line.length()), lineNo);
      return;
    }
    if (text.isBlank()) {
      if (what.equals("line")) {
        sink.blankLine(lineNo);
      } else {
        sink.reject(reject(location, RejectReason.INVALID_JSON, "empty array element (two commas in a row, or a comma before ']')",
            line.prefix(), line.length()), lineNo);
      }
      return;
    }
    JsonNode node;
    try {
      node = STRICT.readTree(text);
    } catch (JsonProcessingException e) {
      sink.reject(reject(location, RejectReason.INVALID_JSON, "not valid JSON: " + describe(e), line.prefix(), line.length()), lineNo);
      return;
    }
    String surrogate = loneSurrogate(node);
    if (surrogate != null) {
      sink.reject(reject(location, RejectReason.INVALID_UTF8,
          "the text contains an unpaired surrogate escape (" + surrogate + "), which has no UTF-8 form",
          line.prefix(), line.length()), lineNo);
      return;
    }
    handleNode(node, lineNo, location, line.prefix(), line.length(), sink);
  }

  /** The first unpaired UTF-16 surrogate in any string or field name of {@code node}, as a backslash-u escape, or null. */
  static String loneSurrogate(JsonNode node) {
    if (node.isTextual()) {
      return loneSurrogate(node.textValue());
    }
    if (node.isContainerNode()) {
      Iterator<java.util.Map.Entry<String, JsonNode>> fields = node.fields();
      while (fields.hasNext()) {
        java.util.Map.Entry<String, JsonNode> f = fields.next();
        String s = loneSurrogate(f.getKey());
        if (s == null) {
          s = loneSurrogate(f.getValue());
        }
        if (s != null) {
          return s;
        }
      }
      if (node.isArray()) {
        for (JsonNode c : node) {
          String s = loneSurrogate(c);
          if (s != null) {
            return s;
          }
        }
      }
    }
    return null;
  }

  private static String loneSurrogate(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        return String.format("\\u%04x", (int) c);
      }
    }
    return null;
  }

  private long firstBadByte(LineBuffer line) {
    CharsetDecoder d = decoder();
    ByteBuffer bb = ByteBuffer.wrap(line.bytes(), 0, (int) line.length());
    java.nio.CharBuffer cb = java.nio.CharBuffer.allocate((int) line.length() + 1);
    java.nio.charset.CoderResult r = d.decode(bb, cb, true);
    return r.isError() ? bb.position() + 1 : -1;
  }

  private static CharsetDecoder decoder() {
    return StandardCharsets.UTF_8
        .newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
  }

  // ---- JSON array ----

  /**
   * Splits a top-level JSON array into its elements at the byte level (tracking nesting, strings and
   * escapes) and hands each element's bytes to the same checks as a JSONL line: a bad element is one
   * reject and reading goes on with the next one; an oversized element is never held whole.
   */
  private void parseArray(InputStream in, Sink sink) throws IOException {
    final int beforeOpen = 0;
    final int expectElement = 1;
    final int expectSeparator = 2;
    final int inElement = 3;
    final int closed = 4;
    int state = beforeOpen;
    boolean first = true;
    boolean missingComma = false;
    boolean inString = false;
    boolean escape = false;
    boolean scalar = false;
    boolean trailing = false;
    int depth = 0;
    long index = 0;
    LineBuffer element = new LineBuffer(maxRecordBytes);
    byte[] buf = new byte[1 << 16];
    int n;
    while ((n = in.read(buf)) != -1) {
      int start = state == inElement ? 0 : -1;
      for (int i = 0; i < n; i++) {
        byte b = buf[i];
        switch (state) {
          case beforeOpen -> {
            if (b == '[') {
              state = expectElement;
            }
          }
          case closed -> trailing |= !isSpace(b);
          case expectElement, expectSeparator -> {
            if (isSpace(b)) {
              continue;
            }
            if (state == expectSeparator && b == ',') {
              state = expectElement;
            } else if (b == ']' && (state == expectSeparator || first)) {
              state = closed;
            } else if (state == expectElement && (b == ',' || b == ']')) {
              // ",," or ",]": an empty element
              handleRecord(element, index, name + "#" + index, "array element", sink);
              element.clear();
              index++;
              state = b == ']' ? closed : expectElement;
            } else {
              missingComma = state == expectSeparator;
              first = false;
              state = inElement;
              start = i;
              scalar = b != '{' && b != '[' && b != '"';
              inString = b == '"';
              escape = false;
              depth = (b == '{' || b == '[') ? 1 : 0;
            }
          }
          default -> { // inElement (its first byte was read by the branch above)
            boolean ends = false;
            int endExclusive = i + 1;
            if (inString) {
              if (escape) {
                escape = false;
              } else if (b == '\\') {
                escape = true;
              } else if (b == '"') {
                inString = false;
                ends = depth == 0;
              }
            } else if (scalar) {
              if (b == ',' || b == ']' || isSpace(b)) {
                ends = true;
                endExclusive = i;
              }
            } else if (b == '"') {
              inString = true;
            } else if (b == '{' || b == '[') {
              depth++;
            } else if (b == '}' || b == ']') {
              ends = --depth == 0;
            }
            if (ends) {
              element.append(buf, start, endExclusive - start);
              finishElement(element, index++, missingComma, sink);
              state = expectSeparator;
              start = -1;
              if (endExclusive == i) {
                i--; // let the separator be read as one
              }
            }
          }
        }
      }
      if (state == inElement) {
        element.append(buf, start, n - start);
      }
    }
    boolean cutInElement = state == inElement;
    if (cutInElement) {
      finishElement(element, index++, missingComma, sink);
    }
    if (state == beforeOpen) {
      return;
    }
    if (state != closed && !cutInElement) {
      sink.reject(reject(name + "#" + index, RejectReason.INVALID_JSON,
          "the JSON array is not closed: the file ends after element " + (index - 1) + " (truncated?)", new byte[0], 0), index);
    } else if (trailing) {
      sink.reject(reject(name + "#" + index, RejectReason.INVALID_JSON,
          "unexpected content after the closing ']' of the array", new byte[0], 0), index);
    }
  }

  private void finishElement(LineBuffer element, long index, boolean missingComma, Sink sink) {
    String location = name + "#" + index;
    if (missingComma) {
      sink.reject(reject(location, RejectReason.INVALID_JSON, "no ',' between this array element and the previous one",
          element.prefix(), element.length()), index);
    } else {
      handleRecord(element, index, location, "array element", sink);
    }
    element.clear();
  }

  private static boolean isSpace(byte b) {
    return b == ' ' || b == '\t' || b == '\r' || b == '\n';
  }

  // ---- shared ----

  private void handleNode(JsonNode node, long position, String location, byte[] prefix, long size, Sink sink) {
    if (!node.isObject()) {
      sink.reject(reject(location, RejectReason.NOT_AN_OBJECT,
          "expected a JSON object, got " + RecordConverter.kind(node), prefix, size), position);
      return;
    }
    InputShape shape = forced != null ? forced : detected;
    if (shape == null) {
      Optional<InputShape> d = InputShape.detect(node);
      if (d.isEmpty()) {
        sink.reject(reject(location, RejectReason.UNKNOWN_SHAPE,
            "the object has none of the field sets we read (instruction[+instances], prompt, messages, conversations, id+provenance); its fields are "
                + fieldNames(node), prefix, size), position);
        return;
      }
      detected = d.get();
      shape = detected;
    }
    Conversion c = converter.convert(node, shape, location);
    if (c instanceof Conversion.Converted ok) {
      int sub = 0;
      for (Example e : ok.examples()) {
        sink.example(e, position, sub++);
      }
    } else {
      Conversion.Failed f = (Conversion.Failed) c;
      sink.reject(reject(location, f.reason(), f.message() + " (read as " + shape.code() + ")", prefix, size), position);
    }
  }

  private static List<String> fieldNames(JsonNode node) {
    List<String> out = new ArrayList<>();
    Iterator<String> it = node.fieldNames();
    while (it.hasNext() && out.size() < 20) {
      out.add(it.next());
    }
    return out;
  }

  private Reject reject(String location, RejectReason reason, String message, byte[] prefix, long size) {
    return Reject.of(source, location, reason, message, RecordConverter.STEP, prefix, size);
  }

  private static String describe(JsonProcessingException e) {
    String msg = e.getOriginalMessage();
    if (e.getLocation() != null) {
      msg += " (column " + e.getLocation().getColumnNr() + ")";
    }
    return msg;
  }

  /** A growable line buffer that stops storing past the limit but keeps counting. */
  private static final class LineBuffer {
    private final int limit;
    private byte[] data = new byte[1024];
    private int stored;
    private long length;

    LineBuffer(int limit) {
      this.limit = limit;
    }

    void append(byte[] src, int off, int len) {
      length += len;
      int room = (limit + 1) - stored;
      int take = Math.min(room, len);
      if (take <= 0) {
        return;
      }
      if (stored + take > data.length) {
        data = Arrays.copyOf(data, Math.max(stored + take, Math.min(limit + 1, data.length * 2)));
      }
      System.arraycopy(src, off, data, stored, take);
      stored += take;
    }

    void stripCarriageReturn() {
      if (!tooLong() && stored > 0 && data[stored - 1] == '\r') {
        stored--;
        length--;
      }
    }

    boolean tooLong() {
      return length > limit;
    }

    long length() {
      return length;
    }

    byte[] bytes() {
      return data;
    }

    byte[] prefix() {
      return Arrays.copyOf(data, Math.min(stored, RAW_PREFIX_BYTES));
    }

    void clear() {
      stored = 0;
      length = 0;
      if (data.length > (1 << 20)) {
        data = new byte[1024];
      }
    }
  }
}
