package io.instructflow.filters.chain;

import io.instructflow.filters.rouge.RougeGate;
import io.instructflow.schemas.Verdict;
import java.io.Closeable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A chain's order-dependent rules as a stream: the records that passed the per-record filters come in
 * input order, one at a time, and each gets its verdict at once, as {@link FilterChain#gate} gives it
 * for the whole list. Each dedup rule sees the survivors of the one before, then the ROUGE-L rule the
 * survivors of them all, against the pool and the records it kept.
 *
 * <p>Memory is the rules' state for the records they keep, never the records themselves (see each
 * rule's {@code open}). {@link #prepare} is the per-record part, which needs no other record: callers
 * run it in parallel and {@link #decide} in order.
 *
 * <pre>{@code
 * try (OrderedGate g = new OrderedGate(chain, pool)) {
 *   for (GateInput in : inputsInOrder) verdicts.add(g.decide(in, g.prepare(in)));
 * }
 * }</pre>
 */
public final class OrderedGate implements Closeable {
  private final FilterChain chain;
  private final List<String> pool;
  private final List<OrderedRule.Decider> deciders = new ArrayList<>();
  private final RougeGate rouge;
  private final RougeGate.Stream rougeStream;
  private final KeptRefs rougeKept = new KeptRefs();

  /** What the rules compare of one record. */
  public record Prepared(Object[] rules, List<String> rougeTokens) {}

  /** Whether every rule of {@code chain} decides as a stream (all do but the components rules, which the pipeline runs as stages of their own). */
  public static boolean supports(FilterChain chain) {
    return chain.dedup().stream().allMatch(OrderedRule::streams);
  }

  /** The stream of {@code chain}'s ordered rules against {@code pool} (texts the ROUGE-L rule counts as kept). */
  public OrderedGate(FilterChain chain, List<String> pool) {
    this.chain = Objects.requireNonNull(chain, "chain");
    if (!supports(chain)) {
      throw new IllegalArgumentException("chain " + chain.name() + " has a rule that needs every record at once");
    }
    this.pool = List.copyOf(pool);
    for (OrderedRule r : chain.dedup()) {
      deciders.add(r.open());
    }
    rouge = chain.rouge() == null ? null : chain.rouge().gate();
    rougeStream = rouge == null ? null : rouge.open(this.pool);
  }

  /** The per-record part; thread-safe. */
  public Prepared prepare(GateInput g) {
    Object[] per = new Object[deciders.size()];
    for (int i = 0; i < per.length; i++) {
      per[i] = chain.dedup().get(i).prepare(g);
    }
    return new Prepared(per, rouge == null ? null : rouge.tokens(g.instruction()));
  }

  /** The verdict of the next record in input order. */
  public Verdict decide(GateInput g, Prepared p) {
    for (int i = 0; i < deciders.size(); i++) {
      Verdict v = deciders.get(i).decide(g, p.rules()[i]);
      if (v instanceof Verdict.Dropped) {
        return v;
      }
    }
    if (rougeStream == null) {
      return Verdict.KEPT;
    }
    RougeGate.Drop d = rougeStream.decide(p.rougeTokens());
    if (d == null) {
      rougeKept.add(g.id(), g.location());
      return Verdict.KEPT;
    }
    return d.inPool()
        ? chain.rougeDrop(d, null, null, pool.get(d.index()))
        : chain.rougeDrop(d, rougeKept.id(d.index()), rougeKept.location(d.index()), null);
  }

  @Override
  public void close() {
    deciders.forEach(OrderedRule.Decider::close);
    if (rougeStream != null) {
      rougeStream.close();
    }
  }
}
