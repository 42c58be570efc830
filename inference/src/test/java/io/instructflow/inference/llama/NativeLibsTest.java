package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibsTest {
  @TempDir Path tmp;

  /** Stand-ins for the jar's libraries (never loaded: these tests are about which folder would be). */
  private static final Map<String, String> JAR = Map.of("libllama.so", "the jar's llama", "libggml.so", "the jar's ggml");

  private static List<NativeLibs.Lib> libs() throws Exception {
    List<NativeLibs.Lib> out = new ArrayList<>();
    for (var e : new java.util.TreeMap<>(JAR).entrySet()) {
      byte[] b = e.getValue().getBytes(StandardCharsets.UTF_8);
      out.add(new NativeLibs.Lib(e.getKey(), NativeLibs.sha256(new ByteArrayInputStream(b)),
          () -> new ByteArrayInputStream(b)));
    }
    return out;
  }

  private static void assertHoldsTheJarsCopies(Path dir) throws Exception {
    assertTrue(Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS), dir + " is a real folder");
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS)));
    for (var e : JAR.entrySet()) {
      assertEquals(e.getValue(), Files.readString(dir.resolve(e.getKey())));
    }
    try (var files = Files.list(dir)) {
      assertEquals(JAR.size() + 1, files.count(), "the libraries and .complete, nothing else");
    }
  }

  @Test
  void extractsIntoAPrivateFolderAndReusesItWhileItChecksOut() throws Exception {
    Path target = tmp.resolve("instructflow-llama-v1-me");
    assertEquals(target, NativeLibs.install(target, "v1", libs()));
    assertHoldsTheJarsCopies(target);
    long modified = Files.getLastModifiedTime(target.resolve("libllama.so")).toMillis();
    Files.setLastModifiedTime(target.resolve("libllama.so"), java.nio.file.attribute.FileTime.fromMillis(modified - 60_000));
    assertEquals(target, NativeLibs.install(target, "v1", libs()));
    assertEquals(modified - 60_000, Files.getLastModifiedTime(target.resolve("libllama.so")).toMillis(), "not rewritten");
    try (var s = Files.list(tmp)) {
      assertEquals(1, s.count(), "no temporary folder left");
    }
  }

  @Test
  void aTamperedLibraryIsReplacedBeforeLoading() throws Exception {
    Path target = NativeLibs.install(tmp.resolve("libs"), "v1", libs());
    Files.writeString(target.resolve("libllama.so"), "planted");
    assertEquals(target, NativeLibs.install(target, "v1", libs()));
    assertHoldsTheJarsCopies(target);
  }

  @Test
  void aFolderOpenToOthersIsMadePrivateAndAPlantedLibraryRemoved() throws Exception {
    Path target = NativeLibs.install(tmp.resolve("libs"), "v1", libs());
    Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rwxrwxrwx"));
    Files.writeString(target.resolve("libggml-cpu-planted.so"), "ggml_backend_load_all_from_path would load this");
    assertEquals(target, NativeLibs.install(target, "v1", libs()));
    assertHoldsTheJarsCopies(target);
  }

  @Test
  void aLinkInPlaceOfTheFolderIsNotFollowed() throws Exception {
    Path elsewhere = Files.createDirectory(tmp.resolve("elsewhere"));
    Files.writeString(elsewhere.resolve("libllama.so"), "planted");
    Files.writeString(elsewhere.resolve("libggml.so"), "planted");
    Path target = tmp.resolve("libs");
    Files.createSymbolicLink(target, elsewhere);
    assertEquals(target, NativeLibs.install(target, "v1", libs()));
    assertHoldsTheJarsCopies(target);
    assertEquals("planted", Files.readString(elsewhere.resolve("libllama.so")), "the link's target is left alone");
  }

  @Test
  void aFolderOfAnotherUserIsNeverUsed() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
        "only root can give a folder to another user");
    Path target = Files.createDirectory(tmp.resolve("libs"), PosixFilePermissions.asFileAttribute(
        PosixFilePermissions.fromString("rwxr-xr-x")));
    for (String name : JAR.keySet()) {
      Files.writeString(target.resolve(name), JAR.get(name));
    }
    Files.writeString(target.resolve(".complete"), "v1\n");
    Files.setAttribute(target, "unix:uid", 4242);
    Path used = NativeLibs.install(target, "v1", libs());
    assertNotEquals(target, used, "even with the right bytes inside, another user could change them");
    assertHoldsTheJarsCopies(used);
    assertEquals(4242, Files.getAttribute(target, "unix:uid"), "left alone");
  }

  @Test
  void acceptsOnlyTheReleaseTheBindingMirrors() {
    assertTrue(NativeLibs.compatible("0.5.0"));
    assertTrue(NativeLibs.compatible("0.5.0-dev"), "a build from the release's sources reports -dev");
    assertFalse(NativeLibs.compatible("0.5.1"));
    assertFalse(NativeLibs.compatible("0.50.0"));
    assertFalse(NativeLibs.compatible(null), "a llama.cpp without llama_version predates 0.5.0");
  }

  @Test
  void theCpuBuildLoadsAndIsThatRelease() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(NativeLibs.ownBuild() == null, "a build of our own is named");
    LlamaApi api = NativeLibs.api(false);
    assertTrue(NativeLibs.compatible(api.llama_version()), api.llama_version());
    // the jar's build, or the one bin/build-llama tuned made for this processor when there is one
    String marker = NativeLibs.kind().equals("tuned") ? TunedBuild.MANIFEST : ".complete";
    assertTrue(Files.isRegularFile(NativeLibs.dir().resolve(marker)), NativeLibs.kind() + " build complete: " + NativeLibs.dir());
    assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(NativeLibs.dir())));
  }
}
