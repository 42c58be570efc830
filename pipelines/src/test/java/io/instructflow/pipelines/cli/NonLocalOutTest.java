package io.instructflow.pipelines.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.pipelines.TestFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Object-store paths (issue 21): {@code --out s3://...} for self-instruct and evol, and a response cache
 * there, used to become a local folder named {@code s3:}. Each is now refused before anything runs
 * (exit 2, saying why), and so is any output on a scheme Beam's FileSystems cannot write ({@code gs://}).
 */
class NonLocalOutTest {
  @TempDir Path tmp;

  /** Nothing may appear as a local folder named after the scheme, here or in the working folder. */
  void assertNoSchemeFolder() {
    assertFalse(Files.exists(Paths.get("s3:")), "a local folder named s3: was created in " + Paths.get("").toAbsolutePath());
    assertFalse(Files.exists(tmp.resolve("s3:")));
  }

  @Test
  void selfInstructAndEvolRefuseAnObjectStoreOut() throws Exception {
    Path seeds = TestFiles.sharedData().resolve("seed/self-instruct_seed_tasks.jsonl");
    assertTrue(Files.isRegularFile(seeds), "shared data missing: " + seeds);
    String err = MainTest.cli(Main.EXIT_USAGE, "self-instruct", "--seeds", seeds.toString(), "--out", "s3://bucket/si",
        "--target", "5", "--model", tmp.resolve("m.gguf").toString(), "--runner", "direct")[1];
    assertTrue(err.contains("self-instruct --out must be a local folder, got s3://bucket/si"), err);
    Path in = TestFiles.mixedFile(tmp);
    err = MainTest.cli(Main.EXIT_USAGE, "evol", "--in", in.toString(), "--out", "s3://bucket/evol", "--model",
        tmp.resolve("m.gguf").toString(), "--runner", "direct")[1];
    assertTrue(err.contains("evol --out must be a local folder, got s3://bucket/evol"), err);
    assertNoSchemeFolder();
  }

  @Test
  void theResponseCacheMustBeLocal() throws Exception {
    Path in = TestFiles.mixedFile(tmp);
    String err = MainTest.cli(Main.EXIT_USAGE, "generate", "--in", in.toString(), "--out", "s3://bucket/gen", "--model",
        tmp.resolve("m.gguf").toString(), "--runner", "direct")[1];
    assertTrue(err.contains("With the response cache under it (give --cache-dir DIR or --no-cache), --out must be a local "
        + "folder, got s3://bucket/gen"), err);
    err = MainTest.cli(Main.EXIT_USAGE, "generate", "--in", in.toString(), "--out", tmp.resolve("o").toString(),
        "--cache-dir", "s3://bucket/cache", "--model", tmp.resolve("m.gguf").toString(), "--runner", "direct")[1];
    assertTrue(err.contains("--cache-dir must be a local folder, got s3://bucket/cache"), err);
    err = MainTest.cli(Main.EXIT_USAGE, "pairs", "--in", in.toString(), "--out", "s3://bucket/pairs", "--runner",
        "direct")[1];
    assertTrue(err.contains("must be a local folder, got s3://bucket/pairs"), err);
    assertNoSchemeFolder();
  }

  @Test
  void anOutputOnASchemeBeamCannotWriteIsRefusedBeforeTheRun() throws Exception {
    Path in = TestFiles.mixedFile(tmp);
    String err = MainTest.cli(Main.EXIT_USAGE, "import", "--in", in.toString(), "--out", "gs://bucket/imp", "--runner",
        "direct")[1];
    // refused by Storage before the output folder is even locked (s3:// is built in since issue 23)
    assertTrue(err.contains("--out gs://bucket/imp: no file system for 'gs://' in this build"), err);
    err = MainTest.cli(Main.EXIT_USAGE, "generate", "--in", in.toString(), "--out", "gs://bucket/gen", "--no-cache",
        "--model", TestFiles.sharedData().resolve("../models/stories260K.gguf").normalize().toString(), "--runner",
        "direct")[1];
    assertTrue(err.contains("--out gs://bucket/gen: no file system for 'gs://' in this build"), err);
    assertNoSchemeFolder();
  }
}
