package io.instructflow.inference.llama;

import io.instructflow.schemas.Ids;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * llama.cpp's CPU libraries built for this machine's processor by {@code bin/build-llama tuned}
 * ({@code -march=native}, without OpenMP), kept in the user's cache: one folder per llama.cpp release,
 * build recipe and processor, {@code ROOT/node-llama-cpp-VERSION-RECIPE-KEY}, holding the libraries and a manifest
 * ({@code build.properties}) of the release, the processor fields the key is made of, the compiler and
 * each library's SHA-256.
 *
 * <p>The key is the first 16 hex digits of the SHA-256 of three fields of the first processor in
 * {@code /proc/cpuinfo}, each followed by a newline: {@code vendor_id}, {@code model name} and
 * {@code flags} (the script computes it with awk and sha256sum; a test checks the two agree). Code
 * compiled for one processor's flags can die of an illegal instruction on another, so a folder is only
 * ever used on a processor with the same fields, never on a "similar" one. On a cluster whose nodes
 * share a home folder, each kind of node gets its own folder. A processor without a {@code flags} line
 * (not x86) has no tuned build.
 *
 * <p>Before a folder is used it is checked (the cache is the user's own, unlike the shared temporary
 * folder the jar's build is extracted to, but a library is code this process will run): a real folder
 * owned by this process's user and not writable by group or others; a manifest for this release and this
 * processor; exactly the manifest's libraries as regular files of this user, not writable by others, with
 * the SHA-256 it lists; besides them only symbolic links that name a file of the folder (the sonames the
 * build makes). A folder that fails is not used (a warning says why) and the jar's build runs.
 */
final class TunedBuild {
  /** System property naming the cache folder (default: see {@link #root}). */
  static final String CACHE_PROPERTY = "instructflow.llama.cache";
  /** Environment variable, same meaning as {@link #CACHE_PROPERTY}; {@code bin/build-llama} reads it too. */
  static final String CACHE_ENV = "INSTRUCTFLOW_LLAMA_CACHE";
  static final String MANIFEST = "build.properties";
  /** How {@code bin/build-llama tuned} builds (its {@code RECIPE}, which a test checks against this). */
  static final String RECIPE = "r1";

  private TunedBuild() {}

  /**
   * The cache folder: {@value #CACHE_PROPERTY}, else {@value #CACHE_ENV}, else
   * {@code $XDG_CACHE_HOME/instructflow/llama-cpu}, else {@code $HOME/.cache/instructflow/llama-cpu}
   * (as the script: {@code HOME}, which can differ from Java's {@code user.home}, then {@code user.home}).
   */
  static Path root() {
    String p = System.getProperty(CACHE_PROPERTY);
    if (p == null || p.isBlank()) {
      p = System.getenv(CACHE_ENV);
    }
    if (p != null && !p.isBlank()) {
      return Paths.get(p);
    }
    String xdg = System.getenv("XDG_CACHE_HOME");
    String home = System.getenv("HOME");
    if (home == null || home.isBlank()) {
      home = System.getProperty("user.home", "/nonexistent");
    }
    Path base = xdg != null && !xdg.isBlank() ? Paths.get(xdg) : Paths.get(home, ".cache");
    return base.resolve("instructflow").resolve("llama-cpu");
  }

  /** The processor fields a build is keyed on, read from a {@code /proc/cpuinfo} text: vendor, model name, flags. */
  static String[] cpuFields(String cpuinfo) {
    String vendor = null;
    String model = null;
    String flags = null;
    for (String line : cpuinfo.split("\n", -1)) {
      int colon = line.indexOf(':');
      if (colon < 0) {
        continue;
      }
      String key = line.substring(0, colon).strip();
      String value = line.substring(colon + 1).strip();
      if (vendor == null && key.equals("vendor_id")) {
        vendor = value;
      } else if (model == null && key.equals("model name")) {
        model = value;
      } else if (flags == null && key.equals("flags")) {
        flags = value;
      }
    }
    return new String[] {vendor == null ? "" : vendor, model == null ? "" : model, flags == null ? "" : flags};
  }

  /** The key of a processor's fields (see the class comment). */
  static String cpuKey(String[] fields) {
    String text = fields[0] + "\n" + fields[1] + "\n" + fields[2] + "\n";
    return Ids.sha256Hex(text.getBytes(StandardCharsets.UTF_8)).substring(0, 16);
  }

  /** This machine's processor fields, or null where {@code /proc/cpuinfo} cannot be read (not Linux). */
  static String[] thisCpu() {
    try {
      return cpuFields(Files.readString(Paths.get("/proc/cpuinfo"), StandardCharsets.UTF_8));
    } catch (IOException | UncheckedIOException e) {
      return null;
    }
  }

  /** The folder name of a release's tuned build for a processor key. */
  static String folderName(String release, String cpuKey) {
    return release + "-" + RECIPE + "-" + cpuKey;
  }

  /** What looking for a tuned build found: the folder to load, or null and (when a folder was refused) why. */
  record Found(Path dir, String refused) {}

  /**
   * The tuned build for {@code release} (e.g. {@code node-llama-cpp-3.22.1}) and this processor under
   * {@code root}: the folder when it exists and checks out; null with no reason when there is none;
   * null with the reason when one exists but fails its check.
   */
  static Found find(Path root, String release, String[] cpu, Object uid) {
    if (cpu == null || cpu[2].isEmpty()) {
      return new Found(null, null);
    }
    Path dir = root.resolve(folderName(release, cpuKey(cpu)));
    if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
      return new Found(null, null);
    }
    try {
      String bad = check(dir, release, cpu, uid);
      return bad == null ? new Found(dir, null) : new Found(null, dir + ": " + bad);
    } catch (IOException | UncheckedIOException e) {
      return new Found(null, dir + ": cannot be read (" + e.getMessage() + ")");
    }
  }

  private static final Set<PosixFilePermission> OTHERS_WRITE = Set.of(PosixFilePermission.GROUP_WRITE,
      PosixFilePermission.OTHERS_WRITE);

  /** Why {@code dir} is not a tuned build this process may load, or null when it is (see the class comment). */
  static String check(Path dir, String release, String[] cpu, Object uid) throws IOException {
    String bad = ownedAndPrivate(dir, uid, true);
    if (bad != null) {
      return bad;
    }
    Path manifest = dir.resolve(MANIFEST);
    bad = ownedAndPrivate(manifest, uid, false);
    if (bad != null) {
      return bad;
    }
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(manifest, StandardCharsets.UTF_8)) {
      p.load(r);
    }
    if (!release.equals(p.getProperty("release"))) {
      return "built from " + p.getProperty("release") + ", not " + release;
    }
    if (!RECIPE.equals(p.getProperty("recipe"))) {
      return "built by recipe " + p.getProperty("recipe") + ", not " + RECIPE;
    }
    String[] built = {p.getProperty("cpu_vendor", ""), p.getProperty("cpu_model", ""), p.getProperty("cpu_flags", "")};
    if (!java.util.Arrays.equals(built, cpu)) {
      return "built for another processor (" + built[1] + ")";
    }
    if (!cpuKey(cpu).equals(p.getProperty("cpu_key"))) {
      return "its manifest's cpu_key does not match its processor fields";
    }
    Map<String, String> sums = new TreeMap<>();
    for (String k : p.stringPropertyNames()) {
      if (k.startsWith("sha256.")) {
        sums.put(k.substring("sha256.".length()), p.getProperty(k));
      }
    }
    if (sums.keySet().stream().noneMatch(n -> n.startsWith("libllama")) || sums.keySet().stream().noneMatch(n -> n.startsWith("libggml"))) {
      return "its manifest lists no libllama or no libggml";
    }
    Map<String, Path> links = new HashMap<>();
    Set<String> seen = new TreeSet<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path f : ds) {
        String name = f.getFileName().toString();
        if (name.equals(MANIFEST)) {
          continue;
        }
        if (Files.isSymbolicLink(f)) {
          links.put(name, Files.readSymbolicLink(f));
          continue;
        }
        if (!sums.containsKey(name)) {
          return name + " is not in its manifest";
        }
        bad = ownedAndPrivate(f, uid, false);
        if (bad != null) {
          return bad;
        }
        try (InputStream in = Files.newInputStream(f, LinkOption.NOFOLLOW_LINKS)) {
          if (!NativeLibs.sha256(in).equals(sums.get(name))) {
            return name + " differs from its manifest (SHA-256)";
          }
        }
        seen.add(name);
      }
    }
    if (!seen.equals(sums.keySet())) {
      Set<String> missing = new TreeSet<>(sums.keySet());
      missing.removeAll(seen);
      return "missing " + missing;
    }
    for (Map.Entry<String, Path> l : links.entrySet()) {
      // a link names a file of the folder by its bare name, directly or through other such links
      String target = l.getValue().toString();
      for (int hops = 0; target != null && !seen.contains(target); hops++) {
        if (target.contains("/") || hops > 8 || !links.containsKey(target)) {
          return "the link " + l.getKey() + " points outside its libraries (" + l.getValue() + ")";
        }
        target = links.get(target).toString();
      }
    }
    return null;
  }

  /** Why {@code p} is not a real file or folder of {@code uid} closed to others' writes, or null. */
  private static String ownedAndPrivate(Path p, Object uid, boolean folder) throws IOException {
    if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
      return p.getFileName() + " is missing";
    }
    PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
    if (folder ? !a.isDirectory() : !a.isRegularFile()) {
      return p.getFileName() + " is not a " + (folder ? "real folder" : "regular file");
    }
    if (!Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS).equals(uid)) {
      return p.getFileName() + " belongs to another user";
    }
    if (a.permissions().stream().anyMatch(OTHERS_WRITE::contains)) {
      return p.getFileName() + " is writable by others ("
          + java.nio.file.attribute.PosixFilePermissions.toString(a.permissions()) + ")";
    }
    return null;
  }
}
