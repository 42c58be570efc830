package io.instructflow.generators.selfinstruct;

import io.instructflow.filters.instruction.PyText;
import io.instructflow.inference.LanguageModel;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.Verdict;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * The {@code alpaca} preset (Stanford Alpaca's generate_instruction.py): each prompt shows
 * {@code seedExamples} seed tasks whole (instruction, input, output) and asks for {@code alpacaTasks};
 * the response is split into tasks ({@link AlpacaParser}), a piece without the three labelled fields is
 * dropped ({@value SelfInstructReasons#FORMAT_MALFORMED}), the last piece of a cut response too
 * ({@value SelfInstructReasons#TRUNCATED}); the rest are tested with the Alpaca rules and
 * {@link SelfInstruct}'s ROUGE-L gate, and a task it keeps is kept as written, with no further request.
 *
 * {@code AlpacaGenerator gen = new AlpacaGenerator(Settings.defaults(Preset.ALPACA, 0), seeds, null);}
 */
public final class AlpacaGenerator extends SelfInstruct {
  private static final long serialVersionUID = 1L;

  /**
   * @param settings the configuration, of the {@code alpaca} preset
   * @param seeds the seed file's tasks (at least {@code seedExamples} of them)
   * @param templates folder of template overrides, or null for the built-in ones
   * @throws IllegalArgumentException on another preset, too few seeds or a template with the wrong
   *     placeholders
   */
  public AlpacaGenerator(Settings settings, List<SeedTask> seeds, Path templates) {
    super(requirePreset(settings), seeds, templates, Map.of(T_ALPACA, Set.of("count", "examples", "next")));
  }

  private static Settings requirePreset(Settings settings) {
    if (settings.preset() != Preset.ALPACA) {
      throw new IllegalArgumentException("the Alpaca generator takes the alpaca preset, got " + settings.preset().id());
    }
    return settings;
  }

  @Override
  String generateTemplate() {
    return T_ALPACA;
  }

  @Override
  PromptSpec prompt(int round, int index, List<PoolEntry> machine, Random rng, long seed) {
    List<SeedTask> shown = sample(seeds(), settings().seedExamples(), rng);
    StringBuilder list = new StringBuilder();
    List<String> parents = new ArrayList<>();
    for (int k = 0; k < shown.size(); k++) {
      SeedTask s = shown.get(k);
      SeedTask.Instance x = s.instances().isEmpty() ? new SeedTask.Instance("", "") : s.instances().get(0);
      int n = k + 1;
      list.append("###\n").append(n).append(". Instruction: ").append(promptInstruction(s.instruction())).append('\n')
          .append(n).append(". Input:\n").append(x.input().isEmpty() ? "<noinput>" : x.input()).append('\n')
          .append(n).append(". Output:\n").append(x.output()).append('\n');
      parents.add(s.taskId());
    }
    String prompt = templates().get(T_ALPACA).render(Map.of("count", Integer.toString(settings().alpacaTasks()),
        "examples", list.toString(), "next", Integer.toString(shown.size() + 1)));
    return new PromptSpec(round, index, prompt, parents, 0, seed);
  }

  @Override
  List<Candidate> parse(PromptSpec p, String text, boolean truncated, String finish) {
    List<Candidate> out = new ArrayList<>();
    List<AlpacaParser.Task> tasks = AlpacaParser.parse(text, p.parents().size() + 1);
    for (int i = 0; i < tasks.size(); i++) {
      AlpacaParser.Task t = tasks.get(i);
      boolean cut = truncated && i == tasks.size() - 1;
      if (!t.wellFormed()) {
        Verdict v = cut ? truncatedVerdict()
            : new Verdict.Dropped(SelfInstructReasons.FORMAT_FILTER, SelfInstructReasons.FORMAT_MALFORMED, Map.of());
        out.add(new Candidate(p.round(), p.index(), i, PyText.collapse(t.raw()), null, null, v, p.parents(), p.seed(),
            finish, null));
        continue;
      }
      String instruction = settings().rules().normalize(t.instruction());
      Verdict v = cut ? truncatedVerdict() : settings().rules().test(instruction);
      if (instruction.isEmpty()) {
        instruction = PyText.collapse(t.raw());
      }
      out.add(new Candidate(p.round(), p.index(), i, instruction, t.input(), t.output(), v, p.parents(), p.seed(),
          finish, null));
    }
    return out;
  }

  /** The kept tasks as written ({@link #keptAlpaca}); the model is not asked again. */
  @Override
  public List<Outcome> completeAll(LanguageModel model, ModelRef ref, List<Candidate> live, int batchSize,
      List<Rounds.Failure> failures) {
    List<Outcome> out = new ArrayList<>(live.size());
    live.forEach(c -> out.add(keptAlpaca(c, ref)));
    return out;
  }

  /** The outcome of an Alpaca task that passed every rule: kept as written. */
  public Outcome keptAlpaca(Candidate c, ModelRef model) {
    if (!c.kept()) {
      throw new IllegalStateException("keptAlpaca takes a kept Alpaca candidate, got " + c.location());
    }
    Provenance p = generated(c, model).plus(filterStep(c));
    Example e = Example.single(c.instruction(), emptyToNull(c.input()), c.output(), meta(c, null), p);
    return new Outcome(List.of(e), List.of(), c.poolEntry());
  }

  @Override
  String similarityKey() {
    return "most_similar_instructions";
  }

  @Override
  List<String> taskFilters() {
    return List.of(SelfInstructReasons.FORMAT_FILTER);
  }
}
