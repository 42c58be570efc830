package io.instructflow.pipelines.audit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.TestFiles;
import io.instructflow.pipelines.blend.BlendPipeline;
import io.instructflow.pipelines.blend.BlendSpec;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.pipelines.runtime.Runner;
import io.instructflow.schemas.Example;
import io.instructflow.schemas.Json;
import io.instructflow.schemas.ModelRef;
import io.instructflow.schemas.Origin;
import io.instructflow.schemas.Provenance;
import io.instructflow.schemas.RunSummary;
import io.instructflow.schemas.Step;
import io.instructflow.schemas.Verdict;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** audit: license conflicts flag exactly the conflicting rows, model terms, composition equal to the data, lineage. */
class AuditPipelineTest {
  static final Runner DIRECT = new Runner("direct", null);

  static PrintStream quiet() {
    return new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
  }

  static void alpaca(Path f, String tag, int n) throws Exception {
    List<Object> rows = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      rows.add(Map.of("instruction", "Describe " + tag + " item " + i + ".", "output", "It is item " + i + " of " + tag + "."));
    }
    Files.writeString(f, Json.pretty(rows));
  }

  @Test
  void aBlendWithANonCommercialSourceFlagsExactlyThoseRows(@TempDir Path dir) throws Exception {
    alpaca(dir.resolve("open.json"), "open", 50);
    alpaca(dir.resolve("nc.json"), "nc", 40);
    Files.writeString(dir.resolve("spec.json"), "{\"target\": 60, \"seed\": 3, \"sources\": [{\"path\": \"open.json\", \"license\": "
        + "\"Apache-2.0\", \"weight\": 1}, {\"path\": \"nc.json\", \"license\": \"CC-BY-NC-4.0\", \"weight\": 1}]}");
    BlendPipeline.run(new BlendPipeline.Config(BlendSpec.read(dir.resolve("spec.json")), dir.resolve("mix").toString(), DIRECT),
        quiet());
    TreeSet<String> ncRows = new TreeSet<>();
    Map<String, Long> byLicense = new TreeMap<>();
    for (String l : TestFiles.lines(new OutputLayout(dir.resolve("mix").toString()), OutputLayout.Kind.DATA)) {
      JsonNode n = Json.mapper().readTree(l);
      String lic = n.path("metadata").path("blend").path("license").asText();
      byLicense.merge(lic, 1L, Long::sum);
      if (lic.equals("CC-BY-NC-4.0")) {
        ncRows.add(n.path("provenance").path("origin").path("location").asText());
      }
    }
    assertEquals(30, ncRows.size());

    RunSummary s = AuditPipeline.run(new AuditPipeline.Config(List.of(dir.resolve("mix").toString()),
        dir.resolve("audit").toString(), "commercial", AuditTerms.load(null), DIRECT), quiet());
    assertTrue(s.reconciled());
    assertEquals(60, s.counts().kept());
    TreeSet<String> flaggedNc = new TreeSet<>();
    for (String l : TestFiles.lines(new OutputLayout(dir.resolve("audit").toString()), OutputLayout.Kind.DATA)) {
      JsonNode n = Json.mapper().readTree(l);
      for (JsonNode f : n.path("flags")) {
        if (f.asText().equals("license_non_commercial: CC-BY-NC-4.0")) {
          flaggedNc.add(n.path("location").asText());
        }
      }
    }
    assertEquals(ncRows, flaggedNc, "exactly the rows of the non-commercial source");
    JsonNode report = Json.mapper().readTree(dir.resolve("audit").resolve(AuditPipeline.REPORT).toFile());
    assertEquals(60, report.path("rows").asInt());
    assertEquals(30, report.path("flaggedRows").asInt(), "the Apache-2.0 rows have nothing to flag");
    assertEquals(30, report.path("flags").path("license_non_commercial: CC-BY-NC-4.0").asInt());
    assertEquals(Json.line(byLicense), Json.line(report.path("composition").path("license")), "composition equals the data");

    checkHtml(dir.resolve("audit").resolve(AuditHtml.FILE), report);

    AuditPipeline.run(new AuditPipeline.Config(List.of(dir.resolve("mix").toString()), dir.resolve("research").toString(),
        "research", AuditTerms.load(null), DIRECT), quiet());
    JsonNode research = Json.mapper().readTree(dir.resolve("research").resolve(AuditPipeline.REPORT).toFile());
    assertFalse(research.path("flags").has("license_non_commercial: CC-BY-NC-4.0"), "non-commercial data is fine for research");
  }

  static Example record(String instruction, String license, Step... steps) {
    Example e = Example.single(instruction, null, "An answer.", Map.of(),
        new Provenance(new Origin("ds", license, "in.jsonl:1", null, "alpaca", null), List.of()));
    for (Step s : steps) {
      e = e.withStep(s);
    }
    return e;
  }

  @Test
  void modelTermsCountForGeneratorsNotForJudges() throws Exception {
    AuditTerms t = AuditTerms.load(null);
    Step gen = new Step("generate", "1", Map.of(), Verdict.KEPT, List.of(), null, new ModelRef("gpt-4-0613", null, "openai"), null, 1L);
    Step judge = new Step("filter.llm_judge", "1", Map.of(), Verdict.KEPT, List.of(), null,
        new ModelRef("gpt-4-0613", null, "openai"), null, 1L);
    RecordAudit a = RecordAudit.of(record("Q1", "MIT", gen), t, "commercial");
    assertEquals(List.of("gpt-4-0613"), a.generators());
    assertEquals(List.of("model_terms: gpt-4-0613 (OpenAI, competing-models)"), a.flags());
    assertEquals(List.of(), RecordAudit.of(record("Q2", "MIT", judge), t, "commercial").flags(), "a judge only reads");
    assertEquals(List.of(), RecordAudit.of(record("Q3", "MIT", gen), t, "research").flags());
    assertEquals(List.of("license_unknown: unknown"), RecordAudit.of(record("Q4", "unknown"), t, "research").flags());
    Example known = Example.single("Q5", null, "A", Map.of(), new Provenance(new Origin("gpteacher-roleplay", "MIT", "g.json#0",
        null, "alpaca", null), List.of()));
    assertEquals(List.of("gpt-4"), RecordAudit.of(known, t, "commercial").generators(), "a public dataset known to be GPT-4 output");
  }

  @Test
  void traceReachesTheRoot(@TempDir Path dir) throws Exception {
    Example root = record("Write a haiku about rain.", "Apache-2.0");
    Example child = Example.single("Write a haiku about rain in Kyoto at night.", null, "Drops on the temple roof.", Map.of(),
        new Provenance(new Origin("gen", "Apache-2.0", "round-1/item-0", null, "generated", null), List.of()))
        .withStep(new Step("evol.evolve", "1", Map.of("operation", "concretize"), Verdict.KEPT, List.of(root.id()), null,
            new ModelRef("m.gguf", "ab", "llama.cpp"), null, 7L));
    Files.createDirectories(dir.resolve("seeds/data"));
    Files.createDirectories(dir.resolve("evol/data"));
    Files.writeString(dir.resolve("seeds/data/part-00000.jsonl"), Json.line(root) + "\n");
    Files.writeString(dir.resolve("evol/data/part-00000.jsonl"), Json.line(child) + "\n");
    Map<String, Object> t = AuditTrace.trace(AuditTrace.index(List.of(dir.resolve("evol").toString(),
        dir.resolve("seeds").toString())), child.id());
    assertEquals(true, t.get("found"));
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> parents = (List<Map<String, Object>>) t.get("parents");
    assertEquals(root.id(), parents.get(0).get("id"));
    assertEquals(true, parents.get(0).get("found"));
    assertEquals(List.of(), parents.get(0).get("parents"), "the root");
    String text = AuditTrace.text(t);
    assertTrue(text.contains("evol.evolve: kept  model m.gguf  seed 7"), text);
    assertTrue(text.contains("(root)"));
    Map<String, com.fasterxml.jackson.databind.JsonNode> both = AuditTrace.index(List.of(dir.resolve("evol").toString(),
        dir.resolve("seeds").toString()));
    assertEquals(Map.of("ds", 1.0), AuditTrace.rootShares(both, both.get(child.id())), "all of it derives from the seed");
    assertEquals(Map.of(root.id(), 1.0), AuditTrace.rootIdShares(both, both.get(child.id())));
    Example twoParents = child.withStep(new Step("evol.evolve", "1", Map.of(), Verdict.KEPT, List.of("0123456789abcdef01234567"),
        null, null, null, null));
    assertEquals(Map.of("ds", 0.5, "id:0123456789abcdef01234567", 0.5),
        AuditTrace.rootShares(both, Json.mapper().readTree(Json.line(twoParents))), "split between its parents");
    Map<String, Object> missing = AuditTrace.trace(AuditTrace.index(List.of(dir.resolve("evol").toString())), child.id());
    @SuppressWarnings("unchecked")
    List<Map<String, Object>> mp = (List<Map<String, Object>>) missing.get("parents");
    assertEquals(false, mp.get(0).get("found"), "a parent outside the inputs is named, not invented");
  }

  @Test
  void verifyCatchesAlteredMissingAndUnexpectedShardsAndFindNamesTheOrigin(@TempDir Path dir) throws Exception {
    alpaca(dir.resolve("open.json"), "open", 30);
    Files.writeString(dir.resolve("spec.json"), "{\"target\": 20, \"seed\": 1, \"shardSize\": 10, \"formats\": [\"jsonl\", "
        + "\"parquet\"], \"sources\": [{\"path\": \"open.json\", \"license\": \"MIT\", \"weight\": 1}]}");
    BlendPipeline.run(new BlendPipeline.Config(BlendSpec.read(dir.resolve("spec.json")), dir.resolve("mix").toString(), DIRECT),
        quiet());
    OutputLayout out = new OutputLayout(dir.resolve("mix").toString());
    io.instructflow.pipelines.runtime.Manifest.Check ok = io.instructflow.pipelines.runtime.Manifest.verify(out);
    assertTrue(ok.ok(), ok.toString());
    assertEquals(20, ok.rows());
    assertTrue(ok.files() >= 6, "data, filtered, exports, card, spec, plan, summary: " + ok.files());

    Path shard = dir.resolve("mix/export/jsonl/train-00000.jsonl");
    List<String> lines = Files.readAllLines(shard);
    lines.set(0, lines.get(0).replace("It is item", "It was item"));
    Files.write(shard, lines);
    Files.delete(dir.resolve("mix/export/parquet/train-00000.parquet"));
    Files.writeString(dir.resolve("mix/data/part-00099.jsonl"), "{}\n");
    io.instructflow.pipelines.runtime.Manifest.Check bad = io.instructflow.pipelines.runtime.Manifest.verify(out);
    assertFalse(bad.ok());
    assertEquals(List.of("export/jsonl/train-00000.jsonl (content differs)"), bad.changed());
    assertEquals(List.of("export/parquet/train-00000.parquet"), bad.missing());
    assertEquals(List.of("data/part-00099.jsonl"), bad.unexpected());
    assertEquals(List.of("part-00099.jsonl:1 (no id)"), bad.incomplete(), "a record without provenance");

    String wanted = Json.mapper().readTree(Files.readAllLines(dir.resolve("mix/data/part-00000.jsonl")).get(3))
        .path("instruction").asText();
    List<Map<String, Object>> hits = AuditFind.find(AuditTrace.index(List.of(dir.resolve("mix").toString())), wanted, 3);
    assertEquals(wanted + " It is item " + wanted.replaceAll("\\D", "") + " of open.",
        hits.get(0).get("text"), "the best hit is the record itself");
    assertEquals("open", hits.get(0).get("dataset"));
    assertTrue(((String) hits.get(0).get("location")).startsWith("open.json#"));
  }

  /** The page is well-formed, self-contained, and says what the report says. */
  static void checkHtml(Path html, JsonNode report) throws Exception {
    javax.xml.parsers.DocumentBuilderFactory f = javax.xml.parsers.DocumentBuilderFactory.newInstance();
    f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", false);
    f.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
    org.w3c.dom.Document d = f.newDocumentBuilder().parse(html.toFile());
    assertTrue(d.getElementsByTagName("svg").getLength() >= 7, "five composition charts, a funnel, the depth chart");
    assertEquals(0, d.getElementsByTagName("script").getLength());
    assertEquals(0, d.getElementsByTagName("img").getLength() + d.getElementsByTagName("link").getLength(), "nothing fetched");
    org.w3c.dom.NodeList all = d.getElementsByTagName("*");
    for (int i = 0; i < all.getLength(); i++) {
      org.w3c.dom.Element e = (org.w3c.dom.Element) all.item(i);
      assertTrue(e.getAttribute("src").isEmpty() && e.getAttribute("href").isEmpty(), "no external reference");
    }
    String verdict = null;
    org.w3c.dom.NodeList ps = d.getElementsByTagName("p");
    for (int i = 0; i < ps.getLength(); i++) {
      if ("verdict".equals(((org.w3c.dom.Element) ps.item(i)).getAttribute("id"))) {
        verdict = ps.item(i).getTextContent();
      }
    }
    assertEquals(String.format(java.util.Locale.ROOT, "%,d of %,d rows conflict with commercial use.",
        report.path("flaggedRows").asLong(), report.path("rows").asLong()), verdict);
    org.w3c.dom.NodeList tables = d.getElementsByTagName("table");
    org.w3c.dom.Element flags = (org.w3c.dom.Element) tables.item(0);
    assertEquals("flags", flags.getAttribute("id"));
    assertEquals(report.path("flags").size() + 1, flags.getElementsByTagName("tr").getLength());
  }

  /** With Debian's chromium installed, a real headless browser renders the page (skipped without one). */
  @Test
  void aHeadlessBrowserRendersTheReport(@TempDir Path dir) throws Exception {
    String chromium = java.util.stream.Stream.of("/usr/bin/chromium", "/usr/bin/chromium-browser")
        .filter(p -> Files.isExecutable(Path.of(p))).findFirst().orElse(null);
    org.junit.jupiter.api.Assumptions.assumeTrue(chromium != null, "no chromium on this machine");
    alpaca(dir.resolve("open.json"), "open", 20);
    Files.writeString(dir.resolve("spec.json"), "{\"target\": 10, \"sources\": [{\"path\": \"open.json\", \"license\": "
        + "\"CC-BY-NC-4.0\", \"weight\": 1}]}");
    BlendPipeline.run(new BlendPipeline.Config(BlendSpec.read(dir.resolve("spec.json")), dir.resolve("mix").toString(), DIRECT),
        quiet());
    AuditPipeline.run(new AuditPipeline.Config(List.of(dir.resolve("mix").toString()), dir.resolve("audit").toString(),
        "commercial", AuditTerms.load(null), DIRECT), quiet());
    Path png = dir.resolve("shot.png");
    Process p = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,2400",
        "--screenshot=" + png, dir.resolve("audit").resolve(AuditHtml.FILE).toUri().toString()).redirectErrorStream(true).start();
    p.getInputStream().readAllBytes();
    assertEquals(0, p.waitFor());
    assertTrue(Files.size(png) > 10_000, "a rendered page");
    Process dom = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
        dir.resolve("audit").resolve(AuditHtml.FILE).toUri().toString()).start();
    String html = new String(dom.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    dom.waitFor();
    assertTrue(html.contains("10 of 10 rows conflict with commercial use."), html.length() > 300 ? html.substring(0, 300) : html);
  }
}
