package io.instructflow.filters.dedup;

/**
 * Union-find over {@code int} nodes in a parent array ({@code p[i] == i} for a root), in which the
 * smaller root always stays root: a component's root is its earliest member in the order the nodes
 * are numbered, which is how the dedup rules pick the record a component keeps.
 */
public final class UnionFind {
  private UnionFind() {}

  /** The root of {@code x}'s component, halving the path on the way. */
  public static int find(int[] p, int x) {
    while (p[x] != x) {
      p[x] = p[p[x]];
      x = p[x];
    }
    return x;
  }

  /** Joins the components of {@code a} and {@code b} under the smaller of their roots. */
  public static void union(int[] p, int a, int b) {
    int ra = find(p, a);
    int rb = find(p, b);
    if (ra < rb) {
      p[rb] = ra;
    } else if (rb < ra) {
      p[ra] = rb;
    }
  }
}
