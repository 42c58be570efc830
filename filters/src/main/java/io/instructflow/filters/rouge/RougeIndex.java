package io.instructflow.filters.rouge;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.IntPoint;
import org.apache.lucene.document.NumericDocValuesField;
import org.apache.lucene.document.StringField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.NumericDocValues;
import org.apache.lucene.index.TieredMergePolicy;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.ScoreMode;
import org.apache.lucene.search.SimpleCollector;
import org.apache.lucene.search.TermInSetQuery;
import org.apache.lucene.util.BytesRef;
import org.apache.lucene.store.ByteBuffersDirectory;

/**
 * A Lucene index of token sequences that answers "which indexed texts have ROUGE-L F > t against this
 * one?" with no false negatives, verifying every candidate exactly.
 *
 * <p>Each text is indexed as its tokens numbered by occurrence ({@code the#1}, {@code the#2}...), which
 * turns the multiset overlap of two texts into a plain set overlap of terms, plus its length. A query
 * for a text of m tokens needs an overlap of at least k (see {@link Bounds}) with any text it could
 * match; by the pigeonhole principle such a text must contain one of the query's first m − k + 1 terms
 * in any fixed order, so the query asks for texts that contain at least one of those (rarest first, for
 * speed) and whose length is in the compatible range. Each hit is then checked with the exact overlap,
 * the bit-parallel LCS and the exact {@code rouge_score} F.
 *
 * <p>Texts can be added at any time (Self-Instruct grows its pool every round). Lucene sees new texts
 * after a refresh every {@code refreshEvery} additions; texts added since are checked directly, so a
 * query always sees every text added before it. Not thread-safe for concurrent adds; concurrent
 * queries are safe once adding has stopped.
 */
public final class RougeIndex implements Closeable {
  private static final String TERMS = "t";
  private static final String LENGTH = "len";
  private static final String ORDINAL = "ord";

  private final double threshold;
  private final int refreshEvery;
  private final Map<String, Integer> vocabulary = new HashMap<>();
  private final Map<Long, Integer> documentFrequency = new HashMap<>();
  private final Map<Long, List<Integer>> pendingPostings = new HashMap<>();
  private final List<int[]> texts = new ArrayList<>();
  private final List<int[]> sortedTexts = new ArrayList<>();
  private final ByteBuffersDirectory directory = new ByteBuffersDirectory();
  private final IndexWriter writer;
  private DirectoryReader reader;
  private IndexSearcher searcher;
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
      searcher = new IndexSearcher(reader);
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
    int[] sorted = ids.clone();
    Arrays.sort(sorted);
    sortedTexts.add(sorted);
    if (ids.length > 0) {
      Document d = new Document();
      for (long term : occurrenceKeys(ids)) {
        d.add(new StringField(TERMS, termBytes(term), Field.Store.NO));
        documentFrequency.merge(term, 1, Integer::sum);
        pendingPostings.computeIfAbsent(term, x -> new ArrayList<>()).add(ordinal);
      }
      d.add(new IntPoint(LENGTH, ids.length));
      d.add(new IntPoint(ORDINAL, ordinal));
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
        searcher = new IndexSearcher(reader);
      }
      visible = texts.size();
      pendingPostings.clear();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Every text among ordinals {@code [0, limit)} whose F against {@code tokens} is above the
   * threshold, in ordinal order.
   */
  public List<Match> matches(List<String> tokens, int limit) {
    List<Match> out = new ArrayList<>();
    int m = tokens.size();
    if (m == 0 || limit <= 0) {
      return out;
    }
    int[] query = ids(tokens);
    int nmin = Bounds.minLength(m, threshold);
    int nmax = Bounds.maxLength(m, threshold);
    long[] prefix = prefixTerms(query, m - Bounds.minOverlap(m, Math.max(1, nmin), threshold) + 1);
    if (prefix.length == 0) {
      return out;
    }
    List<Integer> hits = new ArrayList<>();
    int luceneLimit = Math.min(limit, visible);
    if (luceneLimit > 0) {
      searchLucene(prefix, nmin, nmax, luceneLimit, hits);
    }
    if (limit > visible) {
      // texts added since the last refresh: the same prefix test, on their in-memory postings
      java.util.BitSet seen = new java.util.BitSet();
      for (long term : prefix) {
        for (int o : pendingPostings.getOrDefault(term, List.of())) {
          int n = texts.get(o).length;
          if (o < limit && n >= nmin && n <= nmax && !seen.get(o - visible)) {
            seen.set(o - visible);
            hits.add(o);
          }
        }
      }
    }
    hits.sort(Comparator.naturalOrder());
    candidates.addAndGet(hits.size());
    // the query's token multiplicities, by token id, in a per-thread scratch array (reset below)
    int[] count = scratch();
    for (int id : query) {
      if (id >= 0) {
        count[id]++;
      }
    }
    try {
      for (int o : hits) {
        int[] other = texts.get(o);
        int n = other.length;
        if (!Bounds.lengthsCompatible(m, n, threshold)
            || !overlapAtLeast(count, sortedTexts.get(o), Bounds.minOverlap(m, n, threshold))) {
          continue;
        }
        verifications.incrementAndGet();
        double f = RougeL.fmeasure(Lcs.length(query, other), m, n);
        if (f > threshold) {
          out.add(new Match(o, f));
        }
      }
    } finally {
      for (int id : query) {
        if (id >= 0) {
          count[id] = 0;
        }
      }
    }
    return out;
  }

  /** The best match among ordinals {@code [0, limit)} (highest F, then earliest), or null. */
  public Match best(List<String> tokens, int limit) {
    Match best = null;
    for (Match x : matches(tokens, limit)) {
      if (best == null || x.betterThan(best)) {
        best = x;
      }
    }
    return best;
  }

  /**
   * The query's {@code prefix} rarest occurrence terms (by the document frequencies we keep ourselves,
   * ties by position), leaving out terms no text has: a text that contains none cannot share them.
   *
   * <p>Any text of length n ≥ nmin that can match shares at least k = minOverlap(m, nmin) occurrence
   * terms with the query, so it contains one of any m − k + 1 of them (pigeonhole). Requiring two of
   * m − k + 2 halves the candidates on T0 prompts but costs more than it saves, whether Lucene enforces
   * it with minimum-should-match (30 s vs 11 s on 30K T0 prompts) or by counting matches in a scored
   * disjunction (73 s vs 27 s on all 55K).
   */
  private long[] prefixTerms(int[] query, int prefix) {
    long[] terms = occurrenceKeys(query);
    long[] order = new long[terms.length];
    for (int i = 0; i < terms.length; i++) {
      Integer df = documentFrequency.get(terms[i]);
      order[i] = ((long) (df == null ? 0 : df) << 32) | i;
    }
    Arrays.sort(order);
    long[] out = new long[Math.min(prefix, terms.length)];
    int n = 0;
    for (int i = 0; i < out.length; i++) {
      if ((order[i] >>> 32) > 0) {
        out[n++] = terms[(int) order[i]];
      }
    }
    return Arrays.copyOf(out, n);
  }

  private void searchLucene(long[] prefix, int lo, int hi, int limit, List<Integer> out) {
    List<BytesRef> any = new ArrayList<>(prefix.length);
    for (long t : prefix) {
      any.add(termBytes(t));
    }
    // "contains at least one prefix term": one sorted pass over the terms dictionary per segment
    BooleanQuery q = new BooleanQuery.Builder()
        .add(new TermInSetQuery(TERMS, any), BooleanClause.Occur.FILTER)
        .add(IntPoint.newRangeQuery(LENGTH, lo, hi), BooleanClause.Occur.FILTER)
        .add(IntPoint.newRangeQuery(ORDINAL, 0, limit - 1), BooleanClause.Occur.FILTER)
        .build();
    try {
      searcher.search(q, new SimpleCollector() {
        private NumericDocValues ords;

        @Override
        protected void doSetNextReader(LeafReaderContext context) throws IOException {
          ords = context.reader().getNumericDocValues(ORDINAL);
        }

        @Override
        public void collect(int doc) throws IOException {
          if (ords.advanceExact(doc)) {
            out.add((int) ords.longValue());
          }
        }

        @Override
        public ScoreMode scoreMode() {
          return ScoreMode.COMPLETE_NO_SCORES;
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
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
    Map<Integer, Integer> seen = new HashMap<>();
    long[] out = new long[ids.length];
    for (int i = 0; i < ids.length; i++) {
      int n = seen.merge(ids[i], 1, Integer::sum);
      out[i] = ((long) ids[i] << 24) | n;
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

  private final ThreadLocal<int[]> scratch = ThreadLocal.withInitial(() -> new int[0]);

  /** A zeroed array with a slot for every token id seen so far. */
  private int[] scratch() {
    int[] a = scratch.get();
    if (a.length < vocabulary.size()) {
      a = new int[Math.max(vocabulary.size(), a.length * 2)];
      scratch.set(a);
    }
    return a;
  }

  /**
   * Whether a text (its sorted token ids) shares at least {@code k} tokens, as multisets, with the
   * query whose multiplicities are in {@code count}; one pass over the text, stopping as soon as the
   * answer is known.
   */
  static boolean overlapAtLeast(int[] count, int[] sorted, int k) {
    int got = 0;
    int i = 0;
    while (i < sorted.length) {
      int id = sorted[i];
      int run = 1;
      while (i + run < sorted.length && sorted[i + run] == id) {
        run++;
      }
      i += run;
      got += Math.min(run, id < count.length ? count[id] : 0);
      if (got >= k) {
        return true;
      }
      if (got + (sorted.length - i) < k) {
        return false;
      }
    }
    return got >= k;
  }

  @Override
  public void close() throws IOException {
    reader.close();
    writer.close();
    directory.close();
  }
}
