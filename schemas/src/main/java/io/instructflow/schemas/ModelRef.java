package io.instructflow.schemas;

import java.util.Objects;

/**
 * The model a step used.
 *
 * @param id model name as the backend knows it (GGUF file name or served model name)
 * @param sha256 hex SHA-256 of the model file when it is local, else null
 * @param backend backend id, e.g. {@code llama.cpp} or {@code openai}
 */
public record ModelRef(String id, String sha256, String backend) {
  public ModelRef {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(backend, "backend");
  }
}
