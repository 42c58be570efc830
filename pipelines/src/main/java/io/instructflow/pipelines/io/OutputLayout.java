package io.instructflow.pipelines.io;

import io.instructflow.schemas.Json;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.io.fs.MoveOptions;
import org.apache.beam.sdk.io.fs.ResolveOptions.StandardResolveOptions;
import org.apache.beam.sdk.io.fs.ResourceId;

/**
 * The output folder every command writes, and its life cycle.
 *
 * <pre>
 * OUT/data/part-NNNNN.jsonl       kept records
 * OUT/filtered/part-NNNNN.jsonl   records a filter dropped (verdict in provenance)
 * OUT/rejects/part-NNNNN.jsonl    bad input, with location and reason
 * OUT/run-summary.json            counts, reasons, timings, config, versions
 * </pre>
 *
 * OUT/MANIFEST.json               every output file with its size and SHA-256
 * OUT/_SUCCESS                    the completion marker: written last, holds the manifest's SHA-256
 * </pre>
 *
 * <p>Pipelines write ordered fragments into {@code OUT/.staging/<kind>/}; {@link #publish} then packs
 * them into shards numbered 0, 1, 2... in order, each written under a temporary name in the staging
 * folder and renamed into place, so no shard is ever seen half-written. The folders are published one
 * after another, so a run killed part way leaves an output that is incomplete as a whole: what says an
 * output is complete is the marker {@value #MARKER}, written after everything else (issue 21).
 * {@link #prepare} removes it first; {@link #writeFile} removes it before changing any file; readers of
 * an earlier output check it with {@link #requireComplete}. Paths may be local or any scheme Beam's
 * FileSystems knows.
 */
public final class OutputLayout {
  /** The folders of an output, in the order the summary lists them. */
  public enum Kind {
    DATA("data"),
    FILTERED("filtered"),
    REJECTS("rejects");

    private final String dir;

    Kind(String dir) {
      this.dir = dir;
    }

    /** The folder name. */
    public String dir() {
      return dir;
    }
  }

  private static final String STAGING = ".staging";
  /** Name of the run summary file. */
  public static final String SUMMARY = "run-summary.json";
  /** Name of the integrity manifest ({@link io.instructflow.pipelines.runtime.Manifest}). */
  public static final String MANIFEST = "MANIFEST.json";
  /**
   * Name of the completion marker: written last, atomically, holding the SHA-256 of {@value #MANIFEST};
   * an output without it (or whose manifest no longer matches it) is incomplete.
   */
  public static final String MARKER = "_SUCCESS";

  private final String root;

  /** The layout under {@code root} (a path or URI). */
  public OutputLayout(String root) {
    String r = root.startsWith("file://") ? root.substring("file://".length()) : root;
    r = r.endsWith("/") && r.length() > 1 ? r.substring(0, r.length() - 1) : r;
    this.root = isLocal(r) ? Paths.get(r).toAbsolutePath().normalize().toString() : r;
  }

  /** The output root. */
  public String root() {
    return root;
  }

  /** The staging folder a pipeline writes {@code kind} shards into. */
  public String staging(Kind kind) {
    return root + "/" + STAGING + "/" + kind.dir() + "/";
  }

  /** A staging folder of a command's own, {@code .staging/<sub>/}; {@link #prepare} empties it. */
  public String staging(String sub) {
    return root + "/" + STAGING + "/" + sub + "/";
  }

  /** The final folder of {@code kind}. */
  public String dir(Kind kind) {
    return root + "/" + kind.dir() + "/";
  }

  /** The staging folder readers write their per-file counts into. */
  public String countsDir() {
    return root + "/" + STAGING + "/counts/";
  }

  /** Writes one input file's counts (called by the reader on a worker). */
  public static void writeReadCounts(String dir, int fileIndex, long read, long blank) throws IOException {
    writeReadCounts(dir, fileIndex, 0, read, blank);
  }

  /** Writes the counts of piece {@code piece} of one input file (called by the reader on a worker). */
  public static void writeReadCounts(String dir, int fileIndex, int piece, long read, long blank) throws IOException {
    ResourceId id = FileSystems.matchNewResource(dir, true)
        .resolve(String.format("file-%09d-%06d.json", fileIndex, piece), StandardResolveOptions.RESOLVE_FILE);
    try (OutputStream os = Channels.newOutputStream(FileSystems.create(id, "application/json"))) {
      os.write(("{\"read\":" + read + ",\"blank\":" + blank + "}").getBytes(StandardCharsets.UTF_8));
    }
  }

  /**
   * Sums and removes the per-piece counts the reader wrote: {@code [read, blank lines, files]}. Exact
   * even when Spark re-ran a task, since a re-run rewrites its file.
   */
  public long[] takeReadCounts() throws IOException {
    long[] sum = new long[3];
    List<ResourceId> files = files(countsDir(), "file-*.json");
    java.util.Set<String> inputs = new java.util.HashSet<>();
    for (ResourceId f : files) {
      try (InputStream in = Channels.newInputStream(FileSystems.open(f))) {
        com.fasterxml.jackson.databind.JsonNode n = Json.mapper().readTree(in);
        sum[0] += n.path("read").asLong();
        sum[1] += n.path("blank").asLong();
        inputs.add(f.getFilename().substring(0, "file-".length() + 9));
      }
    }
    sum[2] = inputs.size();
    if (!files.isEmpty()) {
      FileSystems.delete(files, MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
    }
    removeEmptyStaging("counts");
    return sum;
  }

  void removeEmptyStaging(String sub) throws IOException {
    if (!isLocal(root)) {
      return;
    }
    Files.deleteIfExists(Paths.get(root, STAGING, sub));
    Path st = Paths.get(root, STAGING);
    if (Files.isDirectory(st)) {
      try (var list = Files.list(st)) {
        if (list.findAny().isEmpty()) {
          Files.deleteIfExists(st);
        }
      }
    }
  }

  /** Path of another file in the output root. */
  public String file(String name) {
    return root + "/" + name;
  }

  /** The lock file a run holds in its output root. */
  public static final String LOCK = ".lock";

  /** Another live process holds the output folder. */
  public static final class LockedException extends IOException {
    private static final long serialVersionUID = 1L;

    LockedException(String message) {
      super(message);
    }
  }

  /** Lock files this process holds, released when the JVM exits. */
  private static final java.util.Set<Path> HELD = java.util.concurrent.ConcurrentHashMap.newKeySet();

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(OutputLayout::releaseAll, "instructflow-out-locks"));
  }

  /**
   * Takes {@code OUT/.lock} for this process: created atomically, holding the pid, host, start time and
   * command. A lock another live process holds stops this run at once ({@link LockedException}, exit
   * status 2) with a message naming it; one left by a process on this host that no longer runs (a run
   * killed with {@code kill -9}) is taken over. This process may take its own lock again. Local
   * folders only: for other file systems nothing is locked (docs/formats.md, Output layout). Released at exit or by
   * {@link #unlock}.
   */
  public void lock(String command) throws IOException {
    if (!isLocal(root)) {
      requireFileSystem(root);
      return;
    }
    Path dir = Paths.get(root);
    Files.createDirectories(dir);
    Path lock = dir.resolve(LOCK);
    long pid = ProcessHandle.current().pid();
    String host = host();
    java.util.Map<String, Object> me = new java.util.LinkedHashMap<>();
    me.put("pid", pid);
    me.put("host", host);
    me.put("started", ProcessHandle.current().info().startInstant().map(Object::toString).orElse("unknown"));
    me.put("command", command);
    for (int attempt = 0; attempt < 3; attempt++) {
      try {
        Files.writeString(lock, Json.line(me) + "\n", StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE_NEW,
            java.nio.file.StandardOpenOption.WRITE);
        HELD.add(lock);
        return;
      } catch (java.nio.file.FileAlreadyExistsException e) {
        String text;
        try {
          text = Files.readString(lock, StandardCharsets.UTF_8);
        } catch (java.nio.file.NoSuchFileException gone) {
          continue;
        }
        com.fasterxml.jackson.databind.JsonNode h;
        try {
          h = Json.mapper().readTree(text);
        } catch (IOException bad) {
          h = Json.mapper().createObjectNode();
        }
        long holder = h.path("pid").asLong(-1);
        boolean here = host.equals(h.path("host").asText());
        if (here && holder == pid) {
          HELD.add(lock);
          return;
        }
        boolean alive = here && holder > 0 && ProcessHandle.of(holder).map(ProcessHandle::isAlive).orElse(false);
        if (here && !alive) {
          // a dead holder's lock: remove it only if it is still the one read, then try again
          if (text.equals(readOrNull(lock))) {
            Files.deleteIfExists(lock);
          }
          continue;
        }
        throw new LockedException(String.format(java.util.Locale.ROOT,
            "%s is in use by another run: %s (pid %s on %s, started %s). Wait for it to finish, or choose another "
                + "--out.%s", root, h.path("command").asText("a command"), holder < 0 ? "unknown" : String.valueOf(holder),
            h.path("host").asText("an unknown host"), h.path("started").asText("at an unknown time"),
            here ? "" : " If that run is gone, remove " + lock + "."));
      }
    }
    throw new LockedException("could not take the lock " + lock + ": it keeps changing");
  }

  /** Releases this process's lock on the output root, if it holds it. */
  public void unlock() throws IOException {
    if (isLocal(root)) {
      Path lock = Paths.get(root).resolve(LOCK);
      if (HELD.remove(lock)) {
        Files.deleteIfExists(lock);
      }
    }
  }

  private static void releaseAll() {
    for (Path p : HELD) {
      try {
        Files.deleteIfExists(p);
      } catch (IOException ignored) {
        // the next run finds a dead holder's lock and takes it over
      }
    }
    HELD.clear();
  }

  private static String readOrNull(Path p) {
    try {
      return Files.readString(p, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return null;
    }
  }

  private static String host() {
    try {
      return java.net.InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      return "localhost";
    }
  }

  /**
   * Removes the outputs of an earlier run (only our folders and files) and creates the folders. The
   * completion marker and the manifest go first, so that from here until the run seals its output again
   * no reader takes it for complete; then the shards, the summary and everything staged (a killed run's
   * fragments and temporary files included).
   */
  public void prepare() throws IOException {
    delete(file(MARKER));
    delete(file(MANIFEST));
    for (Kind k : Kind.values()) {
      deleteShards(dir(k));
    }
    delete(file(SUMMARY));
    // every file under .staging, at any depth: on HDFS Beam's ** glob leaves out a folder's direct files
    List<ResourceId> staged = io.instructflow.pipelines.runtime.Storage.filesUnder(root + "/" + STAGING + "/");
    if (!staged.isEmpty()) {
      FileSystems.delete(staged, MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
    }
    if (isLocal(root)) {
      Path st = Paths.get(root, STAGING);
      if (Files.isDirectory(st)) {
        try (var walk = Files.walk(st)) {
          for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
            Files.deleteIfExists(q);
          }
        }
      }
      for (Kind k : Kind.values()) {
        Files.createDirectories(Paths.get(root, k.dir()));
      }
    }
    FaultPoint.reach("prepare.done");
  }

  /**
   * Packs the staged fragments of {@code kind}, in global order, into shards {@code part-00000.jsonl},
   * {@code part-00001.jsonl}... of at most {@code shardSize} lines (a single larger fragment makes a
   * shard of its own), then removes the staging folder; returns the final files. A shard made of one
   * fragment is moved, not copied.
   */
  public List<String> publish(Kind kind, long shardSize) throws IOException {
    if (shardSize < 1) {
      throw new IllegalArgumentException("shard size must be positive, got " + shardSize);
    }
    List<ResourceId> fragments = new ArrayList<>(fragments(staging(kind)).values());
    List<Long> sizes = new ArrayList<>();
    fragments.forEach(f -> sizes.add(WriteOrdered.linesOf(f.getFilename())));
    List<List<ResourceId>> shards = new ArrayList<>();
    int next = 0;
    for (int count : shardCuts(sizes, shardSize)) {
      shards.add(fragments.subList(next, next + count));
      next += count;
    }
    ResourceId dir = FileSystems.matchNewResource(dir(kind), true);
    ResourceId staging = FileSystems.matchNewResource(staging(kind), true);
    List<String> out = new ArrayList<>();
    byte[] buf = new byte[1 << 20];
    String point = "publish." + kind.dir();
    for (int i = 0; i < shards.size(); i++) {
      List<ResourceId> parts = shards.get(i);
      String name = shardName(i);
      ResourceId target = dir.resolve(name, StandardResolveOptions.RESOLVE_FILE);
      if (parts.size() == 1) {
        // a whole fragment already: renamed into place
        FileSystems.rename(parts, List.of(target));
      } else {
        // packed under a temporary name beside the fragments, then renamed: never half a shard in data/
        ResourceId tmp = staging.resolve(TMP_PREFIX + name, StandardResolveOptions.RESOLVE_FILE);
        try (OutputStream os = Channels.newOutputStream(FileSystems.create(tmp, "application/jsonl"))) {
          for (int p = 0; p < parts.size(); p++) {
            try (InputStream in = Channels.newInputStream(FileSystems.open(parts.get(p)))) {
              int k;
              while ((k = in.read(buf)) != -1) {
                os.write(buf, 0, k);
              }
            }
            if (p == 0) {
              os.flush();
              FaultPoint.reach(point + ".packing-" + i);
            }
          }
        }
        FileSystems.rename(List.of(tmp), List.of(target));
        FileSystems.delete(parts, MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
      }
      out.add(target.toString());
      FaultPoint.reach(point + ".shard-" + i);
    }
    removeEmptyStaging(kind.dir());
    FaultPoint.reach(point + ".done");
    return out;
  }

  /**
   * How {@link #publish} cuts fragments of {@code lines} lines each (in global order) into shards of at
   * most {@code shardSize} lines: the number of fragments in each shard, in order. A fragment larger than
   * a shard makes a shard of its own. A reader in the same pipeline ({@link HandOff}) numbers the lines
   * of the shards-to-be with this too, so both always agree.
   */
  public static List<Integer> shardCuts(List<Long> lines, long shardSize) {
    List<Integer> cuts = new ArrayList<>();
    int inShard = 0;
    long shardLines = 0;
    for (long n : lines) {
      if (inShard > 0 && shardLines + n > shardSize) {
        cuts.add(inShard);
        inShard = 0;
        shardLines = 0;
      }
      inShard++;
      shardLines += n;
    }
    if (inShard > 0) {
      cuts.add(inShard);
    }
    return cuts;
  }

  /** The file name of shard {@code index}: {@code part-00000.jsonl}, {@code part-00001.jsonl}... */
  public static String shardName(int index) {
    return String.format(Locale.ROOT, "part-%05d.jsonl", index);
  }

  /** Prefix of the temporary files publish and staging write before renaming them. */
  static final String TMP_PREFIX = "tmp-";

  /**
   * Seals the output: writes the completion marker {@value #MARKER} holding the SHA-256 of
   * {@value #MANIFEST}, under a temporary name first and then renamed, so the marker is whole or absent.
   * Call it last, after the manifest.
   */
  public void seal() throws IOException {
    String sha = sha256(file(MANIFEST));
    ResourceId tmp = FileSystems.matchNewResource(staging("marker"), true)
        .resolve(TMP_PREFIX + MARKER, StandardResolveOptions.RESOLVE_FILE);
    try (OutputStream os = Channels.newOutputStream(FileSystems.create(tmp, "application/json"))) {
      os.write(markerText(sha).getBytes(StandardCharsets.UTF_8));
    }
    FileSystems.rename(List.of(tmp), List.of(FileSystems.matchNewResource(file(MARKER), false)));
    removeEmptyStaging("marker");
  }

  static String markerText(String manifestSha256) {
    return "{\"manifest\":\"" + MANIFEST + "\",\"sha256\":\"" + manifestSha256 + "\"}\n";
  }

  /** An output that a reader was given is not complete. */
  public static final class IncompleteException extends IOException {
    private static final long serialVersionUID = 1L;

    IncompleteException(String message) {
      super(message);
    }
  }

  /**
   * The output root {@code path} belongs to: {@code path} itself when it holds our three folders
   * ({@code data/}, {@code filtered/}, {@code rejects/}), its parent (or grandparent for a shard file) when
   * {@code path} is one of those folders or a file in one; else empty. Local paths are recognised by
   * their folders; other file systems only by a path that ends in one of the three folder names.
   */
  public static java.util.Optional<String> outputRootOf(String path) {
    String p = path.startsWith("file://") ? path.substring("file://".length()) : path;
    if (isLocal(p)) {
      Path q = Paths.get(p).toAbsolutePath().normalize();
      for (int up = 0; up < 3 && q != null; up++, q = q.getParent()) {
        if (Files.isDirectory(q) && isRoot(q)) {
          if (up == 0 || isKindDir(Paths.get(p).toAbsolutePath().normalize(), q)) {
            return java.util.Optional.of(q.toString());
          }
          return java.util.Optional.empty();
        }
      }
      return java.util.Optional.empty();
    }
    String r = p.endsWith("/") ? p.substring(0, p.length() - 1) : p;
    for (Kind k : Kind.values()) {
      if (r.endsWith("/" + k.dir())) {
        return java.util.Optional.of(r.substring(0, r.length() - k.dir().length() - 1));
      }
    }
    return java.util.Optional.empty();
  }

  private static boolean isRoot(Path q) {
    for (Kind k : Kind.values()) {
      if (!Files.isDirectory(q.resolve(k.dir()))) {
        return false;
      }
    }
    return true;
  }

  /** Whether {@code p} is {@code root}'s data/, filtered/ or rejects/ folder or a file directly in one. */
  private static boolean isKindDir(Path p, Path root) {
    for (Kind k : Kind.values()) {
      Path d = root.resolve(k.dir());
      if (p.equals(d) || d.equals(p.getParent())) {
        return true;
      }
    }
    return false;
  }

  /**
   * Checks that {@code path}, when it is an output of ours or a folder or file inside one, is complete:
   * its marker is there and matches its manifest. Any other path passes unchecked.
   *
   * @throws IncompleteException naming the output, what is wrong, and what to do
   */
  public static void requireComplete(String path) throws IOException {
    java.util.Optional<String> root = outputRootOf(path);
    if (root.isEmpty()) {
      return;
    }
    new OutputLayout(root.get()).requireComplete();
  }

  /**
   * Checks that this output is complete: its marker is there and matches its manifest.
   *
   * @throws IncompleteException naming the output, what is wrong, and what to do
   */
  public void requireComplete() throws IOException {
    String problem = completeness();
    if (problem != null) {
      throw new IncompleteException(root + " is not a complete output: " + problem + ". Rerun the command that "
          + "wrote it into the same --out (the rerun replaces what is there), then read it again; `instructflow audit "
          + "verify --in " + root + "` checks an output.");
    }
  }

  /**
   * Whether {@code path} names the root folder of an output of ours, finished or not: a folder that
   * directly holds {@value #MANIFEST} or {@value #SUMMARY} (files only our runs write there), or, for a
   * local folder, our three folders ({@link #outputRootOf}'s rule). The root files let an output copied
   * without its empty folders (by git, or to an object store, where empty folders do not exist) still be
   * recognised; a bare {@code _SUCCESS}, as Spark and Hadoop jobs leave beside their part files, is not
   * enough. Other file systems are asked through Beam's FileSystems; a glob is never a root.
   */
  public static boolean isOutputRoot(String path) throws IOException {
    String p = path.startsWith("file://") ? path.substring("file://".length()) : path;
    if (isLocal(p)) {
      Path q = Paths.get(p).toAbsolutePath().normalize();
      return Files.isDirectory(q) && (Files.isRegularFile(q.resolve(MANIFEST)) || Files.isRegularFile(q.resolve(SUMMARY))
          || isRoot(q));
    }
    if (p.contains("*") || p.contains("?") || p.contains("[")) {
      return false;
    }
    String dir = p.endsWith("/") ? p : p + "/";
    for (String name : List.of(MANIFEST, SUMMARY)) {
      MatchResult m = FileSystems.match(dir + name, EmptyMatchTreatment.ALLOW);
      if (m.status() == MatchResult.Status.OK && !m.metadata().isEmpty()) {
        return true;
      }
    }
    return false;
  }

  /** Null when this output is sealed and its manifest matches the marker, else what is wrong. */
  public String completeness() throws IOException {
    String marker = readSmall(file(MARKER));
    if (marker == null) {
      return "it has no completion marker " + MARKER + ", so the run that wrote it did not finish (it was killed, "
          + "failed, or is still running)";
    }
    String want;
    try {
      want = Json.mapper().readTree(marker).path("sha256").asText("");
    } catch (IOException e) {
      want = "";
    }
    if (readSmall(file(MANIFEST)) == null) {
      return "its " + MANIFEST + " is missing";
    }
    if (!want.equals(sha256(file(MANIFEST)))) {
      return "its " + MANIFEST + " does not match the SHA-256 in " + MARKER + " (changed after the run finished)";
    }
    return null;
  }

  private static String readSmall(String file) throws IOException {
    MatchResult m = FileSystems.match(file, EmptyMatchTreatment.ALLOW);
    if (m.status() != MatchResult.Status.OK || m.metadata().isEmpty()) {
      return null;
    }
    try (InputStream in = Channels.newInputStream(FileSystems.open(m.metadata().get(0).resourceId()))) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  private static String sha256(String file) throws IOException {
    java.security.MessageDigest d;
    try {
      d = java.security.MessageDigest.getInstance("SHA-256");
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    byte[] buf = new byte[1 << 16];
    try (InputStream in = Channels.newInputStream(FileSystems.open(FileSystems.matchNewResource(file, false)))) {
      int k;
      while ((k = in.read(buf)) != -1) {
        d.update(buf, 0, k);
      }
    }
    return java.util.HexFormat.of().formatHex(d.digest());
  }

  /** The ordered fragments staged in folder {@code dir}, by fragment key (global order). */
  static TreeMap<String, ResourceId> fragments(String dir) throws IOException {
    TreeMap<String, ResourceId> out = new TreeMap<>();
    for (ResourceId f : files(dir, "frag-*.jsonl")) {
      if (WriteOrdered.isFragment(f.getFilename())) {
        out.put(WriteOrdered.fragmentKeyOf(f.getFilename()), f);
      }
    }
    return out;
  }

  /**
   * Stages the published shards of {@code other}'s {@code kind} as one fragment that sorts as source
   * {@code source}, so that {@link #publish} packs several finished outputs (the rounds of a
   * generator) into this one's shards, in source order. Copies; {@code other} is left as it was.
   * Nothing is staged when {@code other} has no records of that kind.
   */
  public void stageFrom(OutputLayout other, Kind kind, int source) throws IOException {
    List<ResourceId> parts = shards(other.dir(kind));
    if (parts.isEmpty()) {
      return;
    }
    String key = WriteOrdered.fragmentKey(new OrderKey(source, 0, 0));
    ResourceId staging = FileSystems.matchNewResource(staging(kind), true);
    ResourceId tmp = staging.resolve("tmp-" + key + ".jsonl", StandardResolveOptions.RESOLVE_FILE);
    long lines = 0;
    byte[] buf = new byte[1 << 16];
    try (OutputStream os = Channels.newOutputStream(FileSystems.create(tmp, "application/jsonl"))) {
      for (ResourceId part : parts) {
        try (InputStream in = Channels.newInputStream(FileSystems.open(part))) {
          int k;
          while ((k = in.read(buf)) != -1) {
            os.write(buf, 0, k);
            for (int i = 0; i < k; i++) {
              lines += buf[i] == '\n' ? 1 : 0;
            }
          }
        }
      }
    }
    FileSystems.rename(List.of(tmp),
        List.of(staging.resolve(WriteOrdered.fragmentName(key, lines), StandardResolveOptions.RESOLVE_FILE)));
  }

  /**
   * Stages the lines of the published {@code kind} shards of {@code sources} (taken in order, each
   * source's shards in order) in one shuffle: a Fisher-Yates permutation drawn from
   * {@code new Random(seed)}, so the same inputs and seed stage the same bytes. Written as fragments of
   * at most {@code chunk} lines that sort before anything else staged as source 0; returns the lines
   * staged. Lines are read back by position, so memory holds three numbers per line, not the records.
   */
  public long stageShuffled(List<OutputLayout> sources, Kind kind, long seed, long chunk) throws IOException {
    if (chunk < 1) {
      throw new IllegalArgumentException("chunk must be positive, got " + chunk);
    }
    List<Path> files = new ArrayList<>();
    for (OutputLayout o : sources) {
      for (String f : o.shardFiles(kind)) {
        files.add(Paths.get(f));
      }
    }
    // each line: its file, where it starts and its length (with the newline)
    int[] file = new int[1024];
    long[] start = new long[1024];
    int[] length = new int[1024];
    int n = 0;
    for (int fi = 0; fi < files.size(); fi++) {
      try (InputStream in = new java.io.BufferedInputStream(Files.newInputStream(files.get(fi)), 1 << 16)) {
        long pos = 0;
        long lineStart = 0;
        int b;
        while ((b = in.read()) != -1) {
          pos++;
          if (b == '\n') {
            if (n == file.length) {
              file = java.util.Arrays.copyOf(file, n * 2);
              start = java.util.Arrays.copyOf(start, n * 2);
              length = java.util.Arrays.copyOf(length, n * 2);
            }
            file[n] = fi;
            start[n] = lineStart;
            length[n] = Math.toIntExact(pos - lineStart);
            n++;
            lineStart = pos;
          }
        }
        if (pos != lineStart) {
          throw new IOException(files.get(fi) + " does not end with a newline");
        }
      }
    }
    int[] order = new int[n];
    for (int i = 0; i < n; i++) {
      order[i] = i;
    }
    java.util.Random rng = new java.util.Random(seed);
    for (int i = n - 1; i > 0; i--) {
      int j = rng.nextInt(i + 1);
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    ResourceId staging = FileSystems.matchNewResource(staging(kind), true);
    java.io.RandomAccessFile[] open = new java.io.RandomAccessFile[files.size()];
    try {
      int piece = 0;
      for (int from = 0; from < n; piece++) {
        int to = (int) Math.min(n, from + chunk);
        // one ordering block per piece (a key names a block of FRAGMENT_POSITIONS positions)
        String key = WriteOrdered.fragmentKey(new OrderKey(0, piece * WriteOrdered.FRAGMENT_POSITIONS, 0));
        ResourceId tmp = staging.resolve("tmp-" + key + ".jsonl", StandardResolveOptions.RESOLVE_FILE);
        try (OutputStream os = new java.io.BufferedOutputStream(
            Channels.newOutputStream(FileSystems.create(tmp, "application/jsonl")), 1 << 16)) {
          for (int i = from; i < to; i++) {
            int line = order[i];
            if (open[file[line]] == null) {
              open[file[line]] = new java.io.RandomAccessFile(files.get(file[line]).toFile(), "r");
            }
            byte[] bytes = new byte[length[line]];
            open[file[line]].seek(start[line]);
            open[file[line]].readFully(bytes);
            os.write(bytes);
          }
        }
        FileSystems.rename(List.of(tmp), List.of(staging.resolve(WriteOrdered.fragmentName(key, to - from),
            StandardResolveOptions.RESOLVE_FILE)));
        from = to;
      }
    } finally {
      for (java.io.RandomAccessFile f : open) {
        if (f != null) {
          f.close();
        }
      }
    }
    return n;
  }

  /** The shard files of {@code kind} in order. */
  public List<String> shardFiles(Kind kind) throws IOException {
    List<String> out = new ArrayList<>();
    for (ResourceId r : shards(dir(kind))) {
      out.add(r.toString());
    }
    return out;
  }

  /** Number of lines in the shards of {@code kind}. */
  public long countLines(Kind kind) throws IOException {
    long n = 0;
    byte[] buf = new byte[1 << 16];
    for (ResourceId r : shards(dir(kind))) {
      try (InputStream in = Channels.newInputStream(FileSystems.open(r))) {
        int k;
        while ((k = in.read(buf)) != -1) {
          for (int i = 0; i < k; i++) {
            if (buf[i] == '\n') {
              n++;
            }
          }
        }
      }
    }
    return n;
  }

  /** Counts of the JSON string field {@code field} over every line of {@code kind}'s shards. */
  public Map<String, Long> countBy(Kind kind, String... path) throws IOException {
    Map<String, Long> out = new TreeMap<>();
    for (ResourceId r : shards(dir(kind))) {
      try (BufferedReader in =
          new BufferedReader(new InputStreamReader(Channels.newInputStream(FileSystems.open(r)), StandardCharsets.UTF_8))) {
        String line;
        while ((line = in.readLine()) != null) {
          com.fasterxml.jackson.databind.JsonNode n = Json.mapper().readTree(line);
          for (String p : path) {
            n = n.path(p);
          }
          out.merge(n.isMissingNode() ? "(none)" : n.asText(), 1L, Long::sum);
        }
      }
    }
    return out;
  }

  /**
   * Writes a small UTF-8 text file in the output root. The completion marker goes first: a changed
   * output is not complete until {@link #seal} runs again.
   */
  public void writeFile(String name, String text) throws IOException {
    delete(file(MARKER));
    ResourceId id = FileSystems.matchNewResource(file(name), false);
    try (OutputStream os = Channels.newOutputStream(FileSystems.create(id, "application/json"))) {
      os.write(text.getBytes(StandardCharsets.UTF_8));
    }
  }

  private static List<ResourceId> shards(String dir) throws IOException {
    return files(dir, "part-*.jsonl");
  }

  private static List<ResourceId> files(String dir, String glob) throws IOException {
    MatchResult m = FileSystems.match(dir + glob, EmptyMatchTreatment.ALLOW);
    if (m.status() == MatchResult.Status.NOT_FOUND) {
      return List.of();
    }
    List<ResourceId> out = new ArrayList<>();
    for (MatchResult.Metadata md : m.metadata()) {
      out.add(md.resourceId());
    }
    out.sort(Comparator.comparing(ResourceId::toString));
    return out;
  }

  private static void deleteShards(String dir) throws IOException {
    List<ResourceId> s = shards(dir);
    if (!s.isEmpty()) {
      FileSystems.delete(s, MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
    }
  }

  private static void delete(String file) throws IOException {
    FileSystems.delete(
        List.of(FileSystems.matchNewResource(file, false)), MoveOptions.StandardMoveOptions.IGNORE_MISSING_FILES);
  }

  /** An output path on a file system this process cannot write (no Beam filesystem for its scheme). */
  public static final class UnsupportedOutputException extends IOException {
    private static final long serialVersionUID = 1L;

    UnsupportedOutputException(String message) {
      super(message);
    }
  }

  /**
   * Checks that Beam's FileSystems can reach {@code path} (a path with a scheme such as {@code s3://}),
   * before anything runs (issue 21): a scheme with no registered filesystem, or one whose filesystem
   * cannot even list the folder here, would fail the run part way.
   *
   * @throws UnsupportedOutputException naming the scheme and what to do instead
   */
  public static void requireFileSystem(String path) throws UnsupportedOutputException {
    String scheme = path.substring(0, Math.max(0, path.indexOf(':')));
    String dir = path.endsWith("/") ? path : path + "/";
    try {
      FileSystems.matchNewResource(dir, true);
    } catch (IllegalArgumentException e) {
      throw new UnsupportedOutputException("--out " + path + ": no Beam filesystem for the scheme '" + scheme + "' is on the "
          + "class path, so nothing can be written there. Write to a local or shared folder, then copy the finished output "
          + "to the object store.");
    }
    try {
      FileSystems.match(dir + MARKER, EmptyMatchTreatment.ALLOW);
    } catch (IOException | RuntimeException | LinkageError e) {
      // e.g. gs:// here: Beam's GCS filesystem is on the class path but fails on a Guava clash
      throw new UnsupportedOutputException("--out " + path + ": Beam's filesystem for the scheme '" + scheme + "' cannot "
          + "reach it (" + e + "). Write to a local or shared folder, then copy the finished output.");
    }
  }

  /** Whether {@code p} is a local path: no scheme, or {@code file://}. */
  public static boolean isLocalPath(String p) {
    return isLocal(p);
  }

  /**
   * Returns {@code path} when it is local (a {@code file://} prefix taken off); else refuses it, for {@code what} that is written with local
   * file operations (a response cache, the rounds of a generator), which would otherwise turn
   * {@code s3://bucket/x} into a local folder named {@code s3:} (issue 21).
   *
   * @throws IllegalArgumentException naming the path and what to do instead
   */
  public static String requireLocal(String path, String what) {
    if (path != null && !isLocal(path)) {
      throw new IllegalArgumentException(what + " must be a local folder, got " + path + ": it is written with local file "
          + "operations, which would turn it into a local folder named '" + path.substring(0, path.indexOf(':') + 1)
          + "'. Use a local folder (and copy the finished output to the object store afterwards).");
    }
    return path != null && path.startsWith("file://") ? path.substring("file://".length()) : path;
  }

  static boolean isLocal(String p) {
    return !p.matches("^[a-zA-Z][a-zA-Z0-9+.-]*://.*") || p.startsWith("file://");
  }
}
