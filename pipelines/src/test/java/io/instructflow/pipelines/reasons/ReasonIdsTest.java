package io.instructflow.pipelines.reasons;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.filters.dedup.ExactDedup;
import io.instructflow.filters.dedup.MinHashComponents;
import io.instructflow.filters.dedup.MinHashDedup;
import io.instructflow.filters.dedup.SemanticComponents;
import io.instructflow.filters.dedup.SemanticDedup;
import io.instructflow.filters.evol.EvolRules;
import io.instructflow.filters.instruction.InstructionRules;
import io.instructflow.filters.judge.JudgeRule;
import io.instructflow.filters.quality.CodeFenceFilter;
import io.instructflow.filters.quality.DecontaminationFilter;
import io.instructflow.filters.quality.EchoFilter;
import io.instructflow.filters.quality.KeywordFilter;
import io.instructflow.filters.quality.LanguageFilter;
import io.instructflow.filters.quality.LengthFilter;
import io.instructflow.filters.quality.PiiFilter;
import io.instructflow.filters.quality.RefusalFilter;
import io.instructflow.filters.quality.RepetitionFilter;
import io.instructflow.filters.quality.ScoreRangeFilter;
import io.instructflow.filters.quality.SymbolFilter;
import io.instructflow.filters.rouge.RougeGate;
import io.instructflow.generators.evol.Evol;
import io.instructflow.generators.pairs.Binarize;
import io.instructflow.generators.pairs.PairJudge;
import io.instructflow.generators.selfinstruct.InstanceRules;
import io.instructflow.generators.selfinstruct.SelfInstructReasons;
import io.instructflow.pipelines.blend.BlendPipeline;
import io.instructflow.pipelines.select.SelectPipeline;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Reason ids are stored in every {@code filtered/} record and never change (issue 20): each has one
 * constant, in the class that owns its rule, and the rest of the code refers to that constant. This
 * lists every reason constant and checks that the ids are unique, well formed, written once in the
 * sources, and documented in README.md or docs/*.md (the reason tables are in docs/commands.md).
 */
class ReasonIdsTest {
  /** Every class that declares reasons. A new owner goes here; {@link #theOwnersAreAllTheDeclarers} says so. */
  static final List<Class<?>> OWNERS = List.of(
      // filters
      CodeFenceFilter.class, DecontaminationFilter.class, EchoFilter.class, KeywordFilter.class, LanguageFilter.class,
      LengthFilter.class, PiiFilter.class, RefusalFilter.class, RepetitionFilter.class, ScoreRangeFilter.class,
      SymbolFilter.class, ExactDedup.class, MinHashDedup.class, MinHashComponents.class, SemanticDedup.class,
      SemanticComponents.class, InstructionRules.class, JudgeRule.class, EvolRules.class, RougeGate.class,
      // generators
      SelfInstructReasons.class, InstanceRules.class, Evol.class, PairJudge.class, Binarize.class,
      // pipelines
      SelectPipeline.class, BlendPipeline.class, io.instructflow.pipelines.blend.TagQuotas.class);

  /** {@code filter.reason}, both lower_snake_case. */
  static final Pattern ID = Pattern.compile("[a-z][a-z0-9_]*\\.[a-z][a-z0-9_]*");

  /** Constants with an id's shape that are not reasons: provenance step names and file names. */
  static boolean notAReason(String field, String value) {
    return field.startsWith("STEP") || value.matches(".*\\.(json|jsonl|html|md|txt)");
  }

  /** Every reason constant: id to {@code Class.FIELD}, each id once. */
  static Map<String, List<String>> reasonConstants() throws IllegalAccessException {
    Map<String, List<String>> out = new TreeMap<>();
    for (Class<?> owner : OWNERS) {
      for (Field f : owner.getDeclaredFields()) {
        int m = f.getModifiers();
        if (Modifier.isPublic(m) && Modifier.isStatic(m) && Modifier.isFinal(m) && f.getType() == String.class) {
          String value = (String) f.get(null);
          if (value.contains(".") && !notAReason(f.getName(), value)) {
            out.computeIfAbsent(value, k -> new ArrayList<>()).add(owner.getSimpleName() + "." + f.getName());
          }
        }
      }
    }
    return out;
  }

  /** The repository root: the folder above the module that holds README.md. */
  static Path root() {
    Path p = Path.of("").toAbsolutePath();
    while (p != null && !(Files.exists(p.resolve("README.md")) && Files.isDirectory(p.resolve("filters")))) {
      p = p.getParent();
    }
    assertTrue(p != null, "no repository root above " + Path.of("").toAbsolutePath());
    return p;
  }

  /** The main Java sources of the modules that write reasons, by path relative to the root. */
  static Map<String, String> sources() throws IOException {
    Map<String, String> out = new TreeMap<>();
    Path root = root();
    for (String module : List.of("schemas", "filters", "generators", "pipelines")) {
      try (Stream<Path> s = Files.walk(root.resolve(module).resolve("src/main/java"))) {
        for (Path f : s.filter(x -> x.toString().endsWith(".java")).toList()) {
          out.put(root.relativize(f).toString(), Files.readString(f, StandardCharsets.UTF_8));
        }
      }
    }
    return out;
  }

  @Test
  void everyReasonIdHasOneConstantAndTheRightShape() throws Exception {
    Map<String, List<String>> reasons = reasonConstants();
    assertTrue(reasons.size() >= 70, "found only " + reasons.keySet());
    Map<String, List<String>> twice = new TreeMap<>();
    reasons.forEach((id, where) -> {
      if (where.size() > 1) {
        twice.put(id, where);
      }
    });
    assertEquals(Map.of(), twice, "reason ids declared more than once");
    for (String id : reasons.keySet()) {
      assertTrue(ID.matcher(id).matches(), id + " is not filter.reason in lower_snake_case");
    }
    assertEquals(List.of("RougeGate.REASON"), reasons.get("rouge_l.near_duplicate"));
    assertEquals(List.of("InstanceRules.NONE_PARSED"), reasons.get("instances.none_parsed"));
  }

  /** Scans the sources: a reason constant outside {@link #OWNERS} would be a second home or an unlisted one. */
  @Test
  void theOwnersAreAllTheDeclarers() throws Exception {
    Pattern constant = Pattern.compile("static final String (\\w+) =\\s*\"(" + ID.pattern() + ")\";");
    Map<String, String> declared = new TreeMap<>();
    for (Map.Entry<String, String> f : sources().entrySet()) {
      Matcher m = constant.matcher(f.getValue());
      while (m.find()) {
        if (!notAReason(m.group(1), m.group(2))) {
          declared.merge(m.group(2), f.getKey(), (a, b) -> a + ", " + b);
        }
      }
    }
    assertEquals(reasonConstants().keySet(), declared.keySet(), "declared: " + declared);
  }

  /** Each id's string literal appears once in all the main sources: in its constant. */
  @Test
  void eachReasonIdIsWrittenOnceInTheSources() throws Exception {
    Set<String> ids = reasonConstants().keySet();
    Map<String, List<String>> seen = new TreeMap<>();
    Pattern literal = Pattern.compile("\"(" + ID.pattern() + ")\"");
    for (Map.Entry<String, String> f : sources().entrySet()) {
      Matcher m = literal.matcher(f.getValue());
      while (m.find()) {
        if (ids.contains(m.group(1))) {
          seen.computeIfAbsent(m.group(1), k -> new ArrayList<>()).add(f.getKey());
        }
      }
    }
    Map<String, List<String>> repeated = new TreeMap<>();
    seen.forEach((id, files) -> {
      if (files.size() > 1) {
        repeated.put(id, files);
      }
    });
    assertEquals(Map.of(), repeated, "reason ids written as literals in more than one place");
    assertEquals(ids, seen.keySet());
  }

  /** The documentation: README.md and every Markdown file in docs/, by path relative to the root. */
  static Map<String, String> docs() throws IOException {
    Map<String, String> out = new TreeMap<>();
    Path root = root();
    out.put("README.md", Files.readString(root.resolve("README.md"), StandardCharsets.UTF_8));
    try (Stream<Path> s = Files.list(root.resolve("docs"))) {
      for (Path f : s.filter(x -> x.toString().endsWith(".md")).toList()) {
        out.put(root.relativize(f).toString(), Files.readString(f, StandardCharsets.UTF_8));
      }
    }
    return out;
  }

  /**
   * The ids the documentation names: each {@code filter.reason} a file mentions, and each {@code `.reason`}
   * it abbreviates after a full id in the same file ({@code `length.too_few_words`, `.too_many_words`}).
   */
  static Set<String> documented() throws IOException {
    Set<String> out = new TreeSet<>();
    Pattern named = Pattern.compile("`(\\.[a-z][a-z0-9_]*)`|\\b([a-z][a-z0-9_]*)\\.([a-z][a-z0-9_]*)\\b");
    for (String text : docs().values()) {
      Matcher m = named.matcher(text);
      String filter = null;
      while (m.find()) {
        if (m.group(2) != null) {
          filter = m.group(2);
          out.add(filter + "." + m.group(3));
        } else if (filter != null) {
          out.add(filter + m.group(1));
        }
      }
    }
    return out;
  }

  @Test
  void everyReasonIsDocumented() throws Exception {
    Set<String> missing = new TreeSet<>(reasonConstants().keySet());
    missing.removeAll(documented());
    assertEquals(Set.of(), missing, "reason ids neither README.md nor docs/*.md names");
  }

  /** The reason tables moved from README.md to docs/commands.md: the check must read the docs, not only README. */
  @Test
  void theDocsAreRead() throws Exception {
    assertTrue(docs().containsKey("docs/commands.md"), docs().keySet().toString());
    assertTrue(documented().contains("rouge_l.near_duplicate"));
  }
}
