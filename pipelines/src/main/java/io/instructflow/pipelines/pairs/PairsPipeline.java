package io.instructflow.pipelines.pairs;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.generators.pairs.Binarize;
import io.instructflow.generators.pairs.Candidate;
import io.instructflow.generators.pairs.CandidateSpec;
import io.instructflow.generators.pairs.PairInput;
import io.instructflow.generators.pairs.PairJudge;
import io.instructflow.generators.prompt.PromptFormat;
import io.instructflow.generators.prompt.PromptTemplate;
import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.LanguageModel;
import io.instructflow.inference.ModelSpec;
import io.instructflow.inference.SamplingParams;
import io.instructflow.inference.Seeds;
import io.instructflow.pipelines.io.InputFile;
import io.instructflow.pipelines.io.InputFiles;
import io.instructflow.pipelines.io.JsonCoder;
import io.instructflow.pipelines.io.OrderKey;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.io.ReadOptions;
import io.instructflow.pipelines.runtime.PipelineRun;
import io.instructflow.pipelines.runtime.Progress;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.pipelines.stage.CallModel;
import io.instructflow.pipelines.stage.ConfigChecks;
import io.instructflow.pipelines.stage.ModelCall;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.Message;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.PreferencePair;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Reject;
import io.instructflow.schemas.RejectReason;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.channels.Channels;
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
import org.apache.beam.sdk.coders.SerializableCoder;
import org.apache.beam.sdk.coders.StringUtf8Coder;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.GroupByKey;
import org.apache.beam.sdk.transforms.ParDo;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.TupleTag;
import org.apache.beam.sdk.values.TupleTagList;

/**
 * The {@code pairs} command: prompts with candidate answers (given, generated here, or both), rated by
 * the input or by an LLM judge ({@link PairJudge}: the four UltraFeedback aspects per candidate, the
 * UltraFeedback protocol, or pairwise comparisons with position swap), turned into preference pairs by
 * a {@link Binarize} strategy. Rows with the same prompt, from any input file, are one prompt. Writes
 * {@code data/} ({@link PreferencePair} lines: TRL's {@code prompt}/{@code chosen}/{@code rejected},
 * the chat messages, scores, margin and both sides' provenance), {@code filtered/} (each input row of
 * a prompt that made no pair, with the reason) and {@code rejects/}.
 */
public final class PairsPipeline {
  private PairsPipeline() {}

  public static final String STEP = "pairs";
  static final String VERSION = "1";
  static final String NAMESPACE = "pairs";
  /** The per-candidate rubric. */
  public static final String JUDGE_TEMPLATE = PairJudge.ASPECTS_TEMPLATE;

  /**
   * A pairs run.
   *
   * @param in input file, folder or glob
   * @param out output folder
   * @param license SPDX id of the input's license
   * @param candidates generation entries (may be empty)
   * @param generators one model per entry, in the same order
   * @param judge the judge model, or null to use the ratings and scores the input has
   * @param protocol how the judge judges
   * @param judgeTemplates the protocol's templates by id ({@link PairJudge#templates})
   * @param judgeTemperature the judge's sampling temperature (0: greedy)
   * @param format chat or text requests, for the generators and the judge (auto: chat for endpoints and
   *     for GGUF files with a chat template)
   * @param strategy how pairs are made
   * @param ties what a tie at the top does
   * @param minMargin the smallest score margin of a pair
   * @param seed seeds generation, judging and the random picks
   * @param shardSize records per output shard
   * @param runner where to run
   */
  public record Config(String in, String out, String license, List<CandidateSpec> candidates, List<ModelSpec> generators,
      ModelSpec judge, PairJudge.Protocol protocol, Map<String, PromptTemplate> judgeTemplates, double judgeTemperature,
      PromptFormat format, Binarize.Strategy strategy, Binarize.Ties ties, double minMargin, long seed, long shardSize,
      Runner runner) implements Serializable {
    private static final long serialVersionUID = 1L;

    public Config {
      Objects.requireNonNull(in, "in");
      ConfigChecks.output(out, shardSize, runner);
      Objects.requireNonNull(strategy, "strategy");
      Objects.requireNonNull(ties, "ties");
      Objects.requireNonNull(protocol, "protocol");
      Objects.requireNonNull(format, "format");
      candidates = List.copyOf(candidates);
      generators = List.copyOf(generators);
      judgeTemplates = judgeTemplates == null ? Map.of() : new LinkedHashMap<>(judgeTemplates);
      if (candidates.size() != generators.size()) {
        throw new IllegalArgumentException("one model per --candidates entry");
      }
      if (judge != null) {
        // checks that every template the protocol needs is there, with its placeholders
        new PairJudge.Settings(protocol, judgeTemplates, false, false, judgeTemperature, seed);
      }
      if (minMargin < 0) {
        throw new IllegalArgumentException("--min-margin must not be negative, got " + minMargin);
      }
    }

    /** A run with the per-candidate judge, keep-top ties and the automatic prompt format. */
    public static Config of(String in, String out, String license, List<CandidateSpec> candidates, List<ModelSpec> generators,
        ModelSpec judge, double judgeTemperature, Binarize.Strategy strategy, double minMargin, long seed, long shardSize,
        Runner runner) throws java.io.IOException {
      return new Config(in, out, license, candidates, generators, judge, PairJudge.Protocol.PER_CANDIDATE,
          judge == null ? Map.of() : PairJudge.templates(PairJudge.Protocol.PER_CANDIDATE, null), judgeTemperature,
          PromptFormat.AUTO, strategy, Binarize.Ties.KEEP_TOP, minMargin, seed, shardSize, runner);
    }

    Map<String, Object> asMap() {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("in", in);
      m.put("license", license);
      List<String> c = new ArrayList<>();
      candidates.forEach(x -> c.add(String.format(Locale.ROOT, "%s:t=%s:n=%d:top_p=%s:max=%d", x.model(), x.temperature(), x.n(),
          x.topP(), x.maxTokens())));
      m.put("candidates", c);
      m.put("promptFormat", format.code());
      m.put("judge", judge == null ? "none (ratings and scores from the input)" : judge.ref().id());
      if (judge != null) {
        m.put("judgeProtocol", protocol.code());
        Map<String, String> t = new LinkedHashMap<>();
        judgeTemplates.forEach((id, tpl) -> t.put(id, tpl.hash()));
        m.put("judgeTemplates", t);
        m.put("judgeTemperature", judgeTemperature);
      }
      m.put("strategy", strategy.code());
      m.put("ties", ties.code());
      m.put("minMargin", minMargin);
      m.put("seed", seed);
      m.put("out", out);
      m.put("runner", runner.describe());
      return m;
    }
  }

  /** One input row: where it is and what it brings. */
  record Row(OrderKey key, String location, String dataset, PairInput input) implements Serializable {
    private static final long serialVersionUID = 1L;
  }

  /** A prompt with all its rows and candidates, in input order. */
  record Group(String id, String prompt, List<Row> rows, List<Candidate> candidates, Map<String, Object> notes,
      PairJudge.Tournament tournament) implements Serializable {
    private static final long serialVersionUID = 1L;

    Group with(List<Candidate> c, Map<String, Object> extra) {
      Map<String, Object> n = new LinkedHashMap<>(notes);
      n.putAll(extra);
      return new Group(id, prompt, rows, c, n, tournament);
    }

    Group with(PairJudge.Tournament t) {
      return new Group(id, prompt, rows, candidates, notes, t);
    }
  }

  static final TupleTag<KV<String, Row>> ROWS = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Reject>> REJECTS = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, PreferencePair>> PAIRS = new TupleTag<>() {};
  static final TupleTag<KV<OrderKey, Example>> FILTERED = new TupleTag<>() {};

  /** Runs the command and returns its summary. */
  public static RunSummary run(Config c, PrintStream console) throws InputFiles.InputException, IOException,
      InvalidModelException {
    List<Boolean> chat = new ArrayList<>();
    for (ModelSpec m : c.generators()) {
      chat.add(chat(c.format(), m));
    }
    PairJudge.Settings judging = null;
    if (c.judge() != null) {
      judging = new PairJudge.Settings(c.protocol(), c.judgeTemplates(), chat(c.format(), c.judge()), !c.judge().isRemote(),
          c.judgeTemperature(), c.seed());
    }
    Map<String, Object> settings = c.asMap();
    List<String> formats = new ArrayList<>();
    chat.forEach(b -> formats.add(b ? "chat" : "text"));
    settings.put("candidateFormats", formats);
    if (judging != null) {
      settings.put("judgeFormat", judging.chat() ? "chat" : "text");
    }
    // refused before the run touches --out: pairs groups candidate rows of its own JSON shapes, which
    // Parquet rows are not read as here (the other commands read Parquet)
    io.instructflow.pipelines.runtime.Storage.require("--in", c.in());
    org.apache.beam.sdk.io.FileSystems.setDefaultPipelineOptions(c.runner().options("pairs"));
    for (InputFile f : InputFiles.expand(c.in(), null)) {
      if (f.isParquet()) {
        throw new InputFiles.InputException("pairs reads JSON and JSON Lines (plain, .gz or .zst), not Parquet: " + f.path()
            + "; import it first (instructflow import --in ... --out DIR) and give pairs DIR/data");
      }
    }
    PipelineRun run = PipelineRun.start("pairs", c.runner(), ReadOptions.of(c.in()), c.out(), settings, console);
    List<InputFile> files = InputFiles.expand(c.in(), null);
    console.printf(Locale.ROOT, "pairs: strategy %s, ties %s, min margin %s, %d candidate source(s) to generate (%s), judge %s%s, "
        + "seed %d%n", c.strategy().code(), c.ties().code(), c.minMargin(), c.candidates().size(), String.join(", ", formats),
        c.judge() == null ? "none" : c.judge().ref().id(),
        judging == null ? "" : " (" + c.protocol().code() + ", " + (judging.chat() ? "chat" : "text") + ")", c.seed());
    PCollectionTuple parsed = run.pipeline().apply("Files", Create.of(files).withCoder(SerializableCoder.of(InputFile.class)))
        .apply("Parse", ParDo.of(new ParseFn(c.license(), run.layout().countsDir())).withOutputTags(ROWS, TupleTagList.of(REJECTS)));
    PCollection<KV<OrderKey, Group>> groups = parsed.get(ROWS)
        .setCoder(KvCoder.of(StringUtf8Coder.of(), SerializableCoder.of(Row.class)))
        .apply("ByPrompt", GroupByKey.create())
        .apply("Groups", ParDo.of(new GroupFn()))
        .setCoder(KvCoder.of(OrderKey.Coder.of(), SerializableCoder.of(Group.class)));
    // one call per prompt (a batch of one group), each --candidates entry in turn, then the judge
    for (int e = 0; e < c.candidates().size(); e++) {
      groups = groups.apply("GenerateCandidates" + e, CallModel.of(NAMESPACE, CallModel.ModelSource.of(c.generators().get(e)),
          new CandidatesCall(e, c.candidates().get(e), chat.get(e), c.seed()), SerializableCoder.of(Group.class))).kept();
    }
    if (c.judge() != null) {
      groups = groups.apply("Judge", CallModel.of(NAMESPACE, CallModel.ModelSource.of(c.judge()), new JudgeCall(judging),
          SerializableCoder.of(Group.class))).kept();
    }
    PCollectionTuple out = groups.apply("Binarize", ParDo.of(new BinarizeFn(c)).withOutputTags(PAIRS, TupleTagList.of(FILTERED)));
    run.write(out.get(PAIRS).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(PreferencePair.class))),
        OutputLayout.Kind.DATA, "Pairs");
    run.write(out.get(FILTERED).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Example.class))),
        OutputLayout.Kind.FILTERED, "Filtered");
    run.write(parsed.get(REJECTS).setCoder(KvCoder.of(OrderKey.Coder.of(), JsonCoder.of(Reject.class))),
        OutputLayout.Kind.REJECTS, "Rejects");
    PipelineResult result = run.execute("read+rate+pair+write", Progress.READ, Progress.GENERATED, Progress.DECIDED);
    Map<String, Object> m = new LinkedHashMap<>();
    for (String name : List.of("prompts", "pairs", "kept_rows", "candidates_generated", "generation_failures",
        "candidates_judged", "judge_requests", "judge_unreadable", "judge_failures", "requests", "cache_hits")) {
      m.put(name, PipelineRun.counter(result, NAMESPACE, name));
    }
    run.report().metrics(NAMESPACE, m);
    run.report().note("for pairs, read/kept/filtered count input rows: a row is kept when its prompt made at least one pair; "
        + "data/ holds the pairs (" + m.get("pairs") + ")");
    console.printf(Locale.ROOT, "pairs: %,d prompts -> %,d pairs; %,d candidates generated, %,d judged (%,d unreadable)%n",
        m.get("prompts"), m.get("pairs"), m.get("candidates_generated"), m.get("candidates_judged"), m.get("judge_unreadable"));
    return run.finish(c.shardSize(), (Long) m.get("kept_rows"), null);
  }

  /**
   * Whether {@code m} gets chat requests in format {@code f}: {@link PromptFormat#AUTO} means chat for an
   * endpoint or a GGUF file with a chat template. Checks the model file (missing, not GGUF) on the way.
   */
  static boolean chat(PromptFormat f, ModelSpec m) throws InvalidModelException {
    io.instructflow.inference.llama.GgufMetadata meta = m.check();
    return f.resolve(m.isRemote(), meta != null && meta.chatTemplate().isPresent()) == PromptFormat.CHAT;
  }

  /** Reads a file's rows (JSONL, or one JSON array) into prompt-keyed rows and rejects; records its counts. */
  static final class ParseFn extends DoFn<InputFile, KV<String, Row>> {
    private static final long serialVersionUID = 1L;
    private final String license;
    private final String countsDir;

    ParseFn(String license, String countsDir) {
      this.license = license;
      this.countsDir = countsDir;
    }

    @ProcessElement
    public void process(@Element InputFile f, MultiOutputReceiver out) throws IOException {
      String text;
      // a .gz or .zst file is read decompressed (issue 20); Beam reads any other name as it is
      try (BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(
          org.apache.beam.sdk.io.Compression.detect(f.path()).readDecompressed(
              FileSystems.open(FileSystems.matchNewResource(f.path(), false)))), StandardCharsets.UTF_8))) {
        StringBuilder b = new StringBuilder();
        char[] buf = new char[1 << 16];
        int k;
        while ((k = in.read(buf)) != -1) {
          b.append(buf, 0, k);
        }
        text = b.toString();
      }
      long read = 0;
      long blank = 0;
      String model = PairInput.fileModel(io.instructflow.schemas.io.RecordStreamParser.withoutCompression(f.name()));
      if (text.stripLeading().startsWith("[")) {
        JsonNode arr;
        try {
          arr = Json.mapper().readTree(text);
        } catch (IOException e) {
          reject(out, f, new OrderKey(f.index(), 0, 0), f.name() + "#0", RejectReason.INVALID_JSON, e.getMessage(), text);
          OutputLayout.writeReadCounts(countsDir, f.index(), 1, 0);
          return;
        }
        for (int i = 0; i < arr.size(); i++) {
          read++;
          row(out, f, model, new OrderKey(f.index(), i, 0), f.name() + "#" + i, arr.get(i), Json.line(arr.get(i)));
        }
      } else {
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
          if (lines[i].isBlank()) {
            blank += i == lines.length - 1 ? 0 : 1;
            continue;
          }
          read++;
          OrderKey key = new OrderKey(f.index(), i + 1, 0);
          JsonNode n;
          try {
            n = Json.mapper().readTree(lines[i]);
          } catch (IOException e) {
            reject(out, f, key, f.name() + ":" + (i + 1), RejectReason.INVALID_JSON, e.getMessage(), lines[i]);
            continue;
          }
          row(out, f, model, key, f.name() + ":" + (i + 1), n, lines[i]);
        }
      }
      Progress.add(Progress.READ, read);
      OutputLayout.writeReadCounts(countsDir, f.index(), read, blank);
    }

    private void row(MultiOutputReceiver out, InputFile f, String model, OrderKey key, String location, JsonNode n, String raw) {
      try {
        PairInput p = PairInput.parse(n, model, location);
        out.get(ROWS).output(KV.of(Ids.sha256Hex(p.prompt().strip().getBytes(StandardCharsets.UTF_8)),
            new Row(key, location, f.dataset() + "|" + license, p)));
      } catch (PairInput.BadRow e) {
        reject(out, f, key, location, n != null && n.isObject() ? RejectReason.UNKNOWN_SHAPE : RejectReason.NOT_AN_OBJECT,
            e.getMessage(), raw);
      }
    }

    private static void reject(MultiOutputReceiver out, InputFile f, OrderKey key, String location, RejectReason r, String msg,
        String raw) {
      byte[] bytes = raw.getBytes(StandardCharsets.UTF_8);
      byte[] prefix = java.util.Arrays.copyOf(bytes, Math.min(bytes.length, 4096));
      out.get(REJECTS).output(KV.of(key, Reject.of(f.path(), location, r, msg, STEP, prefix, bytes.length)));
    }
  }

  /** Gathers a prompt's rows and candidates in input order. */
  static final class GroupFn extends DoFn<KV<String, Iterable<Row>>, KV<OrderKey, Group>> {
    private static final long serialVersionUID = 1L;
    private final Counter prompts = Metrics.counter(NAMESPACE, "prompts");

    @ProcessElement
    public void process(@Element KV<String, Iterable<Row>> kv, OutputReceiver<KV<OrderKey, Group>> out) {
      List<Row> rows = new ArrayList<>();
      kv.getValue().forEach(rows::add);
      rows.sort(Comparator.comparing(Row::key));
      List<Candidate> cands = new ArrayList<>();
      rows.forEach(r -> cands.addAll(r.input().candidates()));
      prompts.inc();
      out.output(KV.of(rows.get(0).key(), new Group(kv.getKey().substring(0, 24), rows.get(0).input().prompt(), rows, cands,
          Map.of(), null)));
    }
  }

  /**
   * Adds the candidates of one {@code --candidates} entry to each prompt, for {@link CallModel}: {@code n}
   * requests per prompt (ids {@code <prompt id>/<entry>/<k>}, seeds from the run seed, the prompt id, the
   * entry and k). A failed request adds no candidate; the prompt's {@code generation_failures} note
   * counts them over all entries. Counters: {@code candidates_generated} and {@code generation_failures}.
   */
  static final class CandidatesCall implements ModelCall<Group> {
    private static final long serialVersionUID = 1L;
    private final int entry;
    private final CandidateSpec spec;
    private final boolean chat;
    private final long seed;

    CandidatesCall(int entry, CandidateSpec spec, boolean chat, long seed) {
      this.entry = entry;
      this.spec = Objects.requireNonNull(spec, "spec");
      this.chat = chat;
      this.seed = seed;
    }

    /** The entry's requests for a prompt. */
    List<GenerationRequest> requests(Group g) {
      SamplingParams p = new SamplingParams(spec.maxTokens(), spec.temperature(), spec.topP(), 0, List.of(), 1);
      List<GenerationRequest> reqs = new ArrayList<>();
      for (int k = 0; k < spec.n(); k++) {
        String id = g.id() + "/" + entry + "/" + k;
        long s = Seeds.derive(seed, g.id() + "/candidate/" + entry + "/" + k);
        reqs.add(chat ? GenerationRequest.chat(id, List.of(new Message("user", g.prompt())), p, s)
            : GenerationRequest.text(id, g.prompt(), p, s));
      }
      return reqs;
    }

    @Override
    public List<ModelCall.Outcome<Group>> call(LanguageModel model, List<Group> batch) {
      List<GenerationRequest> reqs = new ArrayList<>();
      batch.forEach(g -> reqs.addAll(requests(g)));
      List<GenerationResult> res = model.generate(reqs);
      ModelRef ref = model.ref();
      List<ModelCall.Outcome<Group>> out = new ArrayList<>(batch.size());
      int at = 0;
      for (Group g : batch) {
        List<Candidate> all = new ArrayList<>(g.candidates());
        long failed = 0;
        for (int k = 0; k < spec.n(); k++, at++) {
          GenerationResult r = res.get(at);
          if (!r.ok()) {
            failed++;
            continue;
          }
          Map<String, Object> info = new LinkedHashMap<>();
          info.put("model_sha256", ref.sha256());
          info.put("backend", ref.backend());
          info.put("temperature", spec.temperature());
          info.put("top_p", spec.topP());
          info.put("max_tokens", spec.maxTokens());
          info.put("seed", reqs.get(at).seed());
          info.put("entry", entry);
          info.put("prompt_format", chat ? "chat" : "text");
          all.add(new Candidate(r.choices().get(0).text(), ref.id(), null, Map.of(), info));
        }
        long before = g.notes().get("generation_failures") instanceof Number n ? n.longValue() : 0;
        Group next = g.with(all, failed == 0 ? Map.of() : Map.of("generation_failures", before + failed));
        out.add(new ModelCall.Outcome.Kept<>(next, false,
            ModelCall.counts("candidates_generated", all.size() - g.candidates().size(), "generation_failures", failed)));
      }
      return out;
    }
  }

  /**
   * Judges each prompt's candidates with {@link PairJudge}, for {@link CallModel}. Counters:
   * {@code candidates_judged}, {@code judge_unreadable}, {@code judge_failures} and {@code judge_requests}.
   */
  static final class JudgeCall implements ModelCall<Group> {
    private static final long serialVersionUID = 1L;
    private final PairJudge.Settings settings;

    JudgeCall(PairJudge.Settings settings) {
      this.settings = Objects.requireNonNull(settings, "settings");
    }

    @Override
    public List<ModelCall.Outcome<Group>> call(LanguageModel model, List<Group> batch) {
      List<ModelCall.Outcome<Group>> out = new ArrayList<>(batch.size());
      for (Group g : batch) {
        PairJudge.Outcome o = PairJudge.judge(model, settings, g.id(), g.prompt(), g.candidates());
        Group next = g.with(o.candidates(), o.problems().isEmpty() ? Map.of() : Map.of("judge_problems", o.problems()));
        out.add(new ModelCall.Outcome.Kept<>(o.tournament() == null ? next : next.with(o.tournament()), false,
            ModelCall.counts("candidates_judged", o.judged(), "judge_unreadable", o.unreadable(), "judge_failures",
                o.failures(), "judge_requests", o.requests())));
      }
      return out;
    }
  }

  /** Makes the pairs of a prompt, or drops its rows with the reason. */
  static final class BinarizeFn extends DoFn<KV<OrderKey, Group>, KV<OrderKey, PreferencePair>> {
    private static final long serialVersionUID = 1L;
    private final Config config;
    private final Counter pairs = Metrics.counter(NAMESPACE, "pairs");
    private final Counter keptRows = Metrics.counter(NAMESPACE, "kept_rows");

    BinarizeFn(Config config) {
      this.config = config;
    }

    @ProcessElement
    public void process(@Element KV<OrderKey, Group> kv, MultiOutputReceiver out) {
      Group g = kv.getValue();
      PairJudge.Tournament t = g.tournament();
      List<Double> scores = new ArrayList<>();
      if (t != null) {
        scores.addAll(t.winRates());
      } else {
        g.candidates().forEach(c -> scores.add(c.rank()));
      }
      Binarize.Outcome o = Binarize.apply(config.strategy(), scores, config.minMargin(), config.seed(), g.id(), config.ties(),
          t == null ? null : t::beats);
      String reason = o.reason();
      Map<String, Object> evidence = o.evidence();
      Object problems = g.notes().get("judge_problems");
      if (problems instanceof List<?> l && !l.isEmpty() && (Binarize.TOO_FEW.equals(reason) || Binarize.NO_WIN.equals(reason))) {
        // the judge is why the prompt has too few scored candidates (or no result): say so
        boolean failed = l.stream().anyMatch(x -> x instanceof Map<?, ?> m && "failed".equals(m.get("kind")));
        reason = failed ? PairJudge.FAILED : PairJudge.UNREADABLE;
        evidence = new LinkedHashMap<>(evidence);
        evidence.put("binarize", o.reason());
        evidence.put("problems", problems);
      }
      Map<String, Object> params = new LinkedHashMap<>();
      params.put("strategy", config.strategy().code());
      params.put("ties", config.ties().code());
      params.put("minMargin", config.minMargin());
      params.put("seed", config.seed());
      params.put("candidates", g.candidates().size());
      if (t != null) {
        params.put("scores", "pairwise win rate");
      }
      Row first = g.rows().get(0);
      Origin origin = origin(first);
      Progress.add(Progress.DECIDED, g.rows().size());
      if (reason != null) {
        Map<String, Object> meta = new LinkedHashMap<>();
        List<Map<String, Object>> cands = new ArrayList<>();
        for (Candidate c : g.candidates()) {
          Map<String, Object> cm = new LinkedHashMap<>();
          cm.put("model", c.model());
          cm.put("score", t != null ? t.winRates().get(cands.size()) : c.rank());
          cm.put("ratings", c.ratings());
          cm.put("text", c.text().length() > 500 ? c.text().substring(0, 500) + "…" : c.text());
          cands.add(cm);
        }
        meta.put("candidates", cands);
        meta.putAll(g.notes());
        if (t != null) {
          meta.put("pairwise_games", games(t.games()));
        }
        for (Row r : g.rows()) {
          Example e = Example.single(g.prompt(), null, null, meta, new Provenance(origin(r), List.of()))
              .withStep(Step.of(STEP, VERSION, params, new Verdict.Dropped(STEP, reason, evidence), r.location()));
          out.get(FILTERED).output(KV.of(r.key(), e));
        }
        return;
      }
      keptRows.inc(g.rows().size());
      List<Message> promptTurns = List.of(new Message("user", g.prompt()));
      for (int i = 0; i < o.picks().size(); i++) {
        Binarize.Pick p = o.picks().get(i);
        Candidate ch = g.candidates().get(p.chosen());
        Candidate rj = g.candidates().get(p.rejected());
        Map<String, Object> stepParams = new LinkedHashMap<>(params);
        stepParams.put("chosen", p.chosen());
        stepParams.put("rejected", p.rejected());
        if (o.tiedAtTop() > 1) {
          stepParams.put("tiedAtTop", o.tiedAtTop());
        }
        if (t != null) {
          stepParams.put("game", games(List.of(t.game(p.chosen(), p.rejected()))).get(0));
        }
        List<Step> steps = new ArrayList<>();
        steps.add(Step.of(STEP, VERSION, stepParams, Verdict.KEPT, first.location()));
        PreferencePair pair = new PreferencePair(null, g.prompt(), promptTurns, ch.text(), rj.text(),
            List.of(promptTurns.get(0), new Message("assistant", ch.text())),
            List.of(promptTurns.get(0), new Message("assistant", rj.text())),
            scores.get(p.chosen()), scores.get(p.rejected()), p.margin(), info(ch, p.chosen()), info(rj, p.rejected()),
            Map.of("strategy", config.strategy().code(), "prompt_id", g.id()), new Provenance(origin, steps));
        pairs.inc();
        out.get(PAIRS).output(KV.of(new OrderKey(kv.getKey().source(), kv.getKey().position(), i), pair));
      }
    }

    /** The games of a tournament as the outputs show them. */
    private static List<Map<String, Object>> games(List<PairJudge.Game> games) {
      List<Map<String, Object>> out = new ArrayList<>();
      for (PairJudge.Game x : games) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("candidates", List.of(x.first(), x.second()));
        m.put("verdict_first_as_a", x.firstAsA());
        m.put("verdict_second_as_a", x.secondAsA());
        m.put("result", x.result());
        out.add(m);
      }
      return out;
    }

    private static Map<String, Object> info(Candidate c, int index) {
      Map<String, Object> m = new LinkedHashMap<>(c.info());
      m.put("model", c.model());
      m.put("candidate", index);
      m.put("ratings", c.ratings());
      if (c.score() != null) {
        m.put("given_score", c.score());
      }
      return m;
    }

    private static Origin origin(Row r) {
      String[] ds = r.dataset().split("\\|", 2);
      return new Origin(ds[0], ds[1], r.location(), null, r.input().shape(), null);
    }
  }
}
