package io.instructflow.pipelines.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.pipelines.io.OutputLayout;
import io.instructflow.schemas.Json;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.ResourceId;

/**
 * The integrity manifest every command writes last into its output ({@value #FILE}): each output file
 * (shards of {@code data/}, {@code filtered/}, {@code rejects/}, exports, the summary, the card) with its
 * size, SHA-256 and, for JSON Lines, its row count. Response caches, staging and per-round state are not
 * outputs and are left out. {@code audit verify} checks an output against it.
 */
public final class Manifest {
  private Manifest() {}

  /** The manifest's file name in an output root. */
  public static final String FILE = OutputLayout.MANIFEST;
  private static final List<String> SKIPPED = List.of("cache/", ".staging/", "rounds/", "epochs/", "inputs/");

  /** One file's entry. */
  public record Entry(String path, long bytes, String sha256, Long rows) {}

  /**
   * Every output file under the root, relative path → entry, sorted. The files are listed with {@link
   * Storage#filesUnder}: on HDFS Beam's {@code **} glob leaves out the files directly in the root (the
   * summary, the card, the blend plan), so a manifest written there did not list them and {@code audit
   * verify} reported them as unexpected (issue 23 item 5, found by {@code bin/cluster-test}).
   */
  public static Map<String, Entry> scan(OutputLayout layout) throws IOException {
    String root = layout.root() + "/";
    Map<String, Entry> out = new TreeMap<>();
    for (ResourceId id : Storage.filesUnder(root)) {
      String p = id.toString();
      String rel = p.startsWith(root) ? p.substring(root.length()) : p;
      if (rel.equals(FILE) || rel.equals(OutputLayout.MARKER) || rel.equals(OutputLayout.LOCK) || rel.endsWith("/" + OutputLayout.LOCK) || SKIPPED.stream().anyMatch(s -> rel.startsWith(s) || rel.contains("/" + s))) {
        continue;
      }
      out.put(rel, entry(p, rel));
    }
    return out;
  }

  static Entry entry(String path, String rel) throws IOException {
    MessageDigest d;
    try {
      d = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    long bytes = 0;
    long lines = 0;
    byte[] buf = new byte[1 << 16];
    try (InputStream in = Channels.newInputStream(FileSystems.open(FileSystems.matchNewResource(path, false)))) {
      int k;
      while ((k = in.read(buf)) != -1) {
        d.update(buf, 0, k);
        bytes += k;
        for (int i = 0; i < k; i++) {
          lines += buf[i] == '\n' ? 1 : 0;
        }
      }
    }
    return new Entry(rel, bytes, HexFormat.of().formatHex(d.digest()), rel.endsWith(".jsonl") ? lines : null);
  }

  /**
   * Writes the manifest of the output as it is now, then seals the output with its completion marker
   * ({@link OutputLayout#seal}): the last two writes of every command. A file written after them removes
   * the marker again ({@link OutputLayout#writeFile}), and the command writes the manifest again.
   */
  public static void write(OutputLayout layout, String command) throws IOException {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("command", command);
    m.put("instructflow", Versions.instructflow());
    m.put("files", new ArrayList<>(scan(layout).values()));
    layout.writeFile(FILE, Json.pretty(m) + "\n");
    io.instructflow.pipelines.io.FaultPoint.reach("manifest.written");
    layout.seal();
  }

  /**
   * What {@code audit verify} found.
   *
   * @param files files in the manifest
   * @param changed files whose size, hash or rows differ
   * @param missing files in the manifest that are gone
   * @param unexpected output files the manifest does not list
   * @param rows records checked for provenance
   * @param incomplete records whose provenance lacks an origin field or has no step, with where they are
   * @param unsealed why the output is not complete (no completion marker, or one that does not match the
   *     manifest), or null when it is sealed
   */
  public record Check(int files, List<String> changed, List<String> missing, List<String> unexpected, long rows,
      List<String> incomplete, String unsealed) {
    /** Whether everything matched. */
    public boolean ok() {
      return unsealed == null && changed.isEmpty() && missing.isEmpty() && unexpected.isEmpty() && incomplete.isEmpty();
    }
  }

  /**
   * Checks an output's completion marker, the output against its manifest, and the provenance of every
   * record in {@code data/}. An output without a manifest (a run killed before it) is reported as
   * unsealed with every file unexpected.
   */
  public static Check verify(OutputLayout layout) throws IOException {
    String unsealed = layout.completeness();
    MatchResult found = FileSystems.match(layout.file(FILE), EmptyMatchTreatment.ALLOW);
    if (found.status() != MatchResult.Status.OK || found.metadata().isEmpty()) {
      return new Check(0, List.of(), List.of(), new ArrayList<>(scan(layout).keySet()), 0, List.of(), unsealed);
    }
    JsonNode man;
    try (InputStream in = Channels.newInputStream(FileSystems.open(FileSystems.matchNewResource(layout.file(FILE), false)))) {
      man = Json.mapper().readTree(in);
    }
    Map<String, Entry> now = scan(layout);
    List<String> changed = new ArrayList<>();
    List<String> missing = new ArrayList<>();
    int files = 0;
    for (JsonNode f : man.path("files")) {
      files++;
      String rel = f.path("path").asText();
      Entry e = now.remove(rel);
      if (e == null) {
        missing.add(rel);
      } else if (e.bytes() != f.path("bytes").asLong() || !e.sha256().equals(f.path("sha256").asText())) {
        changed.add(rel + (e.rows() != null && e.rows() != f.path("rows").asLong()
            ? String.format(" (%d rows, manifest %d)", e.rows(), f.path("rows").asLong()) : " (content differs)"));
      }
    }
    List<String> unexpected = new ArrayList<>(now.keySet());
    long rows = 0;
    List<String> incomplete = new ArrayList<>();
    for (String shard : layout.shardFiles(OutputLayout.Kind.DATA)) {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(
          Channels.newInputStream(FileSystems.open(FileSystems.matchNewResource(shard, false))), StandardCharsets.UTF_8))) {
        String line;
        long n = 0;
        while ((line = in.readLine()) != null) {
          n++;
          rows++;
          JsonNode r;
          try {
            r = Json.mapper().readTree(line);
          } catch (IOException e) {
            incomplete.add(shard.substring(shard.lastIndexOf('/') + 1) + ":" + n + " not JSON");
            continue;
          }
          JsonNode o = r.path("provenance").path("origin");
          boolean ok = o.path("dataset").isTextual() && o.path("license").isTextual() && o.path("location").isTextual()
              && r.path("provenance").path("steps").size() > 0;
          if (!ok && incomplete.size() < 1000) {
            incomplete.add(shard.substring(shard.lastIndexOf('/') + 1) + ":" + n + " " + r.path("id").asText("(no id)"));
          }
        }
      }
    }
    return new Check(files, changed, missing, unexpected, rows, incomplete, unsealed);
  }
}
