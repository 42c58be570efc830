package io.instructflow.generators.selfinstruct;

import io.instructflow.inference.GenerationRequest;
import io.instructflow.inference.GenerationResult;
import io.instructflow.inference.LanguageModel;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.ModelRef;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Self-Instruct rounds in one JVM, without Beam: the same steps the pipeline distributes, in the same
 * order, for tests, small runs and embedding in other programs.
 *
 * {@code Rounds.Result r = Rounds.run(generator, model, 1, List.of(), 16);}
 */
public final class Rounds {
  private Rounds() {}

  /**
   * A request that failed (after the backend's own retries).
   *
   * @param requestId the request id ({@code round-1/prompt-3}, {@code classify/<task id>}...)
   * @param location where in the round it was ({@code round-1/prompt-3} or the task's location)
   * @param result the failed result (error and error kind)
   * @param candidate the task whose request failed, or null for an instruction-generation prompt
   */
  public record Failure(String requestId, String location, GenerationResult result, Candidate candidate) {}

  /**
   * What one round produced, in (prompt, item, instance) order.
   *
   * @param round the round
   * @param kept records for {@code data/}
   * @param filtered records for {@code filtered/}
   * @param failures failed requests, for {@code rejects/}
   * @param added tasks that joined the pool (every task the ROUGE-L gate kept), in order
   * @param prompts prompts sent
   * @param candidates tasks parsed from the responses
   */
  public record Result(int round, List<Example> kept, List<Example> filtered, List<Failure> failures,
      List<PoolEntry> added, int prompts, int candidates) {
    public Result {
      kept = List.copyOf(kept);
      filtered = List.copyOf(filtered);
      failures = List.copyOf(failures);
      added = List.copyOf(added);
    }
  }

  /** Runs round {@code round} given the machine pool so far, sending requests in batches of {@code batchSize}. */
  public static Result run(SelfInstruct gen, LanguageModel model, int round, List<PoolEntry> machine, int batchSize) {
    Objects.requireNonNull(model, "model");
    ModelRef ref = model.ref();
    List<PromptSpec> specs = gen.plan(round, machine);
    List<GenerationRequest> reqs = new ArrayList<>();
    specs.forEach(s -> reqs.add(gen.request(s)));
    List<GenerationResult> res = generate(model, reqs, batchSize);
    List<Candidate> candidates = new ArrayList<>();
    List<Failure> failures = new ArrayList<>();
    for (int i = 0; i < specs.size(); i++) {
      if (res.get(i).ok()) {
        candidates.addAll(gen.candidates(specs.get(i), res.get(i)));
      } else {
        failures.add(new Failure(reqs.get(i).id(), specs.get(i).requestId(), res.get(i), null));
      }
    }
    List<PoolEntry> pool = new ArrayList<>();
    gen.seeds().forEach(s -> pool.add(PoolEntry.of(s)));
    pool.addAll(machine);
    List<Candidate> gated = gen.gate(candidates, pool);
    List<Candidate> live = new ArrayList<>();
    List<PoolEntry> added = new ArrayList<>();
    for (Candidate c : gated) {
      if (c.kept()) {
        live.add(c);
        added.add(c.poolEntry());
      }
    }
    List<SelfInstruct.Outcome> outcomes = new ArrayList<>();
    List<Failure> late = new ArrayList<>();
    if (gen.settings().preset() == SelfInstruct.Preset.ALPACA) {
      live.forEach(c -> outcomes.add(gen.keptAlpaca(c, ref)));
    } else {
      outcomes.addAll(complete(gen, model, ref, live, batchSize, late));
    }
    List<Example> kept = new ArrayList<>();
    List<Example> filtered = new ArrayList<>();
    // merge dropped candidates and completed tasks back into (prompt, item) order
    int next = 0;
    for (Candidate c : gated) {
      SelfInstruct.Outcome o;
      if (!c.kept()) {
        o = gen.dropped(c, ref);
      } else {
        o = outcomes.get(next++);
        if (o == null) {
          continue;
        }
      }
      kept.addAll(o.kept());
      filtered.addAll(o.filtered());
    }
    failures.addAll(late);
    return new Result(round, kept, filtered, failures, added, specs.size(), candidates.size());
  }

  /**
   * Classification then instances for kept candidates, in batches of {@code batchSize}: one outcome
   * per candidate, null where a request failed (that failure is added to {@code failures}).
   */
  public static List<SelfInstruct.Outcome> complete(SelfInstruct gen, LanguageModel model, ModelRef ref, List<Candidate> live,
      int batchSize, List<Failure> failures) {
    List<GenerationRequest> creqs = new ArrayList<>();
    live.forEach(c -> creqs.add(gen.classifyRequest(c)));
    List<GenerationResult> cres = generate(model, creqs, batchSize);
    List<GenerationRequest> ireqs = new ArrayList<>();
    for (int i = 0; i < live.size(); i++) {
      if (cres.get(i).ok()) {
        ireqs.add(gen.instancesRequest(live.get(i), SelfInstruct.isYes(cres.get(i).choices().get(0).text())));
      }
    }
    List<GenerationResult> ires = generate(model, ireqs, batchSize);
    List<SelfInstruct.Outcome> out = new ArrayList<>();
    int k = 0;
    for (int i = 0; i < live.size(); i++) {
      Candidate c = live.get(i);
      if (!cres.get(i).ok()) {
        failures.add(new Failure(creqs.get(i).id(), c.location(), cres.get(i), c));
        out.add(null);
        continue;
      }
      GenerationResult ir = ires.get(k++);
      if (!ir.ok()) {
        failures.add(new Failure(ireqs.get(k - 1).id(), c.location(), ir, c));
        out.add(null);
        continue;
      }
      out.add(gen.complete(c, cres.get(i), ir, ref));
    }
    return out;
  }

  private static List<GenerationResult> generate(LanguageModel model, List<GenerationRequest> reqs, int batchSize) {
    List<GenerationResult> out = new ArrayList<>(reqs.size());
    for (int i = 0; i < reqs.size(); i += batchSize) {
      out.addAll(model.generate(reqs.subList(i, Math.min(reqs.size(), i + batchSize))));
    }
    return out;
  }
}
