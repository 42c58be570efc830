package io.instructflow.inference.llama;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds, extracts and loads llama.cpp's native libraries, once per JVM.
 *
 * <p>Where from, first match wins:
 * <ol>
 *   <li>the folder named by the system property {@value #PROPERTY} or the environment variable
 *       {@value #ENV}: a build of our own (for GPUs, {@code bin/build-llama --cuda}), holding
 *       {@code libllama*.so} and the {@code libggml*.so} it needs ({@value #BUNDLED} instead of a folder
 *       skips the next step);
 *   <li>the CPU build tuned to this processor that {@code bin/build-llama tuned} keeps in the user's
 *       cache, when there is one for this jar's llama.cpp release and this processor and it checks out
 *       ({@link TunedBuild});
 *   <li>the CPU build packed into this jar (from the npm registry, see inference/pom.xml), extracted
 *       into {@code java.io.tmpdir/instructflow-llama-VERSION-USER} on first use. Extraction goes to a
 *       temporary sibling that is renamed into place, so JVMs starting together (Spark executors) never
 *       load a half-written file.
 * </ol>
 *
 * <p>The temporary folder is shared by every local user, so the extracted folder is checked before each
 * load (issue 21: another user must not be able to plant a {@code libllama.so}): it must be a real folder
 * (not a link), owned by this process's user, private ({@code rwx------}, repaired if ours but wider),
 * holding exactly the jar's files, each a regular file of ours whose SHA-256 equals that of the jar's
 * copy. A folder of ours that fails is deleted and extracted again; one that belongs to another user
 * is never used: the libraries then go to a private folder of this JVM's own, deleted when it exits.
 *
 * <p>{@code ggml_backend_load_all_from_path} then loads the backends that are separate libraries in
 * that folder: of the CPU build's {@code libggml-cpu-*.so} variants it picks the best one this
 * processor runs.
 */
public final class NativeLibs {
  private static final Logger LOG = LoggerFactory.getLogger(NativeLibs.class);
  /** System property naming a folder with a llama.cpp build to use instead of the bundled one. */
  public static final String PROPERTY = "instructflow.llama.lib";
  /** Environment variable, same meaning as {@link #PROPERTY}. */
  public static final String ENV = "INSTRUCTFLOW_LLAMA_LIB";
  /** The value of {@link #PROPERTY} or {@link #ENV} that asks for the jar's own CPU build. */
  public static final String BUNDLED = "bundled";
  /** The llama.cpp release {@link LlamaApi}'s structures mirror. */
  public static final String LLAMA_VERSION = "0.5.0";
  private static final String RESOURCE_DIR = "io/instructflow/inference/llama/native/linux-x86_64/";
  private static final Map<String, Object> OPTIONS = Map.of(Library.OPTION_STRING_ENCODING, "UTF-8");

  private static LlamaApi api;
  private static LlamaApi.Ggml ggmlApi;
  // which build this JVM runs, decided once (folder() and api() agree): its folder, its kind, and for a
  // tuned build its libraries, loaded while deciding (a tuned build that cannot load here is passed over)
  private static Path chosen;
  private static String kind;
  private static Loaded tuned;
  private static boolean verbose;
  // JNA must hold the callbacks: a collected callback crashes the next native log call
  private static final LlamaApi.LogCallback QUIET = (level, text, user) -> { };
  private static final LlamaApi.LogCallback LOUD = (level, text, user) -> System.err.print(text);

  private NativeLibs() {}

  /**
   * The JVM's llama.cpp, loaded and initialised on first call. {@code verboseNative} lets llama.cpp's
   * own log through to stderr (only the first call's choice counts for what happens while loading).
   */
  public static synchronized LlamaApi api(boolean verboseNative) {
    if (api == null) {
      Path d = folder();
      Path llama = find(d, "libllama");
      LlamaApi.Ggml g = tuned != null ? tuned.ggml() : Native.load(find(d, "libggml.").toString(), LlamaApi.Ggml.class, OPTIONS);
      LlamaApi a = tuned != null ? tuned.llama() : Native.load(llama.toString(), LlamaApi.class, OPTIONS);
      String version;
      try {
        version = a.llama_version();
      } catch (UnsatisfiedLinkError e) {
        version = null;
      }
      if (!compatible(version)) {
        throw new IllegalStateException(llama + " is llama.cpp " + (version == null ? "from before 0.5.0" : version)
            + ", but this binding mirrors llama.cpp " + LLAMA_VERSION + "'s C structures: build that release with "
            + "bin/build-llama");
      }
      verbose = verboseNative;
      g.ggml_log_set(verbose ? LOUD : QUIET, Pointer.NULL);
      a.llama_log_set(verbose ? LOUD : QUIET, Pointer.NULL);
      g.ggml_backend_load_all_from_path(d.toString());
      a.llama_backend_init();
      ggmlApi = g;
      api = a;
      LOG.info("llama.cpp from {} ({}; GPU offload {})", d, kind,
          a.llama_supports_gpu_offload() != 0 ? "available" : "not built in");
    } else if (verboseNative && !verbose) {
      verbose = true;
      api.llama_log_set(LOUD, Pointer.NULL);
    }
    return api;
  }

  /** ggml's API from the loaded libraries ({@link #api} loads them first). */
  static synchronized LlamaApi.Ggml ggml() {
    api(false);
    return ggmlApi;
  }

  /** Whether a library reporting {@code version} has the C structures {@link LlamaApi} mirrors. */
  static boolean compatible(String version) {
    return version != null && (version.equals(LLAMA_VERSION) || version.startsWith(LLAMA_VERSION + "-"));
  }

  /** Whether the loaded llama.cpp can offload layers to a GPU (a CUDA build). */
  public static boolean gpuOffload() {
    return api(false).llama_supports_gpu_offload() != 0;
  }

  /** The folder the libraries were loaded from (null before the first {@link #api}). */
  public static synchronized Path dir() {
    return api == null ? null : chosen;
  }

  /**
   * The folder the libraries are loaded from, or will be, decided once per JVM: the bundled build is
   * extracted if needed; a tuned build's libraries are loaded to learn that they can be (see {@link #probe}).
   */
  public static synchronized Path folder() {
    if (chosen == null) {
      chosen = locate();
    }
    return chosen;
  }

  /**
   * The folder {@link #PROPERTY} or {@link #ENV} names, or null when neither is set or it is
   * {@value #BUNDLED} (a CPU build: the tuned one or the jar's).
   */
  public static String ownBuild() {
    String own = setting();
    return own == null || own.equals(BUNDLED) ? null : own;
  }

  private static String setting() {
    String own = System.getProperty(PROPERTY);
    if (own == null || own.isBlank()) {
      own = System.getenv(ENV);
    }
    return own == null || own.isBlank() ? null : own.strip();
  }

  /**
   * Which build the libraries come from, or will: {@code own} (named by {@link #ENV}), {@code tuned}
   * (built for this processor, {@link TunedBuild}) or {@code bundled} (the jar's).
   */
  public static synchronized String kind() {
    folder();
    return kind;
  }

  private static Path locate() {
    String own = ownBuild();
    if (own != null) {
      Path p = Paths.get(own).toAbsolutePath().normalize();
      if (!Files.isDirectory(p)) {
        throw new IllegalStateException(PROPERTY + "/" + ENV + " names " + p + ", which is not a folder");
      }
      kind = "own";
      return p;
    }
    List<String> index = readIndex();
    if (setting() == null) {
      Path root = TunedBuild.root();
      TunedBuild.Found found = TunedBuild.find(root, release(index.get(0)), TunedBuild.thisCpu(), myUid());
      if (found.dir() != null && (tuned = probe(found.dir())) != null) {
        kind = "tuned";
        return found.dir();
      }
      if (found.refused() != null) {
        LOG.warn("the tuned llama.cpp build is not used: {}; the jar's CPU build runs (build it again with "
            + "bin/build-llama tuned --force)", found.refused());
      }
    }
    kind = "bundled";
    String os = System.getProperty("os.name", "").toLowerCase();
    String arch = System.getProperty("os.arch", "");
    if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
      throw new IllegalStateException("the bundled llama.cpp is for Linux x86-64 only (this is " + os + "/" + arch
          + "): build llama.cpp for this platform and name the folder with -D" + PROPERTY + " or " + ENV);
    }
    return extract(index);
  }

  private static Path extract(List<String> index) {
    String version = index.get(0);
    Path target = Paths.get(System.getProperty("java.io.tmpdir"),
        "instructflow-llama-" + version + "-" + System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9_.-]", "_"));
    List<Lib> libs = new ArrayList<>();
    for (String name : index.subList(1, index.size())) {
      Content c = () -> {
        InputStream in = NativeLibs.class.getClassLoader().getResourceAsStream(RESOURCE_DIR + name);
        if (in == null) {
          throw new IllegalStateException("the jar lists " + name + " but does not hold it");
        }
        return in;
      };
      try (InputStream in = c.open()) {
        libs.add(new Lib(name, sha256(in), c));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return install(target, version, libs);
  }

  /** Opens a library's bytes as the jar holds them. */
  interface Content {
    InputStream open() throws IOException;
  }

  /** A library to install: its file name, the SHA-256 (hex) of the jar's copy, and that copy. */
  record Lib(String name, String sha256, Content content) {}

  private static final java.nio.file.attribute.FileAttribute<?> PRIVATE_DIR =
      java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
          java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));

  /**
   * The folder to load the libraries from: {@code target} once it is checked (see the class comment),
   * repaired or extracted again as needed, or a private folder of this JVM's own when {@code target}
   * belongs to another user.
   */
  static Path install(Path target, String version, List<Lib> libs) {
    try {
      Path parent = target.toAbsolutePath().getParent();
      Files.createDirectories(parent);
      // a fresh private folder: where a new copy is written, and whose owner is this process's user
      Path tmp = Files.createTempDirectory(parent, target.getFileName() + ".part", PRIVATE_DIR);
      Object me = Files.getAttribute(tmp, "unix:uid");
      for (int attempt = 0; attempt < 3; attempt++) {
        if (Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
          java.nio.file.attribute.PosixFileAttributes a = Files.readAttributes(target,
              java.nio.file.attribute.PosixFileAttributes.class, java.nio.file.LinkOption.NOFOLLOW_LINKS);
          Object owner = Files.getAttribute(target, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS);
          if (!owner.equals(me)) {
            LOG.warn("{} belongs to another user (uid {}): never loaded; llama.cpp's libraries go to {} for this run",
                target, owner, tmp);
            fill(tmp, version, libs);
            deleteOnExit(tmp);
            return tmp;
          }
          if (a.isDirectory()) {
            if (!a.permissions().equals(java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"))) {
              LOG.warn("{} was not private ({}): made rwx------, its files checked", target,
                  java.nio.file.attribute.PosixFilePermissions.toString(a.permissions()));
              Files.setPosixFilePermissions(target, java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
            }
            String bad = check(target, me, version, libs);
            if (bad == null) {
              deleteTree(tmp);
              return target;
            }
            LOG.warn("{}: {}; extracting llama.cpp's libraries again", target, bad);
          }
          deleteTree(target);
        }
        if (!Files.exists(tmp)) {
          tmp = Files.createTempDirectory(parent, target.getFileName() + ".part", PRIVATE_DIR);
        }
        fill(tmp, version, libs);
        try {
          Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
          String bad = check(target, me, version, libs);
          if (bad == null) {
            return target;
          }
          throw new IllegalStateException("the libraries just extracted to " + target + " fail their check: " + bad);
        } catch (FileAlreadyExistsException | AtomicMoveNotSupportedException
            | java.nio.file.DirectoryNotEmptyException e) {
          // another JVM of ours got there first: check its copy on the next round
          deleteTree(tmp);
        }
      }
      throw new IllegalStateException("cannot install llama.cpp's libraries in " + target
          + ": it keeps changing under this process");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot extract llama.cpp's libraries to " + target, e);
    }
  }

  /** Why {@code dir} is not a good copy of {@code libs}, or null when it is. */
  static String check(Path dir, Object me, String version, List<Lib> libs) throws IOException {
    java.util.Set<String> expected = new java.util.TreeSet<>();
    libs.forEach(l -> expected.add(l.name()));
    expected.add(".complete");
    java.util.Set<String> present = new java.util.TreeSet<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        present.add(p.getFileName().toString());
      }
    }
    if (!present.equals(expected)) {
      java.util.Set<String> extra = new java.util.TreeSet<>(present);
      extra.removeAll(expected);
      java.util.Set<String> missing = new java.util.TreeSet<>(expected);
      missing.removeAll(present);
      return "files " + (extra.isEmpty() ? "" : extra + " not from the jar ") + (missing.isEmpty() ? "" : missing + " missing");
    }
    for (String name : expected) {
      Path p = dir.resolve(name);
      if (!Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        return name + " is not a regular file";
      }
      if (!Files.getAttribute(p, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS).equals(me)) {
        return name + " belongs to another user";
      }
    }
    if (!Files.readString(dir.resolve(".complete")).strip().equals(version)) {
      return "another version";
    }
    for (Lib l : libs) {
      try (InputStream in = Files.newInputStream(dir.resolve(l.name()), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        if (!sha256(in).equals(l.sha256())) {
          return l.name() + " differs from the jar's copy (SHA-256)";
        }
      }
    }
    return null;
  }

  private static void fill(Path dir, String version, List<Lib> libs) throws IOException {
    for (Lib l : libs) {
      try (InputStream in = l.content().open()) {
        Files.copy(in, dir.resolve(l.name()), StandardCopyOption.REPLACE_EXISTING);
      }
    }
    Files.writeString(dir.resolve(".complete"), version + "\n");
  }

  private static void deleteOnExit(Path dir) {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        deleteTree(dir);
      } catch (IOException e) {
        // best effort: the folder is private, and in the temporary folder
      }
    }));
  }

  static String sha256(InputStream in) throws IOException {
    java.security.MessageDigest md;
    try {
      md = java.security.MessageDigest.getInstance("SHA-256");
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    byte[] buf = new byte[1 << 16];
    int n;
    while ((n = in.read(buf)) > 0) {
      md.update(buf, 0, n);
    }
    return java.util.HexFormat.of().formatHex(md.digest());
  }

  /** A build's two libraries as JNA interfaces. */
  record Loaded(LlamaApi.Ggml ggml, LlamaApi llama) {}

  /**
   * A tuned build's libraries, loaded, or null, with a warning, when this machine cannot load them: a
   * folder shared by machines with the same processor but an older C library, a compiler's C++ runtime
   * not on this machine. libllama is loaded first: that one load brings in libggml, libggml-base and
   * libggml-cpu through its run path, and when any of them fails the loader takes all of them back, so
   * nothing of the tuned build stays in the process and the jar's build (same library names) can load.
   */
  static Loaded probe(Path tuned) {
    try {
      LlamaApi llama = Native.load(find(tuned, "libllama").toString(), LlamaApi.class, OPTIONS);
      return new Loaded(Native.load(find(tuned, "libggml.").toString(), LlamaApi.Ggml.class, OPTIONS), llama);
    } catch (UnsatisfiedLinkError | IllegalStateException e) {
      LOG.warn("the tuned llama.cpp build in {} does not load on this machine ({}); the jar's CPU build runs "
          + "(bin/build-llama tuned --force builds it again here)", tuned, e.getMessage());
      return null;
    }
  }

  /**
   * The release of a jar index's first line ({@code node-llama-cpp-linux-x64-3.22.1}), as tuned builds
   * are named: {@code node-llama-cpp-3.22.1}.
   */
  static String release(String indexLine) {
    return "node-llama-cpp-" + indexLine.substring(indexLine.lastIndexOf('-') + 1);
  }

  private static Object myUid() {
    return Integer.valueOf((int) new com.sun.security.auth.module.UnixSystem().getUid());
  }

  private static List<String> readIndex() {
    try (InputStream in = NativeLibs.class.getClassLoader().getResourceAsStream(RESOURCE_DIR + "index.txt")) {
      if (in == null) {
        throw new IllegalStateException("llama.cpp's libraries are not in the class path (" + RESOURCE_DIR
            + "index.txt): build with Maven, which fetches them, or name a llama.cpp build with -D" + PROPERTY);
      }
      List<String> lines = new ArrayList<>();
      for (String l : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
        if (!l.isBlank()) {
          lines.add(l.strip());
        }
      }
      return lines;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The library in {@code dir} whose name starts with {@code prefix} (shortest name: not libllama-common). */
  private static Path find(Path dir, String prefix) {
    List<Path> hits = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        String n = p.getFileName().toString();
        if (n.startsWith(prefix) && n.contains(".so") && !n.startsWith(prefix + "-") && !n.contains("common")) {
          hits.add(p);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (hits.isEmpty()) {
      throw new IllegalStateException("no " + prefix + "*.so in " + dir);
    }
    hits.sort(Comparator.comparingInt((Path p) -> p.getFileName().toString().length()).thenComparing(Path::toString));
    return hits.get(0);
  }

  private static void deleteTree(Path p) throws IOException {
    if (!Files.exists(p)) {
      return;
    }
    try (Stream<Path> s = Files.walk(p)) {
      for (Path q : s.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(q);
      }
    }
  }
}
