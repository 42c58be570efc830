package io.instructflow.schemas;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * One input record that could not be read, with enough context for a person to find and fix it.
 *
 * @param source the input file's path as given
 * @param location {@code <file name>:<line>} or {@code <file name>#<index>}, as in {@link Origin}
 * @param reason the reason code
 * @param message a sentence a person understands, naming the offending field or value
 * @param step the step that rejected it, e.g. {@code import}
 * @param raw the raw text, cut to at most {@link #MAX_RAW_CHARS} characters (invalid bytes replaced)
 * @param rawBytes the raw record's full length in bytes
 * @param rawTruncated whether {@code raw} was cut
 */
public record Reject(
    String source,
    String location,
    RejectReason reason,
    String message,
    String step,
    String raw,
    long rawBytes,
    boolean rawTruncated) {

  /** How much raw text a reject keeps. */
  public static final int MAX_RAW_CHARS = 2048;

  public Reject {
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(location, "location");
    Objects.requireNonNull(reason, "reason");
    Objects.requireNonNull(message, "message");
    Objects.requireNonNull(step, "step");
    Objects.requireNonNull(raw, "raw");
  }

  /** A reject whose raw text is cut to {@link #MAX_RAW_CHARS} characters. */
  public static Reject of(
      String source, String location, RejectReason reason, String message, String step, byte[] rawPrefix, long rawBytes) {
    String text = new String(rawPrefix, StandardCharsets.UTF_8);
    boolean cut = rawPrefix.length < rawBytes || text.length() > MAX_RAW_CHARS;
    if (text.length() > MAX_RAW_CHARS) {
      int end = MAX_RAW_CHARS;
      if (Character.isHighSurrogate(text.charAt(end - 1))) {
        end--;
      }
      text = text.substring(0, end);
    }
    return new Reject(source, location, reason, message, step, text, rawBytes, cut);
  }
}
