package io.instructflow.inference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.ModelRef;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * Finished generations on disk, one small JSON file per request, so that a rerun (after a crash, or
 * after a change further down a pipeline) does not ask the model again.
 *
 * <p>The key is the SHA-256 of the model's identity ({@link LanguageModel#identity}: for the embedded
 * engine the file's SHA-256, the llama.cpp build, the backend and GPU layers; for a remote model the
 * endpoint, the served name and what the server's {@code /v1/models} says of it), the request's content (its prompt, or its messages, which the model's own chat
 * template, part of the model file, turns into the same rendered prompt every time), the sampling
 * parameters and the effective seed. Entries are written to a temporary file and renamed into place,
 * so a crash leaves either a whole entry or none. Only successful results are stored: failures are
 * retried on the next run. Safe for concurrent use by threads and processes (the last rename wins, and
 * both writers wrote the same content).
 */
public final class ResponseCache {
  private final Path dir;

  public ResponseCache(Path dir) {
    this.dir = dir;
  }

  /** The cache folder. */
  public Path dir() {
    return dir;
  }

  /** The key of a request for a model known by its {@link ModelRef} alone (see {@link #identity}). */
  public static String key(ModelRef model, GenerationRequest r) {
    return key(identity(model), r);
  }

  /** The identity a {@link ModelRef} alone gives: the file's SHA-256, or backend and name. */
  public static String identity(ModelRef model) {
    return model.sha256() != null ? "sha256:" + model.sha256() : model.backend() + ":" + model.id();
  }

  /** The key of a request for a model with the given {@link LanguageModel#identity}. */
  public static String key(String modelIdentity, GenerationRequest r) {
    ObjectNode k = Json.mapper().createObjectNode();
    // 2: the embedded engine moved from de.kherud's binding (llama.cpp b4916) to ours (llama.cpp
    // v0.5.0), whose greedy text can differ; entries written by the old engine are not reused.
    // 3: the model is named by its full identity (llama.cpp build, backend, GPU layers; a remote
    // model's endpoint and /v1/models entry), issue 21: entries keyed by the file or name alone are cold
    k.put("v", 3);
    k.put("model", modelIdentity);
    if (r.isChat()) {
      k.set("messages", Json.mapper().valueToTree(r.messages()));
    } else {
      k.put("prompt", r.prompt());
    }
    k.set("params", Json.mapper().valueToTree(r.params().asMap()));
    k.put("seed", r.seed());
    return Ids.sha256Hex(Json.line(k).getBytes(StandardCharsets.UTF_8));
  }

  /** The stored result for a key, marked as cached. An unreadable entry counts as absent. */
  public Optional<GenerationResult> get(String key, String requestId) {
    Path f = file(key);
    if (!Files.isRegularFile(f)) {
      return Optional.empty();
    }
    try {
      JsonNode node = Json.mapper().readTree(Files.readString(f, StandardCharsets.UTF_8));
      GenerationResult stored = Json.mapper().treeToValue(node.get("result"), GenerationResult.class);
      return Optional.of(new GenerationResult(requestId, stored.renderedPrompt(), stored.promptTokens(),
          stored.choices(), null, null, true));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** Stores a successful result under a key, atomically. */
  public void put(String key, GenerationResult result) {
    if (!result.ok()) {
      return;
    }
    write(key, "result", Json.mapper().valueToTree(result));
  }

  private void write(String key, String field, JsonNode value) {
    Path f = file(key);
    try {
      Files.createDirectories(f.getParent());
      ObjectNode entry = Json.mapper().createObjectNode();
      entry.put("key", key);
      entry.set(field, value);
      Path tmp = Files.createTempFile(f.getParent(), ".tmp-", ".json");
      try {
        Files.writeString(tmp, Json.line(entry) + "\n", StandardCharsets.UTF_8);
        try {
          Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
          Files.move(tmp, f, StandardCopyOption.REPLACE_EXISTING);
        }
      } finally {
        Files.deleteIfExists(tmp);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write cache entry " + f, e);
    }
  }

  /** The key of a score request (issue 22): the model's identity, the context, the continuation, the alternatives asked. */
  public static String key(String modelIdentity, ScoreRequest r) {
    ObjectNode k = Json.mapper().createObjectNode();
    k.put("v", 3);
    k.put("kind", "score");
    k.put("model", modelIdentity);
    if (r.isChat()) {
      k.set("messages", Json.mapper().valueToTree(r.messages()));
    } else {
      k.put("prompt", r.prompt());
    }
    k.put("continuation", r.continuation());
    k.put("top", r.topLogprobs());
    return Ids.sha256Hex(Json.line(k).getBytes(StandardCharsets.UTF_8));
  }

  /** The stored score for a key. An unreadable entry counts as absent. */
  public Optional<ScoreResult> getScore(String key, String requestId) {
    Path f = file(key);
    if (!Files.isRegularFile(f)) {
      return Optional.empty();
    }
    try {
      JsonNode node = Json.mapper().readTree(Files.readString(f, StandardCharsets.UTF_8));
      ScoreResult stored = Json.mapper().treeToValue(node.get("score"), ScoreResult.class);
      return Optional.of(ScoreResult.ok(requestId, stored.contextTokens(), stored.tokens()));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** Stores a successful score under a key, atomically. */
  public void putScore(String key, ScoreResult result) {
    if (result.ok()) {
      write(key, "score", Json.mapper().valueToTree(result));
    }
  }

  private Path file(String key) {
    return dir.resolve(key.substring(0, 2)).resolve(key + ".json");
  }
}
