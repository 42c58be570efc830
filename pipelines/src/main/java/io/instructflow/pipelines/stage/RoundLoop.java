package io.instructflow.pipelines.stage;

import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.WriteOrdered;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.RunReport;
import io.instructflow.pipelines.runtime.StageState;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.function.BiPredicate;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;

/**
 * The driver of a generator that works in rounds (Self-Instruct rounds, Evol-Instruct epochs), each
 * round one Beam pipeline whose input is what the rounds before it left. It is a boundary of the stage
 * model, not a transform: every round's output is written, finished, and resumable.
 *
 * <p>The folder layout, under the command's {@code OUT}: {@code OUT/<noun>s/state.json} (the hash of the
 * settings that decide the output, see {@link StageState}), and per round {@code OUT/<noun>s/<noun>-NNNN/}
 * with the round's {@code data/}, {@code filtered/} and {@code rejects/} shards, whatever else the round
 * keeps there, and {@code done.json}, the round's record, written last and atomically. A round folder
 * without {@code done.json} is an unfinished round: it is reopened and run again from the start.
 *
 * <p>The rules:
 * <ul>
 *   <li><b>claim</b>: {@link #claim} locks {@code OUT} against a second live run, then records the hash
 *       of the deciding settings, or refuses ({@link StageState.MismatchException}) when the rounds there
 *       were made with other ones, before anything is deleted; a claim that holds empties {@code OUT}'s
 *       final folders of an earlier run (the rounds stay);</li>
 *   <li><b>resume</b>: {@link #run} first takes back the finished rounds, from the first one on, up to the
 *       first round without {@code done.json}: they are not run again, and later rounds start from what
 *       they left;</li>
 *   <li><b>go on</b>: then it runs round after round while the round function {@linkplain Round#wanted
 *       wants} more and the last round is not reached; a round's {@code done.json} is removed before the
 *       round runs and written after its pipeline finished and its files are published, so a kill at
 *       any point leaves the round unfinished;</li>
 *   <li><b>stop after</b>: with {@link #withStopAfter} {@code n > 0} it does not run rounds after round
 *       {@code n}, as if killed there (for resume tests); a later run continues;</li>
 *   <li><b>assemble</b>: {@link #assemble} concatenates the rounds' shards into {@code OUT}'s folders in
 *       round order, round 0 first.</li>
 * </ul>
 * Round 0 is the input: either a round that reads it ({@link #withInputRound}, resumable like the others
 * and never subject to stop-after) or a folder the command writes itself before the loop (Self-Instruct's
 * bad seed lines).
 *
 * <pre>{@code
 * RoundLoop<Done> loop = RoundLoop.of("evol", "epoch", Paths.get(out), Done.class, epochs).withInputRound();
 * OutputLayout layout = loop.claim(params, templates, identity, settings, "input, model or settings");
 * RoundLoop.Outcome<Done> o = loop.run(epochsOfThisRun, report, console);
 * loop.assemble(layout, o.last(), (k, kind) -> true, shardSize);
 * }</pre>
 *
 * @param <D> the record a finished round writes into its {@code done.json} (read back with Jackson)
 */
public final class RoundLoop<D> {
  private final String command;
  private final String noun;
  private final Path out;
  private final Class<D> doneType;
  private final int first;
  private final int last;
  private final int stopAfter;

  private RoundLoop(String command, String noun, Path out, Class<D> doneType, int first, int last, int stopAfter) {
    this.command = Objects.requireNonNull(command, "command");
    this.noun = Objects.requireNonNull(noun, "noun");
    this.out = Objects.requireNonNull(out, "out");
    this.doneType = Objects.requireNonNull(doneType, "doneType");
    if (!noun.matches("[a-z]+")) {
      throw new IllegalArgumentException("a round's noun is lowercase letters (it names folders), got '" + noun + "'");
    }
    if (last < 1) {
      throw new IllegalArgumentException("the last " + noun + " must be positive, got " + last);
    }
    if (stopAfter < 0) {
      throw new IllegalArgumentException("stop after " + noun + " must be 0 (never) or positive, got " + stopAfter);
    }
    this.first = first;
    this.last = last;
    this.stopAfter = stopAfter;
  }

  /**
   * Rounds 1 to {@code last} of {@code command} (the name its console lines start with), in
   * {@code out/<noun>s/<noun>-NNNN/}; finished rounds record a {@code doneType}.
   */
  public static <D> RoundLoop<D> of(String command, String noun, Path out, Class<D> doneType, int last) {
    return new RoundLoop<>(command, noun, out, doneType, 1, last, 0);
  }

  /** A copy whose round 0 reads the input through the round function, resumable like the other rounds. */
  public RoundLoop<D> withInputRound() {
    return new RoundLoop<>(command, noun, out, doneType, 0, last, stopAfter);
  }

  /** A copy that runs no round after round {@code n} (as if killed there), 0 for never. */
  public RoundLoop<D> withStopAfter(int n) {
    return new RoundLoop<>(command, noun, out, doneType, first, last, n);
  }

  /**
   * One round's work, given to {@link #run}. The loop prepares nothing in the round's folder but its
   * {@code done.json}: {@link #run(int, Path)} writes the round's outputs there (replacing what an
   * unfinished earlier attempt left) and returns the record the loop then writes as {@code done.json}.
   */
  public interface Round<D> {
    /**
     * Runs round {@code round} into {@code dir} (one Beam pipeline) and returns its record. Called only
     * for a round that is not finished; {@code done.json} is already gone.
     */
    D run(int round, Path dir) throws IOException;

    /**
     * Takes in a finished round, in round order: every round this run takes back ({@code resumed}) and
     * every round it ran, so that the next round starts from what this one left.
     */
    void finished(int round, Path dir, D done, boolean resumed) throws IOException;

    /** Whether another round should run after the finished ones (for example: the target is not reached). */
    default boolean wanted() {
      return true;
    }

    /** Words appended to the console's "continuing after" line, for example the pool size; empty by default. */
    default String progress() {
      return "";
    }
  }

  /**
   * What the rounds of a run came to.
   *
   * @param finished the records of the finished rounds, first round first (resumed and run alike)
   * @param last the number of the last finished round (0 when none finished)
   * @param stopped whether the run stopped early because of {@link #withStopAfter}
   */
  public record Outcome<D>(List<D> finished, int last, boolean stopped) {
    public Outcome {
      finished = List.copyOf(finished);
    }
  }

  /** The folder the round folders and {@code state.json} are in: {@code OUT/<noun>s}. */
  public Path folder() {
    return out.resolve(noun + "s");
  }

  /** Round {@code round}'s folder, {@code OUT/<noun>s/<noun>-NNNN}. */
  public Path dir(int round) {
    return StageState.stageDir(folder(), noun, round);
  }

  /** Round {@code round}'s output folders. */
  public OutputLayout layout(int round) {
    return new OutputLayout(dir(round).toString());
  }

  /** The output folders of rounds 0 to {@code through}, in round order. */
  public List<OutputLayout> layouts(int through) {
    List<OutputLayout> l = new ArrayList<>();
    for (int k = 0; k <= through; k++) {
      l.add(layout(k));
    }
    return l;
  }

  /**
   * Claims {@code OUT} for this run and returns its layout, emptied of an earlier run's final outputs.
   * Locks {@code OUT} against a concurrent run, then records in {@code state.json} the hash of what
   * decides the rounds' output, however far the run goes: {@code params} (the generator's settings and
   * the input's content), the hashes of the prompt {@code templates} (key {@code templates}) and the
   * model's full identity (key {@code model}, issue 21: file, llama.cpp build, backend, GPU layers; or
   * endpoint and what its server reports); with {@code settings} in words for a person. Or checks them
   * against the ones there: a resumed run with other ones is refused.
   *
   * @param what the deciding settings in words, for the refusal ("seeds, model or templates")
   * @param model the model's identity ({@code ModelSpec.identity}), or null for rounds without a model
   * @throws StageState.MismatchException when {@code OUT} holds rounds made with other params, templates
   *     or another model (the message names a changed model): nothing was deleted
   */
  public OutputLayout claim(Map<String, Object> params, Map<String, PromptTemplate> templates, String model,
      Map<String, Object> settings, String what) throws IOException {
    OutputLayout layout = new OutputLayout(out.toString());
    layout.lock(command);
    Files.createDirectories(folder());
    StageState.claim(folder(), StageState.hash(claimed(params, templates, model)), settings, what, model);
    layout.prepare();
    return layout;
  }

  /** The map {@link #claim} hashes: {@code params} with the templates' hashes and the model's identity. */
  static Map<String, Object> claimed(Map<String, Object> params, Map<String, PromptTemplate> templates, String model) {
    Map<String, Object> m = new TreeMap<>(params);
    Map<String, String> t = new TreeMap<>();
    templates.forEach((id, tpl) -> t.put(id, tpl.hash()));
    m.put("templates", t);
    m.put("model", model);
    return m;
  }

  /**
   * Takes back the finished rounds, then runs rounds while {@code round} wants them, up to the last round
   * or the stop-after round. Each round run is timed into {@code report} as {@code "<noun> k"} (the input
   * round as {@code "<noun> 0 (read)"}); the console says where the run continues and where it stopped.
   */
  public Outcome<D> run(Round<D> round, RunReport report, PrintStream console) throws IOException {
    List<D> finished = new ArrayList<>();
    int k = first;
    for (; k <= last; k++) {
      D d = StageState.done(dir(k), doneType);
      if (d == null) {
        break;
      }
      round.finished(k, dir(k), d, true);
      finished.add(d);
    }
    // "continuing" is said when rounds of generation were taken back, not the input round alone
    boolean resumed = k - 1 >= 1;
    boolean stopped = false;
    for (; k <= last && round.wanted(); k++) {
      if (stopAfter > 0 && k > stopAfter) {
        console.printf(Locale.ROOT, "%s: stopped after %s %d as asked; rerun to continue%n", command, noun, stopAfter);
        stopped = true;
        break;
      }
      if (resumed) {
        console.printf(Locale.ROOT, "%s: continuing after %s %d%s%n", command, noun, k - 1, round.progress());
        resumed = false;
      }
      long t0 = System.nanoTime();
      Path dir = dir(k);
      Files.createDirectories(dir);
      StageState.reopen(dir);
      D d = Objects.requireNonNull(round.run(k, dir), "a round's record");
      StageState.finish(dir, d);
      report.stage(noun + " " + k + (k == 0 ? " (read)" : ""), (System.nanoTime() - t0) / 1_000_000);
      round.finished(k, dir, d, false);
      finished.add(d);
    }
    return new Outcome<>(finished, Math.max(0, first + finished.size() - 1), stopped);
  }

  /**
   * Stages the shards of rounds 0 to {@code through} into {@code into}, each kind in round order (the
   * kinds {@code include} accepts for a round), then publishes every kind of {@code into} in shards of
   * {@code shardSize} lines. Whatever else was staged into {@code into} before (a shuffled mix) is
   * published with them.
   */
  public void assemble(OutputLayout into, int through, BiPredicate<Integer, OutputLayout.Kind> include, long shardSize)
      throws IOException {
    for (int k = 0; k <= through; k++) {
      OutputLayout from = layout(k);
      for (OutputLayout.Kind kind : OutputLayout.Kind.values()) {
        if (include.test(k, kind)) {
          into.stageFrom(from, kind, k);
        }
      }
    }
    for (OutputLayout.Kind kind : OutputLayout.Kind.values()) {
      into.publish(kind, shardSize);
    }
  }

  /**
   * Writes a round's {@code records} of {@code kind} in key order into the staging folder of
   * {@code round}, under the steps {@code <name>AsJson} and {@code Write<name>}.
   */
  public static <T> void write(PCollection<KV<OrderKey, T>> records, OutputLayout round, OutputLayout.Kind kind,
      String name) {
    records.apply(name + "AsJson", WriteOrdered.<T>asJsonLines())
        .apply("Write" + name, WriteOrdered.to(round.staging(kind)));
  }

  /**
   * Runs a round's pipeline to the end, with a console ticker of the records generated and tokens made
   * under {@code label}, then publishes every kind of each of the round's {@code outputs} as written
   * (the round's own shards are not split; the final assembly shards them). Returns the result, whose
   * metrics the round's record takes its counts from.
   */
  public static PipelineResult runPipeline(Pipeline p, String label, PrintStream console, OutputLayout... outputs)
      throws IOException {
    PipelineResult result;
    try (Progress.Ticker t = Progress.start(label, new String[] {Progress.GENERATED, Progress.TOKENS}, console)) {
      result = p.run();
      result.waitUntilFinish();
    }
    for (OutputLayout.Kind k : OutputLayout.Kind.values()) {
      for (OutputLayout o : outputs) {
        o.publish(k, Long.MAX_VALUE);
      }
    }
    return result;
  }

  /** What a finished round's record says of its model calls, for the run's totals. */
  public interface ModelCalls {
    /** Requests sent (cache hits included). */
    long requests();

    /** Requests answered from the response cache. */
    long cacheHits();

    /** Completion tokens of the answers (cached answers included). */
    long completionTokens();
  }

  /**
   * Puts the totals of the rounds' model calls into {@code metrics}: {@code requests}, {@code cache_hits}
   * and {@code completion_tokens}.
   */
  public static void putModelTotals(Map<String, Object> metrics, List<? extends ModelCalls> rounds) {
    metrics.put("requests", rounds.stream().mapToLong(ModelCalls::requests).sum());
    metrics.put("cache_hits", rounds.stream().mapToLong(ModelCalls::cacheHits).sum());
    metrics.put("completion_tokens", rounds.stream().mapToLong(ModelCalls::completionTokens).sum());
  }
}
