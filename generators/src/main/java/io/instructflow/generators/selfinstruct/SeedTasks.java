package io.instructflow.generators.selfinstruct;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RejectReason;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Reads a seed pool from JSON lines: the Self-Instruct seed file's shape ({@code instruction},
 * {@code instances: [{input, output}]}, {@code is_classification}, optional {@code id} or {@code name})
 * or a plain instruction record ({@code instruction} with optional {@code input} and {@code output}).
 * A line that is not such an object becomes a {@link Problem} with its line and reason, never an
 * exception and never a silent skip; blank lines are counted and skipped.
 */
public final class SeedTasks {
  private SeedTasks() {}

  /**
   * A seed line that could not be used.
   *
   * @param location {@code <file name>:<line>}
   * @param reason why ({@code invalid_json}, {@code not_an_object}, {@code missing_field} or
   *     {@code wrong_type})
   * @param message what was wrong
   * @param raw the line as read
   */
  public record Problem(String location, RejectReason reason, String message, String raw) {}

  /**
   * What a seed file held.
   *
   * @param tasks the usable tasks, in file order
   * @param problems the unusable lines, in file order
   * @param blankLines blank lines skipped
   * @param unlabeled how many of the tasks have no {@code is_classification} (they count as not
   *     classification; see {@link SelfInstructGenerator#classificationWarning})
   */
  public record Result(List<SeedTask> tasks, List<Problem> problems, long blankLines, int unlabeled) {
    public Result {
      tasks = List.copyOf(tasks);
      problems = List.copyOf(problems);
    }

    /** Lines read (blank lines aside). */
    public long read() {
      return tasks.size() + problems.size();
    }
  }

  /** Reads the file. */
  public static Result read(Path file) throws IOException {
    Objects.requireNonNull(file, "file");
    String name = file.getFileName().toString();
    List<SeedTask> tasks = new ArrayList<>();
    List<Problem> problems = new ArrayList<>();
    long blank = 0;
    int unlabeled = 0;
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int no = 0;
      while ((line = in.readLine()) != null) {
        no++;
        if (line.isBlank()) {
          blank++;
          continue;
        }
        String location = name + ":" + no;
        try {
          Parsed p = parseLine(line, location);
          tasks.add(p.task());
          unlabeled += p.labeled() ? 0 : 1;
        } catch (BadSeed e) {
          problems.add(new Problem(location, e.reason, e.getMessage(), line));
        }
      }
    }
    return new Result(tasks, problems, blank, unlabeled);
  }

  private static final class BadSeed extends Exception {
    private static final long serialVersionUID = 1L;
    final RejectReason reason;

    BadSeed(RejectReason reason, String message) {
      super(message);
      this.reason = reason;
    }
  }

  /** A parsed line: the task, and whether it said whether it is a classification task. */
  private record Parsed(SeedTask task, boolean labeled) {}

  static SeedTask parse(String line, String location) throws BadSeed {
    return parseLine(line, location).task();
  }

  private static Parsed parseLine(String line, String location) throws BadSeed {
    JsonNode n;
    try {
      n = Json.mapper().readTree(line);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new BadSeed(RejectReason.INVALID_JSON, "not valid JSON: " + e.getOriginalMessage());
    }
    if (n == null || !n.isObject()) {
      throw new BadSeed(RejectReason.NOT_AN_OBJECT, "a seed task must be a JSON object");
    }
    JsonNode inst = n.get("instruction");
    if (inst == null || inst.isNull()) {
      throw new BadSeed(RejectReason.MISSING_FIELD, "no 'instruction'");
    }
    if (!inst.isTextual() || inst.asText().isBlank()) {
      throw new BadSeed(RejectReason.WRONG_TYPE, "'instruction' must be a non-blank string");
    }
    List<SeedTask.Instance> instances = new ArrayList<>();
    JsonNode arr = n.get("instances");
    if (arr != null && !arr.isNull()) {
      if (!arr.isArray()) {
        throw new BadSeed(RejectReason.WRONG_TYPE, "'instances' must be an array");
      }
      for (JsonNode i : arr) {
        instances.add(instance(i.get("input"), i.get("output"), "'instances' items"));
      }
    } else if (n.hasNonNull("output")) {
      instances.add(instance(n.get("input"), n.get("output"), "the record"));
    }
    boolean clf = false;
    JsonNode c = n.get("is_classification");
    if (c != null && !c.isNull()) {
      if (!c.isBoolean()) {
        throw new BadSeed(RejectReason.WRONG_TYPE, "'is_classification' must be true or false");
      }
      clf = c.asBoolean();
    }
    String rowId = location;
    for (String key : List.of("id", "name")) {
      if (n.hasNonNull(key) && n.get(key).isValueNode()) {
        rowId = n.get(key).asText();
        break;
      }
    }
    return new Parsed(new SeedTask(rowId, inst.asText(), instances, clf, location), c != null && !c.isNull());
  }

  private static SeedTask.Instance instance(JsonNode input, JsonNode output, String where) throws BadSeed {
    if (output == null || !output.isTextual()) {
      throw new BadSeed(RejectReason.WRONG_TYPE, where + " need a string 'output'");
    }
    if (input != null && !input.isNull() && !input.isTextual()) {
      throw new BadSeed(RejectReason.WRONG_TYPE, where + ": 'input' must be a string");
    }
    return new SeedTask.Instance(input == null || input.isNull() ? "" : input.asText(), output.asText());
  }
}
