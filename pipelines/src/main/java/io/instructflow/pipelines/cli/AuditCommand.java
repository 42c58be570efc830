package io.instructflow.pipelines.cli;

import io.instructflow.pipelines.audit.AuditPipeline;
import io.instructflow.pipelines.audit.AuditTerms;
import io.instructflow.pipelines.audit.AuditTrace;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code instructflow audit}: composition, license conflicts and lineage of a dataset's rows. */
@Command(
    name = "audit",
    mixinStandardHelpOptions = true,
    subcommands = {AuditCommand.Trace.class, AuditCommand.Find.class, AuditCommand.Verify.class},
    description = {
      "Audit datasets (instructflow output folders, or any input import reads): composition by origin dataset, "
          + "license, generator model, step and language; each record's effective terms (its licenses and the terms of "
          + "every model that wrote it) checked against --intended-use, with the conflicting rows listed.",
      "Writes REPORT/data/ (one audit line per record, in input order), REPORT/audit.json and REPORT/run-summary.json.",
      "audit trace ID: a record's chain back to its roots. audit find TEXT: the records most like a text, with their "
          + "origins. audit verify --in DIR: the output against its MANIFEST.json."
    })
public final class AuditCommand extends PipelineCommand<AuditPipeline.Config> {
  @Mixin RunOptions run;

  @Option(names = "--in", split = ",", paramLabel = "DIR", description = "Datasets to audit (comma-separated or repeated).")
  List<String> in = new ArrayList<>();

  @Option(names = "--intended-use", defaultValue = "commercial", paramLabel = "commercial|research",
      description = "What the data is for. Default: ${DEFAULT-VALUE}.")
  String use;

  @Option(names = "--report", defaultValue = "audit-report", paramLabel = "DIR", description = "Report folder. Default: ${DEFAULT-VALUE}.")
  String report;

  @Option(names = "--terms", paramLabel = "FILE",
      description = "More license and model terms (the shape of the built-in table, see docs/commands.md, audit).")
  Path terms;

  @Override
  AuditPipeline.Config configure() throws Exception {
    if (terms != null && !Files.isRegularFile(terms)) {
      throw new IllegalArgumentException("--terms: no such file: " + terms);
    }
    return new AuditPipeline.Config(in, report, use, AuditTerms.load(terms), run.toRunner());
  }

  @Override
  RunSummary run(AuditPipeline.Config c) throws Exception {
    return AuditPipeline.run(c, System.out);
  }

  /** {@code audit find TEXT}. */
  @Command(name = "find", mixinStandardHelpOptions = true,
      description = "The records most similar to a text (Lucene BM25 over kept and filtered records of --in), with their origins.")
  static final class Find implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "TEXT", description = "The text to look for.")
    String text;

    @Option(names = "--in", split = ",", required = true, paramLabel = "DIR", description = "Output folders to look in.")
    List<String> in = new ArrayList<>();

    @Option(names = "--top", defaultValue = "5", paramLabel = "K", description = "Records to show. Default: ${DEFAULT-VALUE}.")
    int top;

    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean json;

    @Override
    public Integer call() throws Exception {
      List<Map<String, Object>> hits = io.instructflow.pipelines.audit.AuditFind.find(AuditTrace.index(in), text, top);
      if (json) {
        System.out.println(Json.pretty(hits));
      } else {
        for (Map<String, Object> h : hits) {
          System.out.printf(java.util.Locale.ROOT, "%6.2f  %s  %s  dataset %s, license %s, steps %s%n        \"%s\"%n",
              (Double) h.get("score"), h.get("id"), h.get("location"), h.get("dataset"), h.get("license"), h.get("steps"),
              h.get("text"));
        }
      }
      return hits.isEmpty() ? 1 : 0;
    }
  }

  /** {@code audit verify}. */
  @Command(name = "verify", mixinStandardHelpOptions = true,
      description = "Check an output's completion marker (_SUCCESS, written last by every run, holding the SHA-256 of "
          + "MANIFEST.json), the output against its MANIFEST.json (changed, missing and unexpected files) and every "
          + "record's provenance. Exit status 0 when all holds, 1 otherwise (an output whose run was killed fails).")
  static final class Verify implements Callable<Integer> {
    @Option(names = "--in", required = true, paramLabel = "DIR", description = "The output folder.")
    String in;

    // the S3 flags (and the Hadoop configuration) for an output on hdfs:// or s3://; nothing runs on Spark
    @Mixin RunOptions run;

    @Override
    public Integer call() throws Exception {
      io.instructflow.pipelines.runtime.Storage.require("--in", in);
      run.toRunner();
      org.apache.beam.sdk.io.FileSystems.setDefaultPipelineOptions(
          new io.instructflow.pipelines.runtime.Runner("direct", null).options("audit-verify"));
      io.instructflow.pipelines.runtime.Manifest.Check c = io.instructflow.pipelines.runtime.Manifest.verify(
          new io.instructflow.pipelines.io.OutputLayout(in));
      System.out.printf(java.util.Locale.ROOT, "audit verify %s: %d files in the manifest, %,d records checked%n", in, c.files(),
          c.rows());
      if (c.unsealed() != null) {
        System.out.println("  incomplete: " + c.unsealed());
      }
      c.changed().forEach(x -> System.out.println("  changed:    " + x));
      c.missing().forEach(x -> System.out.println("  missing:    " + x));
      c.unexpected().forEach(x -> System.out.println("  unexpected: " + x));
      c.incomplete().forEach(x -> System.out.println("  incomplete provenance: " + x));
      System.out.println(c.ok() ? "  ok" : "  FAILED");
      return c.ok() ? 0 : 1;
    }
  }

  /** {@code audit trace ID}. */
  @Command(name = "trace", mixinStandardHelpOptions = true,
      description = "Print a record's lineage: its origin row, every step with parameters, model, template, seed and verdict, "
          + "then its parents' lineages, back to the roots. Records are looked up in the kept and filtered records of --in.")
  static final class Trace implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "ID", description = "The record id.")
    String id;

    @Option(names = "--in", split = ",", required = true, paramLabel = "DIR",
        description = "Output folders to look in (include the imports of the seeds to reach them).")
    List<String> in = new ArrayList<>();

    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean json;

    @Override
    public Integer call() throws Exception {
      Map<String, Object> t = AuditTrace.trace(AuditTrace.index(in), id);
      if (!(Boolean) t.get("found")) {
        System.out.println("audit trace: no record " + id + " in " + in);
        return 1;
      }
      System.out.print(json ? Json.pretty(t) + "\n" : AuditTrace.text(t));
      return 0;
    }
  }
}
