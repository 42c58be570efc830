package io.instructflow.generators.prompt;

import io.instructflow.schemas.Ids;
import io.instructflow.schemas.PromptRef;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A versioned prompt template: text with {@code {{name}}} placeholders, identified by an id such as
 * {@code self-instruct/instructions@1} and by the SHA-256 of the text actually used.
 *
 * <p>Built-in templates are resources of this module; a user overrides one by putting a file named
 * {@code <id>.txt} (e.g. {@code self-instruct/instructions@1.txt}) in a templates folder. The id stays,
 * the hash changes, and both go into every record's provenance, so an override is always visible.
 * Rendering fails on a placeholder without a value and on a value without a placeholder, so a broken
 * override fails at the start of a run, not silently in the data.
 *
 * @param id template id, {@code <family>/<name>@<version>}
 * @param text the template text
 * @param source where the text came from ({@code builtin} or the override file's path)
 */
public record PromptTemplate(String id, String text, String source) implements Serializable {
  private static final long serialVersionUID = 1L;
  private static final Pattern ID = Pattern.compile("[a-z0-9-]+/[a-z0-9-]+@[0-9]+");
  private static final Pattern PLACEHOLDER = Pattern.compile("\\{\\{([a-z_]+)}}");

  public PromptTemplate {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(text, "text");
    Objects.requireNonNull(source, "source");
    if (!ID.matcher(id).matches()) {
      throw new IllegalArgumentException("template id must look like family/name@1, got '" + id + "'");
    }
  }

  /**
   * The built-in template {@code id}, or the file {@code <id>.txt} under {@code overrides} when that
   * folder is given and has one.
   *
   * @throws IllegalArgumentException when there is no such built-in template
   */
  public static PromptTemplate load(String id, Path overrides) throws IOException {
    if (overrides != null) {
      Path p = overrides.resolve(id + ".txt");
      if (Files.isRegularFile(p)) {
        return new PromptTemplate(id, Files.readString(p, StandardCharsets.UTF_8), p.toString());
      }
    }
    String resource = "/io/instructflow/generators/templates/" + id + ".txt";
    try (InputStream in = PromptTemplate.class.getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalArgumentException("no built-in prompt template '" + id + "'");
      }
      return new PromptTemplate(id, new String(in.readAllBytes(), StandardCharsets.UTF_8), "builtin");
    }
  }

  /** Hex SHA-256 of the text. */
  public String hash() {
    return Ids.sha256Hex(text.getBytes(StandardCharsets.UTF_8));
  }

  /** The provenance reference: id and hash. */
  public PromptRef ref() {
    return new PromptRef(id, hash());
  }

  /** The placeholder names, in order of first use. */
  public Set<String> placeholders() {
    Set<String> names = new LinkedHashSet<>();
    Matcher m = PLACEHOLDER.matcher(text);
    while (m.find()) {
      names.add(m.group(1));
    }
    return names;
  }

  /**
   * Checks that the template uses exactly the placeholders {@code names}.
   *
   * @throws IllegalArgumentException naming the missing or unknown placeholders
   */
  public PromptTemplate requirePlaceholders(Set<String> names) {
    Set<String> used = placeholders();
    if (!used.equals(names)) {
      throw new IllegalArgumentException(String.format(
          "prompt template %s (%s) must use exactly the placeholders %s, it uses %s", id, source, new java.util.TreeSet<>(names),
          new java.util.TreeSet<>(used)));
    }
    return this;
  }

  /** The text with every {@code {{name}}} replaced by {@code values.get(name)}. */
  public String render(Map<String, String> values) {
    Matcher m = PLACEHOLDER.matcher(text);
    StringBuilder out = new StringBuilder(text.length() + 256);
    int last = 0;
    while (m.find()) {
      String v = values.get(m.group(1));
      if (v == null) {
        throw new IllegalArgumentException("prompt template " + id + ": no value for {{" + m.group(1) + "}}");
      }
      out.append(text, last, m.start()).append(v);
      last = m.end();
    }
    return out.append(text, last, text.length()).toString();
  }
}
