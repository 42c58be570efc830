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
    subcommands = {ImportCommand.class, DedupCommand.class, GenerateCommand.class, FilterCommand.class, BlendCommand.class, PairsCommand.class, AuditCommand.class, SelfInstructCommand.class, EvolCommand.class, ServeCommand.class, StatsCommand.class, DemoCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
  /** Exit status for bad usage or configuration. */
  public static final int EXIT_USAGE = 2;

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }

  /** Runs the command line and returns the exit status (without exiting). */
  public static int execute(String... args) {
    CommandLine cl = new CommandLine(new Main());
    cl.setExecutionExceptionHandler(
        (ex, cmd, parsed) -> {
          PrintWriter err = cmd.getErr();
          // a missing or unreadable --in is found before anything runs: a usage error too
          if (ex instanceof UsageException || ex instanceof io.instructflow.pipelines.io.InputFiles.InputException) {
            err.println("error: " + ex.getMessage());
            err.flush();
            return EXIT_USAGE;
          }
          err.println("error: " + ex);
          ex.printStackTrace(err);
          err.flush();
          return 1;
        });
    return cl.execute(args);
  }

  public static void main(String[] args) {
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
