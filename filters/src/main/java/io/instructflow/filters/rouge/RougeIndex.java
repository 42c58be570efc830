package io.instructflow.filters.rouge;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.NumericDocValuesField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.NumericDocValues;
import org.apache.lucene.index.PostingsEnum;
import org.apache.lucene.index.Terms;
import org.apache.lucene.index.TermsEnum;
import org.apache.lucene.index.TieredMergePolicy;
import org.apache.lucene.search.DocIdSetIterator;
import org.apache.lucene.store.ByteBuffersDirectory;
import org.apache.lucene.util.BytesRef;

/**
 * A Lucene index of token sequences that answers "which indexed texts have ROUGE-L F > t against this
 * one?" with no false negatives, verifying every candidate exactly.
 *
 * <p>Each text is indexed as its tokens numbered by occurrence ({@code the#1}, {@code the#2}...), which
 * turns the multiset overlap of two texts into a plain set overlap of terms. A text of length n can
 * match a query of m tokens only if they share at least k(n) terms (see {@link Bounds}); by the
 * pigeonhole principle it then contains one of any m − k(n) + 1 of the query's terms. The query takes
 * its terms rarest first and reads each one's postings from every Lucene segment, keeping the texts
 * whose length is in the range for which that term is still among the first m − k(n) + 1 (the
 * rarest terms serve every length, more common ones only the shorter texts, which need less overlap).
 * Each candidate is then checked with the exact multiset overlap, the bit-parallel LCS and the exact
 * {@code rouge_score} F.
 *
 * <p>Texts can be added at any time (Self-Instruct grows its pool every round). Lucene sees new texts
 * after a refresh every {@code refreshEvery} additions; texts added since are checked directly, so a
 * query always sees every text added before it. Not thread-safe for concurrent adds; concurrent
 * queries are safe once adding has stopped.
 */
public final class RougeIndex implements Closeable {
  private static final String TERMS = "t";
  private static final String ORDINAL = "ord";

  private final double threshold;
  private final int refreshEvery;
  private final Map<String, Integer> vocabulary = new HashMap<>();
  private final LongIntMap documentFrequency = new LongIntMap();
  // postings of the texts added since the last refresh: term -> slot + 1 in pendingLists
  private LongIntMap pendingSlots = new LongIntMap();
  private final List<IntList> pendingLists = new ArrayList<>();
  private final List<int[]> texts = new ArrayList<>();
  private final List<int[]> sortedTexts = new ArrayList<>();
  private final IntList lengths = new IntList();
  // for each Lucene segment (by its core cache key), the ordinal of each of its documents
  private Map<Object, int[]> segmentOrdinals = new java.util.IdentityHashMap<>();
  private final ByteBuffersDirectory directory = new ByteBuffersDirectory();
  private final IndexWriter writer;
  private DirectoryReader reader;
  private int visible;
  private final AtomicLong candidates = new AtomicLong();
  private final AtomicLong verifications = new AtomicLong();

  /**
   * @param threshold the F threshold t, in (0, 1]
   * @param refreshEvery how many additions between Lucene refreshes
   */
  public RougeIndex(double threshold, int refreshEvery) {
    if (!(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("threshold must be in (0, 1], got " + threshold);
    }
    if (refreshEvery < 1) {
      throw new IllegalArgumentException("refreshEvery must be positive, got " + refreshEvery);
    }
    this.threshold = threshold;
    this.refreshEvery = refreshEvery;
    try {
      IndexWriterConfig cfg = new IndexWriterConfig().setRAMBufferSizeMB(64).setCommitOnClose(false)
          .setMergePolicy(new TieredMergePolicy().setSegmentsPerTier(4));
      writer = new IndexWriter(directory, cfg);
      reader = DirectoryReader.open(writer);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The threshold t. */
  public double threshold() {
    return threshold;
  }

  /** Number of texts added. */
  public int size() {
    return texts.size();
  }

  /** Candidates returned by Lucene or the pending list so far (before exact checks). */
  public long candidateCount() {
    return candidates.get();
  }

  /** LCS computations so far. */
  public long verificationCount() {
    return verifications.get();
  }

  /** Adds a text; returns its ordinal (0, 1, 2... in add order). Texts without tokens are kept but never match. */
  public int add(List<String> tokens) {
    int[] ids = new int[tokens.size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = vocabulary.computeIfAbsent(tokens.get(i), k -> vocabulary.size());
    }
    int ordinal = texts.size();
    texts.add(ids);
    lengths.add(ids.length);
    int[] sorted = ids.clone();
    Arrays.sort(sorted);
    sortedTexts.add(sorted);
    if (ids.length > 0) {
      Document d = new Document();
      for (long term : occurrenceKeys(ids)) {
        d.add(new StringField(TERMS, termBytes(term), Field.Store.NO));
        documentFrequency.add(term, 1);
        int slot = pendingSlots.get(term);
        if (slot == 0) {
          pendingLists.add(new IntList());
          slot = pendingLists.size();
          pendingSlots.add(term, slot);
        }
        pendingLists.get(slot - 1).add(ordinal);
      }
      d.add(new NumericDocValuesField(ORDINAL, ordinal));
      try {
        writer.addDocument(d);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    // texts not yet visible to Lucene are checked one by one, so refreshing when they reach a
    // fraction of the index keeps both that list and the number of Lucene segments small
    if (texts.size() - visible >= Math.max(refreshEvery, visible / 8)) {
      refresh();
    }
    return ordinal;
  }

  /** Merges the index into one segment and makes every text visible: for an index that stops growing. */
  public void optimize() {
    try {
      writer.forceMerge(1);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    refresh();
  }

  /** Makes every added text visible to Lucene. */
  public void refresh() {
    try {
      DirectoryReader next = DirectoryReader.openIfChanged(reader, writer);
      if (next != null) {
        reader.close();
        reader = next;
          Map<Object, int[]> ordinals = new java.util.IdentityHashMap<>();
        for (LeafReaderContext leaf : reader.leaves()) {
          Object key = leaf.reader().getCoreCacheHelper().getKey();
          int[] known = segmentOrdinals.get(key);
          ordinals.put(key, known != null ? known : ordinalsOf(leaf));
        }
        segmentOrdinals = ordinals;
      }
      visible = texts.size();
      pendingSlots = new LongIntMap();
      pendingLists.clear();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Every text among ordinals {@code [0, limit)} whose F against {@code tokens} is above the
   * threshold, in ordinal order.
   */
  public List<Match> matches(List<String> tokens, int limit) {
    return search(tokens, limit, false);
  }

  /**
   * The best match among ordinals {@code [0, limit)} (highest F, then earliest), or null.
   *
   * <p>Cheaper than {@link #matches}: once a match with F = f is found, a later candidate can only
   * replace it with F > f, so the overlap it needs rises to {@link Bounds#minOverlap}(m, n, f) and most
   * candidates fail that test after a few tokens.
   */
  public Match best(List<String> tokens, int limit) {
    List<Match> found = search(tokens, limit, true);
    return found.isEmpty() ? null : found.get(0);
  }

  private List<Match> search(List<String> tokens, int limit, boolean bestOnly) {
    List<Match> out = new ArrayList<>();
    int m = tokens.size();
    if (m == 0 || limit <= 0) {
      return out;
    }
    int[] query = ids(tokens);
    int nmin = Bounds.minLength(m, threshold);
    int nmax = Bounds.maxLength(m, threshold);
    Prefix prefix = prefix(query, nmin, nmax);
    if (prefix.terms.length == 0) {
      return out;
    }
    IntList hits = new IntList();
    Scratch scratch = this.scratch.get().fit(vocabulary.size(), texts.size());
    int stamp = scratch.nextStamp();
    int luceneLimit = Math.min(limit, visible);
    if (luceneLimit > 0) {
      searchLucene(prefix, nmin, luceneLimit, scratch, stamp, hits);
    }
    if (limit > visible) {
      // texts added since the last refresh: the same prefix test, on their in-memory postings
      for (int r = 0; r < prefix.terms.length; r++) {
        int slot = pendingSlots.get(prefix.terms[r]);
        IntList postings = slot == 0 ? IntList.EMPTY : pendingLists.get(slot - 1);
        for (int p = 0; p < postings.size(); p++) {
          offer(postings.get(p), limit, nmin, prefix.longest[r], scratch.seen, stamp, hits);
        }
      }
    }
    int[] found = hits.sorted();
    candidates.addAndGet(found.length);
    // the query's token multiplicities by token id, and a bit per token id it has (a small array that
    // stays in cache: most tokens of a dissimilar text are not in the query), per-thread, reset below
    int[] count = scratch.count;
    long[] present = scratch.present;
    for (int id : query) {
      if (id >= 0) {
        count[id]++;
        present[id >>> 6] |= 1L << id;
      }
    }
    Match best = null;
    try {
      for (int o : found) {
        int[] other = texts.get(o);
        int n = other.length;
        // a candidate must beat the threshold and, when only the best is wanted, the best so far
        double bar = best == null ? threshold : best.score();
        if (!Bounds.lengthsCompatible(m, n, bar)
            || !overlapAtLeast(present, count, sortedTexts.get(o), Bounds.minOverlap(m, n, bar))) {
          continue;
        }
        verifications.incrementAndGet();
        double f = RougeL.fmeasure(Lcs.length(query, other), m, n);
        if (f > threshold) {
          Match x = new Match(o, f);
          if (!bestOnly) {
            out.add(x);
          } else if (best == null || x.betterThan(best)) {
            best = x;
          }
        }
      }
    } finally {
      for (int id : query) {
        if (id >= 0) {
          count[id] = 0;
          present[id >>> 6] = 0;
        }
      }
    }
    if (best != null) {
      out.add(best);
    }
    return out;
  }

  /**
   * The query terms a similar text must share one of, rarest first, each with the longest text
   * length for which it is needed.
   *
   * @param terms occurrence keys some indexed text has, by rank (document frequency, then position)
   * @param longest for each term, the longest text for which the term is within the prefix (below)
   */
  private record Prefix(long[] terms, int[] longest) {}

  /**
   * The prefix of a query of m tokens.
   *
   * <p>A text of length n that can match shares at least k(n) = minOverlap(m, n) occurrence terms
   * with the query, so by the pigeonhole principle it contains one of any m − k(n) + 1 of them; we
   * take the rarest (by the document frequencies we keep ourselves, ties by position). k(n) grows
   * with n, so the term of rank r (from 0) is needed only for texts with k(n) ≤ m − r: the rarest
   * terms for texts of every length, the more common ones only for the shorter texts, which need less
   * overlap. Terms no text has are left out (a text cannot share them) but keep their rank.
   *
   * <p>Requiring two shared terms of m − k + 2 instead of one of m − k + 1 halves the candidates on
   * T0 prompts but was measured slower, whether Lucene enforced it with minimum-should-match (30 s vs
   * 11 s on 30K T0 prompts) or by counting matches in a scored disjunction (73 s vs 27 s on all 55K).
   */
  private Prefix prefix(int[] query, int nmin, int nmax) {
    int m = query.length;
    long[] keys = occurrenceKeys(query);
    long[] order = new long[keys.length];
    for (int i = 0; i < keys.length; i++) {
      order[i] = ((long) documentFrequency.get(keys[i]) << 32) | i;
    }
    Arrays.sort(order);
    long[] terms = new long[keys.length];
    int[] longest = new int[keys.length];
    int count = 0;
    for (int r = 0; r < order.length; r++) {
      // the longest n in [nmin, nmax] with k(n) <= m - r, by bisection (k is non-decreasing in n)
      int need = m - r;
      if (Bounds.minOverlap(m, nmin, threshold) > need) {
        break;
      }
      int lo = nmin;
      int hi = nmax;
      while (lo < hi) {
        int mid = (int) (((long) lo + hi + 1) >>> 1);
        if (Bounds.minOverlap(m, mid, threshold) <= need) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      if ((order[r] >>> 32) == 0) {
        continue;
      }
      terms[count] = keys[(int) order[r]];
      longest[count] = lo;
      count++;
    }
    return new Prefix(Arrays.copyOf(terms, count), Arrays.copyOf(longest, count));
  }

  /**
   * The prefix test on the Lucene segments: for each prefix term, its postings in each segment,
   * keeping the texts within the term's length range.
   */
  private void searchLucene(Prefix prefix, int shortest, int limit, Scratch scratch, int stamp, IntList out) {
    BytesRef[] terms = new BytesRef[prefix.terms.length];
    for (int r = 0; r < terms.length; r++) {
      terms[r] = termBytes(prefix.terms[r]);
    }
    try {
      PostingsEnum postings = null;
      for (LeafReaderContext leaf : reader.leaves()) {
        Terms indexed = leaf.reader().terms(TERMS);
        if (indexed == null) {
          continue;
        }
        int[] ordinals = segmentOrdinals.get(leaf.reader().getCoreCacheHelper().getKey());
        TermsEnum te = indexed.iterator();
        for (int r = 0; r < terms.length; r++) {
          if (!te.seekExact(terms[r])) {
            continue;
          }
          postings = te.postings(postings, PostingsEnum.NONE);
          for (int doc = postings.nextDoc(); doc != DocIdSetIterator.NO_MORE_DOCS; doc = postings.nextDoc()) {
            offer(ordinals[doc], limit, shortest, prefix.longest[r], scratch.seen, stamp, out);
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Adds text o to the candidates if it is below limit, its length in range and not yet there. */
  private void offer(int o, int limit, int shortest, int longest, int[] seen, int stamp, IntList out) {
    if (o < limit && seen[o] != stamp) {
      int n = lengths.get(o);
      if (n >= shortest && n <= longest) {
        seen[o] = stamp;
        out.add(o);
      }
    }
  }

  /** The ordinal of each document of a segment. */
  private static int[] ordinalsOf(LeafReaderContext leaf) throws IOException {
    int[] out = new int[leaf.reader().maxDoc()];
    NumericDocValues values = leaf.reader().getNumericDocValues(ORDINAL);
    for (int doc = values.nextDoc(); doc != DocIdSetIterator.NO_MORE_DOCS; doc = values.nextDoc()) {
      out[doc] = (int) values.longValue();
    }
    return out;
  }

  private int[] ids(List<String> tokens) {
    int[] out = new int[tokens.size()];
    Map<String, Integer> unseen = new HashMap<>();
    for (int i = 0; i < out.length; i++) {
      Integer id = vocabulary.get(tokens.get(i));
      // tokens the index has never seen get distinct negative ids: they match nothing, but stay distinct
      out[i] = id != null ? id : unseen.computeIfAbsent(tokens.get(i), k -> -1 - unseen.size());
    }
    return out;
  }

  /**
   * Token ids numbered by occurrence, as one long each (id in the high bits, occurrence number in the
   * low 24): a, b, a becomes (a,1), (b,1), (a,2). Equal keys mean "the same token, the k-th time", so
   * the multiset overlap of two texts is the size of the intersection of their key sets.
   */
  static long[] occurrenceKeys(int[] ids) {
    // (id, position) pairs sorted: equal ids form runs, their positions in text order
    long[] byId = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      byId[i] = ((long) ids[i] << 32) | i;
    }
    Arrays.sort(byId);
    long[] out = new long[ids.length];
    int occurrence = 0;
    for (int i = 0; i < byId.length; i++) {
      int id = (int) (byId[i] >> 32);
      occurrence = i > 0 && (int) (byId[i - 1] >> 32) == id ? occurrence + 1 : 1;
      out[(int) byId[i]] = ((long) id << 24) | occurrence;
    }
    return out;
  }

  /** The indexed term of an occurrence key: its 8 bytes, big-endian. */
  static BytesRef termBytes(long key) {
    byte[] b = new byte[8];
    for (int i = 7; i >= 0; i--) {
      b[i] = (byte) key;
      key >>>= 8;
    }
    return new BytesRef(b);
  }

  private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

  /** Per-thread query arrays: count and present are all zero between queries. */
  private static final class Scratch {
    int[] count = new int[0];
    long[] present = new long[0];
    // seen[o] == stamp: text o is already a candidate of the current query
    int[] seen = new int[0];
    int stamp;

    /** Makes room for token ids below {@code vocabulary} and ordinals below {@code size}. */
    Scratch fit(int vocabulary, int size) {
      if (count.length < vocabulary) {
        count = new int[Math.max(vocabulary, count.length * 2)];
        present = new long[(count.length + 63) >>> 6];
      }
      if (seen.length < size) {
        seen = Arrays.copyOf(seen, Math.max(size, seen.length * 2));
      }
      return this;
    }

    int nextStamp() {
      if (++stamp == Integer.MAX_VALUE) {
        Arrays.fill(seen, 0);
        stamp = 1;
      }
      return stamp;
    }
  }

  /**
   * Whether a text (its sorted token ids) shares at least {@code k} tokens, as multisets, with the
   * query whose multiplicities are in {@code count} (and whose token ids have their bit set in
   * {@code present}); one pass over the text, stopping as soon as the answer is known.
   *
   * <p>The pass runs from the highest token id down. Ids are given in order of first appearance, so
   * high ids tend to be the rarer tokens, which a dissimilar text does not share: the pass learns
   * that k is out of reach after a few of them rather than after all the common ones.
   */
  static boolean overlapAtLeast(long[] present, int[] count, int[] sorted, int k) {
    int got = 0;
    int i = sorted.length - 1;
    while (i >= 0) {
      int id = sorted[i];
      int run = 1;
      while (i - run >= 0 && sorted[i - run] == id) {
        run++;
      }
      i -= run;
      if (id >>> 6 < present.length && (present[id >>> 6] & (1L << id)) != 0) {
        got += Math.min(run, count[id]);
      }
      if (got >= k) {
        return true;
      }
      if (got + i + 1 < k) {
        return false;
      }
    }
    return got >= k;
  }

  /** A growable int array. */
  static final class IntList {
    static final IntList EMPTY = new IntList();

    private int[] a = new int[4];
    private int size;

    int size() {
      return size;
    }

    int get(int i) {
      return a[i];
    }

    void add(int x) {
      if (size == a.length) {
        a = Arrays.copyOf(a, size * 2);
      }
      a[size++] = x;
    }

    int[] sorted() {
      int[] out = Arrays.copyOf(a, size);
      Arrays.sort(out);
      return out;
    }
  }

  @Override
  public void close() throws IOException {
    reader.close();
    writer.close();
    directory.close();
  }
}
