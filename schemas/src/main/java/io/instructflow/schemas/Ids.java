package io.instructflow.schemas;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.Normalizer;
import java.util.HexFormat;
import java.util.List;

/**
 * Stable content ids.
 *
 * <p>The id is the first {@value #ID_HEX_CHARS} hex characters (96 bits) of the SHA-256 of a canonical
 * JSON array {@code ["ex1", instruction, input, output, [[role, content], ...]]}, where every text is
 * Unicode-NFC normalized and stripped of leading and trailing whitespace, and an absent field is the
 * empty string. Using a JSON array (rather than concatenation) makes the encoding unambiguous. The id
 * depends on content only, not on origin: the same example from two sources has one id, which is what
 * cross-source dedup and lineage need. Provenance and metadata are not hashed.
 */
public final class Ids {
  /** Length of an id in hex characters. */
  public static final int ID_HEX_CHARS = 24;

  private static final String VERSION_TAG = "ex1";

  private Ids() {}

  /** The content id of the given fields; null fields count as empty. */
  public static String contentId(String instruction, String input, String output, List<Message> messages) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    ArrayNode root = f.arrayNode();
    root.add(VERSION_TAG);
    root.add(norm(instruction));
    root.add(norm(input));
    root.add(norm(output));
    ArrayNode turns = root.addArray();
    for (Message m : messages) {
      turns.addArray().add(m.role()).add(norm(m.content()));
    }
    return sha256Hex(root.toString().getBytes(StandardCharsets.UTF_8)).substring(0, ID_HEX_CHARS);
  }

  /** Hex SHA-256 of bytes. */
  public static String sha256Hex(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is required by every Java platform", e);
    }
  }

  private static String norm(String s) {
    return s == null ? "" : Normalizer.normalize(s, Normalizer.Form.NFC).strip();
  }
}
