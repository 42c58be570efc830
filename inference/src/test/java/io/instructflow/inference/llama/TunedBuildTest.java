package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which tuned CPU build of llama.cpp the engine would load, and which it refuses ({@link TunedBuild}). */
class TunedBuildTest {
  @TempDir Path tmp;

  private static final String RELEASE = "node-llama-cpp-3.22.1";
  private static final String[] CPU = {"AuthenticAMD", "AMD EPYC 9B45 (R) @ 2.0GHz", "fpu sse2 avx2 avx512f avx512_vnni"};
  private static final String[] OTHER_CPU = {"AuthenticAMD", "AMD EPYC 9B45 (R) @ 2.0GHz", "fpu sse2 avx2"};
  private static final List<String> LIBS = List.of("libggml-base.so.0.25.1", "libggml-cpu.so.0.25.1",
      "libggml.so.0.25.1", "libllama.so.0.5.0");

  private static Object uid(Path p) throws Exception {
    return Files.getAttribute(p, "unix:uid");
  }

  /** A folder as {@code bin/build-llama tuned} leaves it: the libraries, their soname links, the manifest. */
  private Path tunedFolder(String release, String[] cpu) throws Exception {
    return tunedFolder(release, TunedBuild.RECIPE, cpu);
  }

  private Path tunedFolder(String release, String recipe, String[] cpu) throws Exception {
    Path dir = tmp.resolve(TunedBuild.folderName(RELEASE, TunedBuild.cpuKey(CPU)));
    Files.createDirectories(dir);
    StringBuilder m = new StringBuilder("# written by the test\n")
        .append("release=").append(release).append('\n')
        .append("llama_cpp=v0.5.0\n")
        .append("recipe=").append(recipe).append('\n')
        .append("cpu_key=").append(TunedBuild.cpuKey(cpu)).append('\n')
        .append("cpu_vendor=").append(cpu[0]).append('\n')
        .append("cpu_model=").append(cpu[1]).append('\n')
        .append("cpu_flags=").append(cpu[2]).append('\n');
    for (String lib : LIBS) {
      byte[] b = ("code of " + lib).getBytes(StandardCharsets.UTF_8);
      Files.write(dir.resolve(lib), b);
      Files.setPosixFilePermissions(dir.resolve(lib), PosixFilePermissions.fromString("rwxr-xr-x"));
      m.append("sha256.").append(lib).append('=').append(NativeLibs.sha256(new ByteArrayInputStream(b))).append('\n');
      String soname = lib.substring(0, lib.indexOf(".so") + 3) + ".0";
      String plain = lib.substring(0, lib.indexOf(".so") + 3);
      Files.createSymbolicLink(dir.resolve(soname), Paths.get(lib));
      Files.createSymbolicLink(dir.resolve(plain), Paths.get(soname));
    }
    Files.writeString(dir.resolve(TunedBuild.MANIFEST), m.toString());
    Files.setPosixFilePermissions(dir.resolve(TunedBuild.MANIFEST), PosixFilePermissions.fromString("rw-r--r--"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
    return dir;
  }

  private TunedBuild.Found find(String[] cpu) throws Exception {
    return TunedBuild.find(tmp, RELEASE, cpu, uid(tmp));
  }

  private void assertRefused(String why) throws Exception {
    TunedBuild.Found f = find(CPU);
    assertNull(f.dir(), "refused");
    assertTrue(f.refused() != null && f.refused().contains(why), f.refused());
  }

  @Test
  void readsTheFirstProcessorsFieldsAsTheScriptDoes() {
    String cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz  \n"
        + "flags\t\t: fpu vme sse2 avx2\n\nprocessor\t: 1\nvendor_id\t: Other\nmodel name\t: Another\nflags\t\t: fpu\n";
    String[] f = TunedBuild.cpuFields(cpuinfo);
    assertArrayEquals(new String[] {"GenuineIntel", "Intel(R) Xeon(R) CPU @ 2.20GHz", "fpu vme sse2 avx2"}, f);
    assertEquals(16, TunedBuild.cpuKey(f).length());
    assertNotEquals(TunedBuild.cpuKey(f), TunedBuild.cpuKey(new String[] {"GenuineIntel", "Intel(R) Xeon(R) CPU @ 2.20GHz", "fpu vme sse2"}),
        "one flag less is another processor");
    assertArrayEquals(new String[] {"", "", ""}, TunedBuild.cpuFields("Features\t: fp asimd\n"), "no x86 fields: empty ones");
  }

  @Test
  void theScriptAndTheEngineKeyThisProcessorAlike() throws Exception {
    String[] cpu = TunedBuild.thisCpu();
    assumeTrue(cpu != null && !cpu[2].isEmpty(), "a Linux machine with /proc/cpuinfo flags");
    Path script = Paths.get("..", "bin", "build-llama").toAbsolutePath().normalize();
    Process p = new ProcessBuilder("bash", script.toString(), "cpu").redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(p.waitFor(60, TimeUnit.SECONDS));
    assertEquals(0, p.exitValue(), out);
    List<String> lines = out.lines().toList();
    assertEquals(List.of(cpu[0], cpu[1], cpu[2], TunedBuild.cpuKey(cpu)), lines);
  }

  @Test
  void theScriptBuildsTheReleaseTheJarCarries() throws Exception {
    String script = Files.readString(Paths.get("..", "bin", "build-llama"));
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\nNPM_VERSION=\"([^\"]+)\"").matcher(script);
    assertTrue(m.find(), "bin/build-llama pins NPM_VERSION");
    java.util.regex.Matcher r = java.util.regex.Pattern.compile("\nRECIPE=\"([^\"]+)\"").matcher(script);
    assertTrue(r.find(), "bin/build-llama names its RECIPE");
    assertEquals(TunedBuild.RECIPE, r.group(1), "the script's folders are the ones the engine looks for");
    assertEquals("node-llama-cpp-3.22.1", NativeLibs.release("node-llama-cpp-linux-x64-3.22.1"));
    try (var in = NativeLibs.class.getClassLoader()
        .getResourceAsStream("io/instructflow/inference/llama/native/linux-x86_64/index.txt")) {
      assumeTrue(in != null, "the jar's libraries are on the class path");
      String first = new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().findFirst().orElseThrow();
      assertEquals(NativeLibs.release(first), "node-llama-cpp-" + m.group(1),
          "inference/pom.xml's npm version and bin/build-llama's must name the same llama.cpp release");
    }
  }

  @Test
  void usesAFolderThatChecksOut() throws Exception {
    Path dir = tunedFolder(RELEASE, CPU);
    TunedBuild.Found f = find(CPU);
    assertEquals(dir, f.dir());
    assertNull(f.refused());
  }

  @Test
  void noFolderForThisProcessorOrReleaseIsNoBuildAndNoWarning() throws Exception {
    tunedFolder(RELEASE, CPU);
    assertEquals(new TunedBuild.Found(null, null), find(OTHER_CPU));
    assertEquals(new TunedBuild.Found(null, null), TunedBuild.find(tmp, "node-llama-cpp-3.23.0", CPU, uid(tmp)));
    assertEquals(new TunedBuild.Found(null, null), TunedBuild.find(tmp, RELEASE, null, uid(tmp)), "no /proc/cpuinfo");
  }

  @Test
  void refusesALibraryThatChanged() throws Exception {
    Path dir = tunedFolder(RELEASE, CPU);
    Files.writeString(dir.resolve("libllama.so.0.5.0"), "planted code");
    assertRefused("libllama.so.0.5.0 differs from its manifest");
  }

  @Test
  void refusesAFileTheManifestDoesNotList() throws Exception {
    Path dir = tunedFolder(RELEASE, CPU);
    Files.writeString(dir.resolve("libggml-cuda.so"), "more code");
    assertRefused("libggml-cuda.so is not in its manifest");
  }

  @Test
  void refusesAMissingLibrary() throws Exception {
    Path dir = tunedFolder(RELEASE, CPU);
    Files.delete(dir.resolve("libggml-cpu.so.0.25.1"));
    assertRefused("missing [libggml-cpu.so.0.25.1]");
  }

  @Test
  void refusesABuildForAnotherProcessor() throws Exception {
    tunedFolder(RELEASE, OTHER_CPU);
    assertRefused("built for another processor");
  }

  @Test
  void refusesABuildOfAnotherRecipeUnderThisName() throws Exception {
    tunedFolder(RELEASE, "r0", CPU);
    assertRefused("built by recipe r0");
  }

  @Test
  void aProcessorWithoutFlagsHasNoTunedBuild() throws Exception {
    String[] arm = {"", "", ""};
    Path dir = tmp.resolve(TunedBuild.folderName(RELEASE, TunedBuild.cpuKey(arm)));
    Files.createDirectories(dir);
    assertEquals(new TunedBuild.Found(null, null), TunedBuild.find(tmp, RELEASE, arm, uid(tmp)),
        "every such machine would share one key");
  }

  @Test
  void aBuildThatDoesNotLoadHereIsPassedOver() throws Exception {
    // a folder that checks out but whose libraries this machine cannot load (here: not a library at all,
    // as an older C library or a missing C++ runtime would make a real one): the jar's build runs instead
    Path dir = tunedFolder(RELEASE, CPU);
    assertEquals(dir, find(CPU).dir());
    assertNull(NativeLibs.probe(dir), "not loadable");
  }

  @Test
  void refusesABuildOfAnotherReleaseUnderThisName() throws Exception {
    tunedFolder("node-llama-cpp-3.21.0", CPU);
    assertRefused("built from node-llama-cpp-3.21.0");
  }

  @Test
  void refusesWhatOthersCanWrite() throws Exception {
    Path dir = tunedFolder(RELEASE, CPU);
    Files.setPosixFilePermissions(dir.resolve("libggml.so.0.25.1"), PosixFilePermissions.fromString("rwxrwxr-x"));
    assertRefused("libggml.so.0.25.1 is writable by others");
    Files.setPosixFilePermissions(dir.resolve("libggml.so.0.25.1"), PosixFilePermissions.fromString("rwxr-xr-x"));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
    assertRefused("is writable by others");
  }

  @Test
  void refusesALinkOutOfTheFolder() throws Exception {
    Path dir = tunedFolder(RELEASE, CPU);
    Files.writeString(tmp.resolve("elsewhere.so"), "code from elsewhere");
    Files.delete(dir.resolve("libllama.so.0"));
    Files.createSymbolicLink(dir.resolve("libllama.so.0"), Paths.get("../elsewhere.so"));
    assertRefused("the link libllama.so");
  }

  @Test
  void refusesAFolderThatIsALink() throws Exception {
    Path real = tunedFolder(RELEASE, CPU);
    Path moved = tmp.resolve("real");
    Files.move(real, moved);
    Files.createSymbolicLink(real, moved);
    assertRefused("is not a real folder");
  }

  @Test
  void refusesAFolderOfAnotherUser() throws Exception {
    tunedFolder(RELEASE, CPU);
    TunedBuild.Found f = TunedBuild.find(tmp, RELEASE, CPU, Integer.valueOf(-12345));
    assertNull(f.dir());
    assertTrue(f.refused().contains("belongs to another user"), f.refused());
  }
}
