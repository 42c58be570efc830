package io.instructflow.pipelines.runtime;

import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Map;

/**
 * The on-disk state of a command that runs in resumable stages (Self-Instruct rounds, Evol-Instruct
 * epochs): a {@value #STATE} file with the hash of the configuration that decides the output, and per
 * stage folder a {@value #DONE} file written last and atomically, so a stage folder without it is an
 * unfinished stage to run again.
 */
public final class StageState {
  private StageState() {}

  /** The configuration file beside the stage folders. */
  public static final String STATE = "state.json";
  /** A finished stage's record. */
  public static final String DONE = "done.json";

  /**
   * What {@value #STATE} holds: the hash, the settings in words for a person, and the model's identity
   * (null in state files from before issue 21, and for stages without a model).
   */
  record RunState(String configHash, Map<String, Object> settings, String model) {}

  /** The stage folder {@code <prefix>-NNNN} under {@code dir}. */
  public static Path stageDir(Path dir, String prefix, int stage) {
    return dir.resolve(String.format(Locale.ROOT, "%s-%04d", prefix, stage));
  }

  /** Hex SHA-256 of a configuration map's canonical JSON. */
  public static String hash(Map<String, Object> config) {
    return Ids.sha256Hex(Json.line(new java.util.TreeMap<>(config)).getBytes(StandardCharsets.UTF_8));
  }

  /**
   * Records the configuration hash in {@code dir}, or checks it against the one there.
   *
   * @throws IllegalStateException when {@code dir} holds stages of a run with another configuration
   */
  public static void claim(Path dir, String hash, Map<String, Object> settings, String what) throws IOException {
    claim(dir, hash, settings, what, null);
  }

  /**
   * Records the configuration hash and the model identity in {@code dir}, or checks them against the
   * ones there; a changed model identity (see {@code LanguageModel.identity}) is named as the reason.
   *
   * @throws IllegalStateException when {@code dir} holds stages of a run with another configuration
   */
  public static void claim(Path dir, String hash, Map<String, Object> settings, String what, String model)
      throws IOException {
    Files.createDirectories(dir);
    Path state = dir.resolve(STATE);
    if (!Files.isRegularFile(state)) {
      // claimed atomically: the state file appears whole, and only the first of two claims creates it
      Path tmp = Files.createTempFile(dir, STATE, ".tmp");
      try {
        Files.writeString(tmp, Json.pretty(new RunState(hash, settings, model)) + "\n", StandardCharsets.UTF_8);
        Files.createLink(state, tmp);
      } catch (java.nio.file.FileAlreadyExistsException lost) {
        // another run claimed it first: checked below like any earlier claim
      } finally {
        Files.deleteIfExists(tmp);
      }
    }
    RunState s = Json.mapper().readValue(state.toFile(), RunState.class);
    if (!s.configHash().equals(hash) && model != null && s.model() != null && !s.model().equals(model)) {
      throw new MismatchException(String.format(
          "%s holds %s of a run made with another model: it was %s, now it is %s (the model file, the llama.cpp "
              + "build, the backend or GPU layers, or the endpoint or what its server reports for the model changed); "
              + "a resumed run must use the same model: use another --out, or delete %s to start over",
          dir.getParent(), dir.getFileName(), s.model(), model, dir));
    }
    if (!s.configHash().equals(hash)) {
      throw new MismatchException(String.format(
          "%s holds %s of a run with another configuration (%s); use another --out, or delete %s to start over",
          dir.getParent(), dir.getFileName(), what, dir));
    }
  }

  /** The finished stage's record, or null when the stage did not finish. */
  public static <T> T done(Path stageDir, Class<T> type) throws IOException {
    Path f = stageDir.resolve(DONE);
    return Files.isRegularFile(f) ? Json.mapper().readValue(f.toFile(), type) : null;
  }

  /** Marks a stage finished (last, atomically). */
  public static void finish(Path stageDir, Object record) throws IOException {
    writeAtomically(stageDir.resolve(DONE), Json.pretty(record) + "\n");
  }

  /** Marks a stage unfinished before it runs again. */
  public static void reopen(Path stageDir) throws IOException {
    Files.deleteIfExists(stageDir.resolve(DONE));
  }

  private static void writeAtomically(Path target, String text) throws IOException {
    Path tmp = Files.createTempFile(target.getParent(), target.getFileName().toString(), ".tmp");
    Files.writeString(tmp, text, StandardCharsets.UTF_8);
    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  /**
   * OUT holds the rounds or epochs of a run with another configuration or model, so this run cannot
   * resume them: found before anything runs, a usage error on the command line (exit status 2).
   */
  public static final class MismatchException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public MismatchException(String message) {
      super(message);
    }
  }
}
