package io.instructflow.pipelines.audit;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.StoredField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.TermQuery;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.store.ByteBuffersDirectory;

/**
 * {@code audit find TEXT}: "where did this example come from?" The kept and filtered records of the
 * given outputs go into an in-memory Lucene index (BM25 over instruction, input, output or chat turns;
 * Lucene's standard analyzer, which makes each CJK character a token); the records most similar to the
 * text come back with their origin.
 */
public final class AuditFind {
  private AuditFind() {}

  static String text(JsonNode r) {
    StringBuilder b = new StringBuilder();
    for (String f : List.of("instruction", "input", "output")) {
      if (r.path(f).isTextual()) {
        b.append(r.get(f).asText()).append('\n');
      }
    }
    r.path("messages").forEach(m -> b.append(m.path("content").asText()).append('\n'));
    return b.toString();
  }

  /** The {@code k} records of {@code index} most similar to {@code query}, best first, with their origins. */
  public static List<Map<String, Object>> find(Map<String, JsonNode> index, String query, int k) throws IOException {
    List<JsonNode> recs = new ArrayList<>(index.values());
    try (ByteBuffersDirectory dir = new ByteBuffersDirectory(); Analyzer a = new StandardAnalyzer()) {
      try (IndexWriter w = new IndexWriter(dir, new IndexWriterConfig(a))) {
        for (int i = 0; i < recs.size(); i++) {
          Document d = new Document();
          d.add(new TextField("text", text(recs.get(i)), Field.Store.NO));
          d.add(new StoredField("n", i));
          w.addDocument(d);
        }
      }
      List<Map<String, Object>> out = new ArrayList<>();
      try (DirectoryReader r = DirectoryReader.open(dir)) {
        IndexSearcher s = new IndexSearcher(r);
        BooleanQuery.Builder q = new BooleanQuery.Builder();
        try (TokenStream ts = a.tokenStream("text", query)) {
          CharTermAttribute term = ts.addAttribute(CharTermAttribute.class);
          ts.reset();
          int n = 0;
          while (ts.incrementToken() && n++ < 1000) {
            q.add(new TermQuery(new Term("text", term.toString())), BooleanClause.Occur.SHOULD);
          }
          ts.end();
        }
        for (ScoreDoc sd : s.search(q.build(), k).scoreDocs) {
          JsonNode rec = recs.get(s.storedFields().document(sd.doc).getField("n").numericValue().intValue());
          Map<String, Object> m = new LinkedHashMap<>();
          m.put("score", Math.round(sd.score * 1000) / 1000.0);
          m.put("id", rec.path("id").asText());
          JsonNode o = rec.path("provenance").path("origin");
          m.put("dataset", o.path("dataset").asText());
          m.put("license", o.path("license").asText());
          m.put("location", o.path("location").asText());
          List<String> steps = new ArrayList<>();
          rec.path("provenance").path("steps").forEach(st -> steps.add(st.path("name").asText()));
          m.put("steps", steps);
          String t = text(rec).strip().replace('\n', ' ');
          m.put("text", t.length() > 160 ? t.substring(0, 160) + "…" : t);
          out.add(m);
        }
      }
      return out;
    }
  }
}
