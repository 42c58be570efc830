package io.instructflow.pipelines.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.util.Comparator;
import org.apache.beam.sdk.coders.AtomicCoder;
import org.apache.beam.sdk.coders.VarIntCoder;
import org.apache.beam.sdk.coders.VarLongCoder;

/**
 * The global input order of an element: source file index (files sorted by name), position in the
 * file (JSONL line or array index) and sub-index (instances of a seed task). Outputs are written in
 * this order so that every run, on every runner, writes the same bytes.
 *
 * @param source index of the input file in reading order
 * @param position 1-based line or 0-based array index
 * @param sub index among the records one input object expanded to
 */
public record OrderKey(int source, long position, int sub) implements Comparable<OrderKey>, Serializable {
  private static final Comparator<OrderKey> ORDER =
      Comparator.comparingInt(OrderKey::source).thenComparingLong(OrderKey::position).thenComparingInt(OrderKey::sub);

  @Override
  public int compareTo(OrderKey o) {
    return ORDER.compare(this, o);
  }

  /** A deterministic coder (three varints). */
  public static final class Coder extends AtomicCoder<OrderKey> {
    private static final Coder INSTANCE = new Coder();

    private Coder() {}

    /** The coder. */
    public static Coder of() {
      return INSTANCE;
    }

    @Override
    public void encode(OrderKey k, OutputStream out) throws IOException {
      VarIntCoder.of().encode(k.source(), out);
      VarLongCoder.of().encode(k.position(), out);
      VarIntCoder.of().encode(k.sub(), out);
    }

    @Override
    public OrderKey decode(InputStream in) throws IOException {
      return new OrderKey(VarIntCoder.of().decode(in), VarLongCoder.of().decode(in), VarIntCoder.of().decode(in));
    }

    @Override
    public void verifyDeterministic() {}
  }
}
