package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.RunReport;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.io.InputShape;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.beam.sdk.PipelineResult;
import picocli.CommandLine;

/**
 * Consecutive recipe stages run as one Beam pipeline (a fused run, issue 20; docs/recipes.md).
 *
 * <p>A stage joins the stage before it when it reads that stage's output and nothing else, both commands
 * are {@link Fusible}, the one before hands its kept records on inside the pipeline (it does not decide
 * in an ordered pass after it), and no command appears twice in the group (their counters would add up).
 * The group's stages each keep their own output folder, summary and resume state; the pipeline runs once;
 * then each stage finishes in order (its ordered pass, publishing, its summary), and a stage reads what
 * the one before published only to check that it named the same shards. The bytes are those of the
 * stages run one after the other ({@link io.instructflow.pipelines.io.HandOff}).
 */
final class FusedStages {
  private FusedStages() {}

  /**
   * One stage of a fused run.
   *
   * @param index its place in the recipe
   * @param stage the recipe stage
   * @param args its command line
   * @param command its command
   * @param config the command's configuration
   */
  record Member(int index, Recipe.Stage stage, List<String> args, Fusible<Object> command, Object config) {}

  /** Whether a stage reads records of ours as it would read them from a published output. */
  static boolean readsOurRecords(ReadOptions read) {
    return read.format() == null || read.format() == InputShape.INSTRUCTFLOW;
  }

  /**
   * The stages from {@code first} on that run as one pipeline, or an empty list when {@code first} fuses
   * with nothing (it then runs alone, configured once, as its command). The group ends with the first
   * stage that does not hand on, and before a stage that is skipped ({@code when}), reads anything else,
   * repeats a command of the group, reads other records than ours, or does not configure (run alone, it
   * then fails as its command does, after the stages before it ran).
   */
  static List<Member> group(Recipe recipe, int first, List<List<String>> commandLines) {
    List<Member> group = new ArrayList<>();
    // first by the recipe alone, so that a stage that fuses with nothing is not configured an extra time
    int last = first;
    Set<String> types = new HashSet<>();
    if (fusible(recipe.stages().get(first))) {
      types.add(recipe.stages().get(first).type().type());
      while (last + 1 < recipe.stages().size() && joins(recipe, last + 1, types)) {
        last++;
      }
    }
    if (last == first) {
      return group;
    }
    for (int j = first; j <= last; j++) {
      Member m = member(recipe, j, commandLines.get(j));
      if (m == null || j > first && !readsOurRecords(m.command().read(m.config()))) {
        break;
      }
      group.add(m);
      if (!m.command().handsOnInPipeline(m.config())) {
        break;
      }
    }
    return group.size() > 1 ? group : List.of();
  }

  /** Whether the stage's command can take part in a fused run at all. */
  private static boolean fusible(Recipe.Stage s) {
    return s.type().command().get() instanceof Fusible<?>;
  }

  /**
   * Whether stage {@code j}, by the recipe, can join the group of the stage before it: it runs, it reads
   * that stage's output itself and nothing else (an @/PATH under its folder may name part of it, or
   * filtered/), its command is fusible and not yet in the group ({@code types}, which it joins).
   */
  private static boolean joins(Recipe recipe, int j, Set<String> types) {
    Recipe.Stage s = recipe.stages().get(j);
    Recipe.Stage previous = recipe.stages().get(j - 1);
    boolean readsPrevious = s.in().isEmpty() || s.in().equals(List.of("@" + previous.name()));
    return s.skip() == null && readsPrevious && s.upstream(previous).equals(List.of(previous.name())) && fusible(s)
        && types.add(s.type().type());
  }

  /** The stage's command, parsed from its command line and configured; null when it is not fusible or does not configure. */
  @SuppressWarnings("unchecked")
  private static Member member(Recipe recipe, int index, List<String> args) {
    CommandLine cl = new CommandLine(new Main());
    CommandHelp.attach(cl);
    Object command;
    try {
      command = cl.parseArgs(args.toArray(String[]::new)).subcommand().commandSpec().userObject();
    } catch (CommandLine.ParameterException e) {
      return null;
    }
    if (!(command instanceof Fusible<?> f) || !(command instanceof PipelineCommand<?> pc)) {
      return null;
    }
    Object config;
    try {
      config = pc.configure();
    } catch (Exception e) {
      // run alone, the stage fails as its command does, after the stages before it ran
      return null;
    }
    return new Member(index, recipe.stages().get(index), args, (Fusible<Object>) f, config);
  }

  /** Hears of each member as it ends, so that the recipe records it at once (its resume state). */
  interface Finished {
    /**
     * @param member the member
     * @param code its exit status, or null when it did not finish because the pipeline or a member before
     *     it failed (its output folder stays without its completion marker)
     */
    void member(Member member, Integer code) throws IOException;
  }

  /**
   * Builds every member into one pipeline, runs it, and finishes the members in order, telling
   * {@code finished} of each as it ends. Returns false, having run nothing, when a member cannot be built
   * into the shared pipeline (its output locked by another process, say): the caller then runs the stages
   * one by one, where the same problem is reported as that stage's own, after the stages before it ran.
   */
  static boolean run(List<Member> group, Recipe recipe, PrintStream console, Finished finished) throws IOException {
    io.instructflow.pipelines.runtime.Storage.pinRegion();
    PrintWriter err = new PrintWriter(System.err, true);
    List<PipelineRun.Part> parts = new ArrayList<>();
    for (int k = 0; k < group.size(); k++) {
      Member m = group.get(k);
      RunReport.inRecipe(Map.of("name", recipe.name(), "hash", recipe.hash(), "stage", m.stage().name()));
      try {
        PipelineRun after = k == 0 ? null : parts.get(k - 1).run();
        parts.add(m.command().plan(m.config(), new PipelineRun.Fusion(after, k < group.size() - 1)));
      } catch (Exception e) {
        console.printf(Locale.ROOT, "run: stage %s cannot join the fused pipeline (%s); running the stages one by one%n",
            m.stage().name(), e.getMessage());
        return false;
      } finally {
        RunReport.inRecipe(null);
      }
    }
    List<String> names = new ArrayList<>();
    group.forEach(m -> names.add(m.stage().name()));
    PipelineResult result;
    try {
      result = PipelineRun.executeFused(parts, String.join("+", names), console);
    } catch (Exception e) {
      int code = Main.failed(e, err);
      console.printf(Locale.ROOT, "run: the fused pipeline of %s failed (exit status %d); none of them finished%n",
          String.join(", ", names), code);
      finished.member(group.get(0), code);
      for (int k = 1; k < group.size(); k++) {
        finished.member(group.get(k), null);
      }
      return true;
    }
    boolean failed = false;
    for (int k = 0; k < group.size(); k++) {
      if (failed) {
        finished.member(group.get(k), null);
        continue;
      }
      PipelineRun.Part part = parts.get(k);
      int code;
      try {
        part.run().readFrom();
        RunSummary s = part.finish().after(result);
        code = RunReport.exitCode(s);
      } catch (Exception e) {
        code = Main.failed(e, err);
      }
      finished.member(group.get(k), code);
      failed = code != 0;
    }
    return true;
  }
}
