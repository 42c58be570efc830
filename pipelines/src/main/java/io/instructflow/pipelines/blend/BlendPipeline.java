package io.instructflow.pipelines.blend;

import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stage.StageResult;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.RunSummary;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.MoveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * The {@code blend} command: reads every source of a {@link BlendSpec}, decides the blend from a light
 * description of each record by {@link BlendPlan}'s rules, spread over the workers ({@link BlendPlanner}),
 * then writes the rows in parallel:
 * {@code data/} (our records, train rows then validation rows, each with a {@value #STEP} step and
 * {@code metadata.blend}), {@code filtered/} (duplicates and records no quota reached, with evidence),
 * {@code rejects/}, the exports under {@code export/<format>/<split>-NNNNN.<ext>}, the spec as given,
 * the quota plan ({@value #PLAN}) and the dataset card ({@code README.md}).
 */
public final class BlendPipeline {
  private BlendPipeline() {}

  /** Provenance step name and filter id. */
  public static final String STEP = "blend";
  /**
   * A record left out as an exact copy (normalized text) of a record of the same or an earlier source
   * (evidence: the kept record and its source).
   */
  public static final String DUPLICATE = "blend.duplicate";
  /** A record its source's quota left out (evidence: the quota, the records available, its rank). */
  public static final String NOT_SELECTED = "blend.not_selected";
  static final String VERSION = "1";
  /** The metadata key of a row's blend fields, and the namespace of the blend's counters. */
  static final String NAMESPACE = "blend";
  /** The quota plan, written next to the data. */
  public static final String PLAN = "blend-plan.json";
  /** Where the exports go. */
  public static final String EXPORT = "export";

  /**
   * A blend run.
   *
   * @param spec the spec
   * @param out output folder
   * @param runner where to run
   */
  public record Config(BlendSpec spec, String out, Runner runner) {
    public Config {
      Objects.requireNonNull(spec, "spec");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(runner, "runner");
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("blend", spec.name());
      m.put("specSha256", specHash(spec));
      m.put("sources", spec.sources().size());
      m.put("formats", spec.formats());
      m.put("out", out);
      m.put("runner", runner.describe());
      return m;
    }
  }

  static String specHash(BlendSpec spec) {
    return Ids.sha256Hex(spec.specText().getBytes(StandardCharsets.UTF_8));
  }

  /**
   * The folder (or file) read for a source: an instructflow output folder means its {@code data/}, as
   * for {@code --in} ({@link InputFiles#resolve}); a path that cannot be looked at is returned as given,
   * for the input listing to report.
   */
  public static String readPath(String path) {
    try {
      return InputFiles.resolve(path).read();
    } catch (InputFiles.InputException e) {
      return path;
    }
  }

  /** The file name the spec is written under, next to the data. */
  static String specFileName(BlendSpec spec) {
    String t = spec.specText().stripLeading();
    return t.startsWith("{") ? "blend-spec.json" : "blend-spec.yaml";
  }

  /** Runs the blend and returns its summary. */
  public static RunSummary run(Config c, PrintStream console) throws InputFiles.InputException, IOException {
    BlendSpec spec = c.spec();
    for (BlendSpec.Source s : spec.sources()) {
      io.instructflow.pipelines.runtime.Storage.require("source", s.path());
    }
    // the sources are looked at before the run starts: register hdfs:// and the rest now
    FileSystems.setDefaultPipelineOptions(c.runner().options("blend"));
    List<ReadOptions> reads = new ArrayList<>();
    for (BlendSpec.Source s : spec.sources()) {
      // an output folder of ours is read as its data/ (said on the console), as for --in
      reads.add(new ReadOptions(s.path(), null, s.name(), s.license() == null ? "unknown" : s.license(), 1 << 20));
    }
    PipelineRun run = PipelineRun.startMany("blend", c.runner(), reads, c.out(), c.asMap(), console);
    OutputLayout layout = run.layout();
    deleteTree(layout.file(EXPORT) + "/");
    deleteTree(layout.file(".staging/" + EXPORT) + "/");
    layout.writeFile(specFileName(spec), spec.specText());
    console.printf(Locale.ROOT, "blend: %s, %d source(s), seed %d, target %s, formats %s%n", spec.name(), spec.sources().size(),
        spec.seed(), spec.target() != null ? String.format(Locale.ROOT, "%,d rows", spec.target())
            : spec.targetTokens() != null ? String.format(Locale.ROOT, "%,d tokens", spec.targetTokens()) : "(the shares)",
        spec.formats());
    ReadRecords.Result r = run.readAll();
    KvCoder<OrderKey, Example> coder = StageResult.RECORDS;
    StageResult blended = r.examples().setCoder(coder)
        .apply("Blend", BlendRecords.of(spec, run.sourceOfFile(), layout.file(PLAN)));
    PCollection<KV<OrderKey, Example>> rows = blended.kept();
    run.write(rows, OutputLayout.Kind.DATA, "Data");
    run.write(blended.filtered(), OutputLayout.Kind.FILTERED, "Filtered");
    run.write(blended.withRejects("AllRejects", r.rejects()).rejects(), OutputLayout.Kind.REJECTS, "Rejects");
    long shard = spec.shardSize();
    String staging = layout.file(".staging/" + EXPORT);
    String chunks = layout.file(".staging/" + EXPORT + "-chunks");
    deleteTree(chunks + "/");
    // exports in two steps that each hold little: chunks of rows written in order, then each shard
    // assembled by streaming its chunks (a shard is 100,000 rows by default, too many to hold)
    rows.apply("ChunkKeys", WithKeys.of((KV<OrderKey, Example> kv) -> chunkKey(kv.getKey(), shard))
            .withKeyType(TypeDescriptors.strings()))
        .setCoder(KvCoder.of(StringUtf8Coder.of(), coder))
        .apply("Chunks", GroupByKey.create())
        .apply("WriteChunks", ParDo.of(new ChunkFn(spec, chunks)))
        .setCoder(KvCoder.of(StringUtf8Coder.of(), StringUtf8Coder.of()))
        .apply("Shards", GroupByKey.create())
        .apply("Export", ParDo.of(new ExportFn(spec, chunks, staging)));
    run.execute("read+plan+write", Progress.READ, Progress.PLANNED, Progress.DECIDED);
    publishExports(staging, layout.file(EXPORT));
    io.instructflow.pipelines.io.FaultPoint.reach("blend.exports-published");
    deleteTree(chunks + "/");
    BlendReport plan = BlendReport.read(layout.file(PLAN));
    RunSummary s = run.finish(spec.shardSize(), plan.distinct(), null);
    DatasetCard.write(layout, spec, plan, s, console);
    return s;
  }

  /** Rows per export chunk: what one worker holds at once while writing exports. */
  static final int CHUNK = 2048;

  /** The chunk of a row: {@code split/shard/chunk}, a chunk never crossing a shard. */
  static String chunkKey(OrderKey row, long shardSize) {
    long shard = row.position() / shardSize;
    long chunk = (row.position() - shard * shardSize) / CHUNK;
    return BlendPlan.SPLITS.get(row.source()) + "/" + shard + "/" + chunk;
  }

  /** The staged file of one chunk in one format. */
  static String chunkFile(String chunks, String format, String split, long shard, long chunk) {
    return String.format(Locale.ROOT, "%s/%s/%s-%05d-%06d.part", chunks, format, split, shard, chunk);
  }

  /**
   * Writes one chunk of one shard in every format: the rows' lines in order (for {@code alpaca}, the
   * array elements joined by commas; for {@code parquet}, the records as JSON lines to be converted
   * when the shard is assembled). Outputs the chunk's name under its shard's.
   */
  static final class ChunkFn extends DoFn<KV<String, Iterable<KV<OrderKey, Example>>>, KV<String, String>> {
    private static final long serialVersionUID = 1L;
    private final BlendSpec spec;
    private final String chunks;
    private final Counter unexpressible = Metrics.counter(NAMESPACE, "unexpressible_rows");

    ChunkFn(BlendSpec spec, String chunks) {
      this.spec = spec;
      this.chunks = chunks;
    }

    @ProcessElement
    public void process(@Element KV<String, Iterable<KV<OrderKey, Example>>> chunk, OutputReceiver<KV<String, String>> out)
        throws IOException {
      List<KV<OrderKey, Example>> rows = new ArrayList<>();
      chunk.getValue().forEach(rows::add);
      rows.sort(Comparator.comparing((KV<OrderKey, Example> kv) -> kv.getKey()));
      String[] parts = chunk.getKey().split("/");
      long shard = Long.parseLong(parts[1]);
      long index = Long.parseLong(parts[2]);
      for (String format : spec.formats()) {
        StringBuilder b = new StringBuilder();
        boolean array = format.equals("alpaca");
        int written = 0;
        for (KV<OrderKey, Example> kv : rows) {
          java.util.Optional<String> line = format.equals("parquet") ? java.util.Optional.of(Json.line(kv.getValue()))
              : Exports.line(format, kv.getValue());
          if (line.isEmpty()) {
            unexpressible.inc();
            continue;
          }
          if (array && written > 0) {
            b.append(",\n");
          }
          b.append(line.get());
          if (!array) {
            b.append('\n');
          }
          written++;
        }
        ResourceId id = FileSystems.matchNewResource(chunkFile(chunks, format, parts[0], shard, index), false);
        try (OutputStream os = Channels.newOutputStream(FileSystems.create(id, "text/plain"))) {
          os.write(b.toString().getBytes(StandardCharsets.UTF_8));
        }
      }
      out.output(KV.of(parts[0] + "/" + shard, String.valueOf(index)));
    }
  }

  /** Assembles one shard of one split in every format from its chunks, streaming them in order. */
  static final class ExportFn extends DoFn<KV<String, Iterable<String>>, Void> {
    private static final long serialVersionUID = 1L;
    private final BlendSpec spec;
    private final String chunks;
    private final String staging;

    ExportFn(BlendSpec spec, String chunks, String staging) {
      this.spec = spec;
      this.chunks = chunks;
      this.staging = staging;
    }

    @ProcessElement
    public void process(@Element KV<String, Iterable<String>> shard) throws IOException {
      List<Long> order = new ArrayList<>();
      shard.getValue().forEach(c -> order.add(Long.parseLong(c)));
      java.util.Collections.sort(order);
      String[] parts = shard.getKey().split("/");
      long n = Long.parseLong(parts[1]);
      String name = String.format(Locale.ROOT, "%s-%05d", parts[0], n);
      for (String format : spec.formats()) {
        String path = staging + "/" + format + "/" + name + "." + Exports.extension(format);
        List<ResourceId> files = new ArrayList<>();
        for (long c : order) {
          files.add(FileSystems.matchNewResource(chunkFile(chunks, format, parts[0], n, c), false));
        }
        if (format.equals("parquet")) {
          ParquetShard.write(path, parts[0], new ChunkRecords(files));
          continue;
        }
        boolean array = format.equals("alpaca");
        ResourceId id = FileSystems.matchNewResource(path, false);
        try (OutputStream os = Channels.newOutputStream(FileSystems.create(id, "application/json"))) {
          if (array) {
            os.write("[\n".getBytes(StandardCharsets.UTF_8));
          }
          boolean any = false;
          byte[] buf = new byte[1 << 16];
          for (ResourceId f : files) {
            try (java.io.InputStream in = Channels.newInputStream(FileSystems.open(f))) {
              int k = in.read(buf);
              if (k <= 0) {
                continue;
              }
              if (array && any) {
                os.write(",\n".getBytes(StandardCharsets.UTF_8));
              }
              any = true;
              do {
                os.write(buf, 0, k);
              } while ((k = in.read(buf)) > 0);
            }
          }
          if (array) {
            os.write("\n]\n".getBytes(StandardCharsets.UTF_8));
          }
        }
      }
    }
  }

  /** The records of a shard's parquet chunks, read one line at a time. */
  static final class ChunkRecords implements java.util.Iterator<Example> {
    private final java.util.Iterator<ResourceId> files;
    private java.io.BufferedReader reader;
    private String next;

    ChunkRecords(List<ResourceId> files) {
      this.files = files.iterator();
    }

    @Override
    public boolean hasNext() {
      try {
        while (next == null) {
          if (reader != null) {
            next = reader.readLine();
            if (next != null) {
              break;
            }
            reader.close();
            reader = null;
          }
          if (!files.hasNext()) {
            return false;
          }
          reader = new java.io.BufferedReader(new java.io.InputStreamReader(
              Channels.newInputStream(FileSystems.open(files.next())), StandardCharsets.UTF_8));
        }
        return true;
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }

    @Override
    public Example next() {
      if (!hasNext()) {
        throw new java.util.NoSuchElementException();
      }
      String line = next;
      next = null;
      return Json.parse(line, Example.class);
    }
  }

  /** Moves the staged exports into place (the folder is recreated on every run). */
  static void publishExports(String staging, String target) throws IOException {
    List<ResourceId> from = new ArrayList<>();
    List<ResourceId> to = new ArrayList<>();
    for (ResourceId r : io.instructflow.pipelines.runtime.Storage.filesUnder(staging + "/")) {
      String p = r.toString();
      from.add(r);
      to.add(FileSystems.matchNewResource(target + p.substring(p.indexOf("/" + EXPORT + "/") + EXPORT.length() + 1), false));
    }
    for (ResourceId t : to) {
      if (isLocal(t.toString())) {
        Files.createDirectories(Paths.get(t.toString()).getParent());
      }
    }
    if (!from.isEmpty()) {
      FileSystems.rename(from, to, MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
    }
    deleteTree(staging + "/");
  }

  private static boolean isLocal(String p) {
    return !p.contains("://") || p.startsWith("file://");
  }

  /** Deletes every file under {@code dir} (local folders are removed too). */
  static void deleteTree(String dir) throws IOException {
    // hdfs:// too: Hadoop's globs do not cross '/', so Storage walks the folders (issue 23)
    List<ResourceId> files = io.instructflow.pipelines.runtime.Storage.filesUnder(dir);
    if (!files.isEmpty()) {
      FileSystems.delete(files, MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
    }
    if (isLocal(dir)) {
      Path p = Paths.get(dir);
      if (Files.isDirectory(p)) {
        try (java.util.stream.Stream<Path> w = Files.walk(p)) {
          for (Path q : w.sorted(Comparator.reverseOrder()).toList()) {
            Files.deleteIfExists(q);
          }
        }
      }
    }
  }
}
