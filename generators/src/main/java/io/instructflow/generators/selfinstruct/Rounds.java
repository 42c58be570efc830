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
    outcomes.addAll(gen.completeAll(model, ref, live, batchSize, late));
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

  /** The results of {@code reqs}, in order, sent to {@code model} in batches of {@code batchSize}. */
  static List<GenerationResult> generate(LanguageModel model, List<GenerationRequest> reqs, int batchSize) {
    List<GenerationResult> out = new ArrayList<>(reqs.size());
    for (int i = 0; i < reqs.size(); i += batchSize) {
      out.addAll(model.generate(reqs.subList(i, Math.min(reqs.size(), i + batchSize))));
    }
    return out;
  }
}
