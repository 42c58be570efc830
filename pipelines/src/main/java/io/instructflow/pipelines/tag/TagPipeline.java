package io.instructflow.pipelines.tag;

import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.tag.RecordTagger;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.llama.GgufMetadata;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.io.ReadRecords;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.coders.KvCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.Flatten;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.transforms.WithKeys;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollectionList;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * The {@code tag} command (issue 22, item 5): Magpie-style tags of every record (task category,
 * difficulty, input quality), each a label from a fixed set chosen by a judge model ({@link RecordTagger}):
 * greedy, held to the labels by a GBNF grammar on the embedded engine.
 *
 * <p>Built like {@code score}: the model is loaded once per JVM and shared by every worker, behind the
 * response cache (a rerun reads its labels back); records are batched by their place in the input (file and
 * line), not by bundle, so every runner sends the same batches. A tagged record goes to {@code data/} with
 * its labels in {@code metadata.tags} and a {@value #STEP} step naming the model and the templates' hashes;
 * a record that cannot be tagged goes to {@code rejects/} with the reason. Nothing is filtered here: the
 * blend's {@code tagQuotas} cap rows per label.
 */
public final class TagPipeline {
  private TagPipeline() {}

  /** Provenance step name and metrics namespace. */
  public static final String STEP = "tag";
  static final String VERSION = "1";

  /**
   * Settings of a tag run.
   *
   * @param read what to read
   * @param out output folder
   * @param model the judge model and its cache
   * @param tags the tags and their templates, format and grammar not yet resolved
   * @param format how requests are sent: auto picks chat for a GGUF file with a chat template, else text
   * @param batchSize records per call to the model
   * @param shardSize records per output shard
   * @param runner where to run
   */
  public record Config(ReadOptions read, String out, ModelSpec model, RecordTagger.Settings tags, PromptFormat format,
      int batchSize, long shardSize, Runner runner) {
    public Config {
      Objects.requireNonNull(read, "read");
      Objects.requireNonNull(out, "out");
      Objects.requireNonNull(model, "model");
      Objects.requireNonNull(tags, "tags");
      Objects.requireNonNull(format, "format");
      Objects.requireNonNull(runner, "runner");
      if (batchSize < 1) {
        throw new IllegalArgumentException("--batch-size must be positive, got " + batchSize);
      }
      if (shardSize < 1) {
        throw new IllegalArgumentException("--shard-size must be positive, got " + shardSize);
      }
    }

    Map<String, Object> asMap(RecordTagger.Settings resolved) {
      Map<String, Object> m = new LinkedHashMap<>(read.asMap());
      m.putAll(model.asMap());
      m.putAll(resolved.asMap());
      m.put("promptFormat", format.code());
      m.put("batchSize", batchSize);
      m.put("out", out);
      m.put("shardSize", shardSize);
      m.put("runner", runner.describe());
      return m;
    }
  }

  static final TupleTag<KV<OrderKey, Example>> DONE = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Reject>> FAILED = new TupleTag<>() {};

  /** Whether requests go as chat: {@code format} chat, or auto with a GGUF file that has a chat template. */
  static boolean chat(PromptFormat format, boolean remote, GgufMetadata meta) {
    return format == PromptFormat.CHAT
        || format == PromptFormat.AUTO && !remote && meta != null && meta.chatTemplate().isPresent();
  }

  /**
   * Runs tagging and returns the summary.
   *
   * @throws InvalidModelException when the model file is missing or not GGUF (before anything runs)
   */
  public static RunSummary run(Config c, PrintStream console)
      throws InputFiles.InputException, IOException, InvalidModelException {
    GgufMetadata meta = c.model().check();
    boolean chat = chat(c.format(), c.model().isRemote(), meta);
    // an endpoint takes no grammar: its replies are read strictly instead (RecordTagger.parse)
    RecordTagger.Settings s = c.tags().resolved(chat, !c.model().isRemote());
    ModelRef ref = c.model().ref();
    PipelineRun run = PipelineRun.start(STEP, c.runner(), c.read(), c.out(), c.asMap(s), console);
    console.printf(Locale.ROOT, "tag: %s with %s (%s requests%s, %s), cache %s%n", s.asMap().get("tags"), ref.id(),
        chat ? "chat" : "text", c.format() == PromptFormat.AUTO ? ", auto" : "", s.grammar() ? "grammar" : "no grammar",
        c.model().cacheDir() == null ? "off" : c.model().cacheDir());
    ReadRecords.Result r = run.read();
    KvCoder<OrderKey, Example> coder = KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class));
    int size = c.batchSize();
    PCollectionTuple out = r.examples()
        .apply("TagBatchKeys", WithKeys.of((KV<OrderKey, Example> kv) -> kv.getKey().source() + "/"
            + kv.getKey().position() / size).withKeyType(TypeDescriptors.strings()))
        .setCoder(KvCoder.of(StringUtf8Coder.of(), coder))
        .apply("TagBatches", GroupByKey.create())
        .apply("Tag", ParDo.of(new TagFn(c.model(), s, run.inputPaths()))
            .withOutputTags(DONE, TupleTagList.of(FAILED)));
    run.write(out.get(DONE).setCoder(coder), OutputLayout.Kind.DATA, "Data");
    run.write(PCollectionList.of(r.rejects())
        .and(out.get(FAILED).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class))))
        .apply("AllRejects", Flatten.pCollections()), OutputLayout.Kind.REJECTS, "Rejects");
    long t0 = System.nanoTime();
    PipelineResult result = run.execute("read+tag+write", Progress.READ, Progress.DECIDED);
    double seconds = (System.nanoTime() - t0) / 1e9;
    Map<String, Object> m = new LinkedHashMap<>();
    for (String name : List.of("records", "tagged", "failed", "requests")) {
      m.put(name, PipelineRun.counter(result, STEP, name));
    }
    m.put("records_per_second", Math.round(PipelineRun.counter(result, STEP, "records") / Math.max(seconds, 1e-3)));
    run.report().metrics(STEP, m);
    console.printf(Locale.ROOT, "tag: %,d records tagged, %,d not (%,d requests), %,d records/s over the stage%n",
        m.get("tagged"), m.get("failed"), m.get("requests"), m.get("records_per_second"));
    return run.finish(c.shardSize(), null, null);
  }

  /**
   * Tags one batch of records with one call to the model. Counters (namespace {@value #STEP}):
   * {@code records} (records seen), {@code tagged}, {@code failed} (records rejected) and {@code requests}
   * (generation requests sent, cached ones included).
   */
  static final class TagFn extends DoFn<KV<String, Iterable<KV<OrderKey, Example>>>, KV<OrderKey, Example>> {
    private static final long serialVersionUID = 1L;
    private final ModelSpec spec;
    private final RecordTagger.Settings settings;
    private final List<String> inputs;
    private final Counter records = Metrics.counter(STEP, "records");
    private final Counter tagged = Metrics.counter(STEP, "tagged");
    private final Counter failed = Metrics.counter(STEP, "failed");
    private final Counter requests = Metrics.counter(STEP, "requests");
    private transient LanguageModel model;

    TagFn(ModelSpec spec, RecordTagger.Settings settings, List<String> inputs) {
      this.spec = spec;
      this.settings = settings;
      this.inputs = List.copyOf(inputs);
    }

    @Setup
    public void setup() {
      model = spec.open();
    }

    @ProcessElement
    public void process(@Element KV<String, Iterable<KV<OrderKey, Example>>> batch, MultiOutputReceiver out) {
      List<KV<OrderKey, Example>> items = new ArrayList<>();
      batch.getValue().forEach(items::add);
      items.sort(Comparator.comparing((KV<OrderKey, Example> kv) -> kv.getKey()));
      List<Example> recs = new ArrayList<>(items.size());
      items.forEach(kv -> recs.add(kv.getValue()));
      List<RecordTagger.Outcome> outcomes = RecordTagger.tag(model, settings, recs);
      ModelRef ref = model.ref();
      Map<String, Object> params = settings.asMap();
      for (int i = 0; i < items.size(); i++) {
        OrderKey key = items.get(i).getKey();
        Example e = items.get(i).getValue();
        records.inc();
        RecordTagger.Outcome o = outcomes.get(i);
        if (o instanceof RecordTagger.Outcome.Tagged t) {
          requests.inc(t.requests());
          tagged.inc();
          Step step = new Step(STEP, VERSION, params, Verdict.KEPT, List.of(), null, ref, null, null);
          out.get(DONE).output(KV.of(key, t.record().withStep(step)));
        } else {
          RecordTagger.Outcome.Failed f = (RecordTagger.Outcome.Failed) o;
          requests.inc(f.requests());
          failed.inc();
          String source = key.source() >= 0 && key.source() < inputs.size() ? inputs.get(key.source()) : "";
          byte[] raw = Json.line(e).getBytes(StandardCharsets.UTF_8);
          out.get(FAILED).output(KV.of(key, Reject.of(source, e.provenance().origin().location(), f.reason(),
              f.message(), STEP, raw, raw.length)));
        }
      }
      Progress.add(Progress.DECIDED, items.size());
    }
  }
}
