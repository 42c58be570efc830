package io.instructflow.schemas;

import com.fasterxml.jackson.annotation.JsonValue;

/**
 * Why an input record could not be read. The codes are stored in the data: never rename one, add a
 * new one instead.
 */
public enum RejectReason {
  /** The bytes of the line (or file) are not valid UTF-8. */
  INVALID_UTF8("invalid_utf8"),
  /** The text is not parsable JSON. */
  INVALID_JSON("invalid_json"),
  /** The JSON value is not an object (a number, string, array...). */
  NOT_AN_OBJECT("not_an_object"),
  /** The object has none of the field sets of a supported input shape. */
  UNKNOWN_SHAPE("unknown_shape"),
  /** A field the shape requires is absent or null. */
  MISSING_FIELD("missing_field"),
  /** A field has the wrong JSON type (e.g. a number where text is expected). */
  WRONG_TYPE("wrong_type"),
  /** A field has a value outside its allowed set (e.g. an unknown chat role). */
  INVALID_VALUE("invalid_value"),
  /** The instruction (or every user turn) is empty or whitespace only. */
  EMPTY_INSTRUCTION("empty_instruction"),
  /** The line is longer than {@code --max-line-bytes}. */
  LINE_TOO_LONG("line_too_long"),
  /** One of our own records that does not validate against its JSON Schema. */
  SCHEMA_VIOLATION("schema_violation"),
  /** One of our own records whose id is not the hash of its content (edited after it was written). */
  ID_MISMATCH("id_mismatch"),
  /** A prompt that, with the requested completion length, does not fit the model's context. */
  PROMPT_TOO_LONG("prompt_too_long"),
  /** A chat record sent to a model that has no chat template (or whose template refused it). */
  NO_CHAT_TEMPLATE("no_chat_template"),
  /** A generation request the backend refused, or that kept failing after every retry. */
  GENERATION_FAILED("generation_failed"),
  /**
   * The file's container cannot be decoded past some point: a Parquet file whose footer or a row group
   * cannot be read, or a compressed stream that is damaged or truncated (issue 20).
   */
  UNREADABLE_FILE("unreadable_file");

  private final String code;

  RejectReason(String code) {
    this.code = code;
  }

  /** The stable lower_snake_case code written to the data. */
  @JsonValue
  public String code() {
    return code;
  }
}
