package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import org.junit.jupiter.api.Test;

class NativeLibsTest {
  @Test
  void acceptsOnlyTheReleaseTheBindingMirrors() {
    assertTrue(NativeLibs.compatible("0.5.0"));
    assertTrue(NativeLibs.compatible("0.5.0-dev"), "a build from the release's sources reports -dev");
    assertFalse(NativeLibs.compatible("0.5.1"));
    assertFalse(NativeLibs.compatible("0.50.0"));
    assertFalse(NativeLibs.compatible(null), "a llama.cpp without llama_version predates 0.5.0");
  }

  @Test
  void theBundledBuildLoadsAndIsThatRelease() {
    org.junit.jupiter.api.Assumptions.assumeTrue(NativeLibs.ownBuild() == null, "a build of our own is named");
    LlamaApi api = NativeLibs.api(false);
    assertTrue(NativeLibs.compatible(api.llama_version()), api.llama_version());
    assertTrue(Files.isRegularFile(NativeLibs.dir().resolve(".complete")), "extracted completely: " + NativeLibs.dir());
  }
}
