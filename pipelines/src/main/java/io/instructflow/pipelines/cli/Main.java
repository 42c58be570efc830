package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.runtime.Versions;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code instructflow} command line. Always ends the JVM with {@link System#exit}: the llama.cpp
 * binding leaves a non-daemon native thread behind, and Spark may too, so returning from {@code main}
 * is not enough to exit (DESIGN §5).
 *
 * <p>Exit status: 0 the run completed (rejects included); 1 the run failed or its counts do not
 * reconcile; 2 bad usage or configuration, reported before anything runs; 3 more rejects than
 * {@code --max-reject-ratio} allows (all outputs still written).
 */
@Command(
    name = "instructflow",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Generate, clean, mix and audit instruction and preference data for LLM post-training.",
    subcommands = {ImportCommand.class, DedupCommand.class, GenerateCommand.class, FilterCommand.class, BlendCommand.class, PairsCommand.class, AuditCommand.class, SelfInstructCommand.class, EvolCommand.class, ScoreCommand.class, TagCommand.class, SelectCommand.class, ServeCommand.class, StatsCommand.class, DemoCommand.class, RunCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
  /** Exit status for bad usage or configuration. */
  public static final int EXIT_USAGE = 2;

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }

  /** Runs the command line and returns the exit status (without exiting). */
  public static int execute(String... args) {
    io.instructflow.pipelines.runtime.Storage.pinRegion();
    CommandLine cl = new CommandLine(new Main());
    CommandHelp.attach(cl);
    // the one place that turns bad arguments into usage errors (issue 20): picocli's own (a missing, unknown
    // or unconvertible option) here, those found while configuring or before anything runs below
    cl.setParameterExceptionHandler((ex, badArgs) -> {
      PrintWriter err = ex.getCommandLine().getErr();
      err.println("error: " + usageMessage(ex));
      err.flush();
      return EXIT_USAGE;
    });
    cl.setExecutionExceptionHandler((ex, cmd, parsed) -> failed(ex, cmd.getErr()));
    return cl.execute(args);
  }

  /**
   * The exit status for an exception a command threw, its message written to {@code err}: the one
   * mapping, for a command and for the stages of a fused recipe run.
   */
  static int failed(Exception ex, PrintWriter err) {
    Throwable setting = settingInside(ex);
    if (usageError(ex) || setting != null) {
      err.println("error: " + (usageError(ex) ? ex : setting).getMessage());
      err.flush();
      return EXIT_USAGE;
    }
    if (outOfMemory(ex)) {
      haltOutOfMemory(ex);
    }
    String unusable = modelUnusable(ex);
    if (unusable != null) {
      // a refused key or a missing model: one message, not a stack trace (issue 21)
      err.println("error: " + unusable);
      err.flush();
      return 1;
    }
    err.println("error: " + ex);
    ex.printStackTrace(err);
    err.flush();
    return 1;
  }

  /**
   * Whether {@code ex} is bad usage or configuration found before anything ran (exit status 2, the message
   * alone): a bad argument ({@link UsageException}, from {@link PipelineCommand#configure} and the option
   * classes); a missing or unreadable {@code --in}; an output folder that another live run holds, an
   * earlier output read as input that is not complete, a path on a file system this build lacks; a model
   * file that is missing or not GGUF; a setting the pipeline finds unusable as it starts (a token limit
   * over the context, a template override without its placeholders); rounds or epochs in OUT from a run
   * with other settings.
   */
  static boolean usageError(Throwable ex) {
    return ex instanceof UsageException || ex instanceof io.instructflow.pipelines.io.InputFiles.InputException
        || ex instanceof io.instructflow.pipelines.io.OutputLayout.LockedException
        || ex instanceof io.instructflow.pipelines.io.OutputLayout.IncompleteException
        || ex instanceof io.instructflow.pipelines.io.OutputLayout.UnsupportedOutputException
        || ex instanceof io.instructflow.pipelines.runtime.Storage.UnsupportedStorageException
        || ex instanceof io.instructflow.inference.InvalidModelException
        || ex instanceof io.instructflow.pipelines.runtime.SettingsException
        || ex instanceof io.instructflow.pipelines.runtime.StageState.MismatchException;
  }

  /**
   * A {@link io.instructflow.pipelines.runtime.SettingsException} that a pipeline step threw while it ran
   * (for example a blend's tag minimum that the data cannot meet, found once the counts are in), as the
   * runner hands it back wrapped in its own exceptions; null when the cause chain has none.
   */
  static Throwable settingInside(Throwable t) {
    return inChain(t, io.instructflow.pipelines.runtime.SettingsException.class);
  }

  /** The first throwable of type {@code type} in {@code t}'s cause chain ({@code t} included), or null. */
  private static Throwable inChain(Throwable t, Class<? extends Throwable> type) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (type.isInstance(c)) {
        return c;
      }
    }
    return null;
  }

  /**
   * Picocli's complaint about the arguments as one line, naming the option (a missing, unknown or
   * unconvertible one), with picocli's guesses for an unknown one and where the options are listed.
   */
  static String usageMessage(CommandLine.ParameterException ex) {
    StringBuilder b = new StringBuilder(String.join(" ", String.valueOf(ex.getMessage()).strip().split("\\s*\\R\\s*")));
    if (ex instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
      b.append("; did you mean ").append(String.join(" or ", u.getSuggestions())).append('?');
    }
    return b.append(" (").append(ex.getCommandLine().getCommandSpec().qualifiedName()).append(" --help lists the options)")
        .toString();
  }

  /**
   * Whether {@code t} is, or was caused by, running out of heap: an {@link OutOfMemoryError} in the
   * cause chain, or a Spark job failure that carries one only as text (a task's error comes back to the
   * driver as a message).
   */
  static boolean outOfMemory(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof OutOfMemoryError
          || String.valueOf(c.getMessage()).contains("java.lang.OutOfMemoryError")
          || String.valueOf(c.getMessage()).contains("spark.driver.maxResultSize")) {
        return true;
      }
    }
    return false;
  }

  /**
   * The message of a {@link io.instructflow.inference.ModelUnusableException} in {@code t}'s cause
   * chain, or in a message there (a Spark task's error reaches the driver as text), else null.
   */
  public static String modelUnusable(Throwable t) {
    io.instructflow.inference.ModelUnusableException m = io.instructflow.inference.ModelUnusableException.find(t);
    if (m != null) {
      return m.getMessage();
    }
    String name = io.instructflow.inference.ModelUnusableException.class.getName() + ": ";
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      String msg = String.valueOf(c.getMessage());
      int at = msg.indexOf(name);
      if (at >= 0) {
        return msg.substring(at + name.length()).lines().findFirst().orElse("");
      }
    }
    return null;
  }

  /** The message for a run that ran out of memory: what failed, the heap it had and how to give more. */
  static String outOfMemoryMessage(Throwable t) {
    return String.format(java.util.Locale.ROOT,
        "error: out of memory (%s) with a maximum heap of %,d MiB. The run is stopped. Give the JVM more heap with "
            + "INSTRUCTFLOW_HEAP (for example INSTRUCTFLOW_HEAP=8g bin/instructflow ...), or see docs/memory.md for "
            + "what each command keeps per record.",
        String.valueOf(memoryError(t)).lines().findFirst().orElse("OutOfMemoryError"), Runtime.getRuntime().maxMemory() >> 20);
  }

  /**
   * The {@link OutOfMemoryError} in {@code t}'s cause chain, so that the message names it rather than the
   * runner's wrapper around it; {@code t} itself when the chain carries the error only as text.
   */
  private static Throwable memoryError(Throwable t) {
    Throwable e = inChain(t, OutOfMemoryError.class);
    return e != null ? e : t;
  }

  /**
   * Heap held back from the start and let go when the heap runs out, so that the message can still be
   * built and printed: on a full heap even {@link String#format} can throw again.
   */
  private static volatile byte[] reserve = new byte[4 << 20];

  /** The message when even the reserve is not enough to build {@link #outOfMemoryMessage}: made at start-up. */
  private static final byte[] FALLBACK = (String.format(java.util.Locale.ROOT,
      "error: out of memory (java.lang.OutOfMemoryError) with a maximum heap of %,d MiB. The run is stopped. Give the "
          + "JVM more heap with INSTRUCTFLOW_HEAP (for example INSTRUCTFLOW_HEAP=8g bin/instructflow ...), or see "
          + "docs/memory.md for what each command keeps per record.%n", Runtime.getRuntime().maxMemory() >> 20))
      .getBytes(java.nio.charset.StandardCharsets.UTF_8);

  /** Standard error as a plain file stream, opened at start-up (no allocation of a writer later). */
  private static final java.io.FileOutputStream STDERR = new java.io.FileOutputStream(java.io.FileDescriptor.err);

  /**
   * Ends the JVM at once with status 1 after an out-of-memory error: no shutdown hooks, which can wait
   * forever on threads the error left half-done (a Spark context, a native decode thread). The message
   * names the heap and the setting; if it cannot be built, a copy made at start-up is printed instead.
   */
  static void haltOutOfMemory(Throwable t) {
    reserve = null;
    try {
      byte[] msg;
      try {
        msg = (outOfMemoryMessage(t) + System.lineSeparator()).getBytes(java.nio.charset.StandardCharsets.UTF_8);
      } catch (Throwable again) {
        msg = FALLBACK;
      }
      try {
        System.out.flush();
      } catch (Throwable ignored) {
        // the message matters more than what stdout had buffered
      }
      STDERR.write(msg);
      STDERR.flush();
    } catch (Throwable ignored) {
      // nothing more can be said; the exit status still tells
    } finally {
      Runtime.getRuntime().halt(1);
    }
  }

  public static void main(String[] args) {
    // an OutOfMemoryError on any thread (a Spark task, a decode worker) ends the run, never hangs it
    Thread.UncaughtExceptionHandler previous = Thread.getDefaultUncaughtExceptionHandler();
    Thread.setDefaultUncaughtExceptionHandler((thread, t) -> {
      if (outOfMemory(t)) {
        haltOutOfMemory(t);
      } else if (previous != null) {
        previous.uncaughtException(thread, t);
      } else {
        System.err.println("Exception in thread \"" + thread.getName() + "\" " + t);
        t.printStackTrace();
      }
    });
    int code = execute(args);
    System.out.flush();
    System.err.flush();
    System.exit(code);
  }

  /** A configuration problem found before the run; exit status 2, message only. */
  public static final class UsageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public UsageException(String message) {
      super(message);
    }
  }

  /** Prints the versions. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return Versions.all().entrySet().stream().map(e -> e.getKey() + " " + e.getValue()).toArray(String[]::new);
    }
  }
}
