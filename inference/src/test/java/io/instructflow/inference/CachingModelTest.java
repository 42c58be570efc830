package io.instructflow.inference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.schemas.Message;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CachingModelTest {
  @TempDir Path tmp;

  private static GenerationRequest text(String id, String prompt) {
    return GenerationRequest.text(id, prompt, SamplingParams.greedy(16), 7);
  }

  @Test
  void aSecondRunIsServedFromTheCacheWithoutLoadingTheModel() {
    ResponseCache cache = new ResponseCache(tmp.resolve("cache"));
    ScriptedModel echo = ScriptedModel.echo();
    CachingModel first = new CachingModel(echo.ref(), () -> echo, cache);
    List<GenerationResult> a = first.generate(List.of(text("1", "alpha"), text("2", "beta")));
    assertEquals(2, echo.requests());
    assertEquals(0, first.hits());
    assertFalse(a.get(0).cached());

    int[] loads = {0};
    CachingModel second = new CachingModel(echo.ref(), () -> {
      loads[0]++;
      return echo;
    }, cache);
    List<GenerationResult> b = second.generate(List.of(text("2", "beta"), text("1", "alpha"), text("3", "gamma")));
    assertEquals(3, echo.requests(), "only the new request reached the model");
    assertEquals(2, second.hits());
    assertEquals(1, loads[0]);
    assertTrue(b.get(0).cached());
    assertEquals(a.get(1).choices(), b.get(0).choices());
    assertEquals("2", b.get(0).requestId());
    assertFalse(b.get(2).cached());

    CachingModel third = new CachingModel(echo.ref(), () -> {
      throw new AssertionError("all cached: the model must not be created");
    }, cache);
    assertEquals(2, third.generate(List.of(text("1", "alpha"), text("2", "beta"))).size());
  }

  @Test
  void failuresAreNotCachedAndKeysCoverEveryInput() throws Exception {
    ResponseCache cache = new ResponseCache(tmp.resolve("cache"));
    ScriptedModel failing = new ScriptedModel("down", r -> GenerationResult.failed(r.id(), r.prompt(),
        ErrorKind.UNAVAILABLE, "503 after 5 attempts"));
    CachingModel m = new CachingModel(failing.ref(), () -> failing, cache);
    m.generate(List.of(text("1", "alpha")));
    m.generate(List.of(text("1", "alpha")));
    assertEquals(2, failing.requests());
    assertFalse(Files.exists(tmp.resolve("cache")) && listFiles(tmp.resolve("cache")).findAny().isPresent());

    ScriptedModel echo = ScriptedModel.echo();
    String base = ResponseCache.key(echo.ref(), text("1", "alpha"));
    assertEquals(base, ResponseCache.key(echo.ref(), text("other id", "alpha")), "the record id is not part of the key");
    assertNotEquals(base, ResponseCache.key(echo.ref(), text("1", "alpha ")));
    assertNotEquals(base, ResponseCache.key(echo.ref(), GenerationRequest.text("1", "alpha", SamplingParams.greedy(17), 7)));
    assertNotEquals(base, ResponseCache.key(echo.ref(), GenerationRequest.text("1", "alpha", SamplingParams.greedy(16), 8)));
    assertNotEquals(base, ResponseCache.key(failing.ref(), text("1", "alpha")));
    assertNotEquals(base, ResponseCache.key(echo.ref(),
        GenerationRequest.chat("1", List.of(new Message("user", "alpha")), SamplingParams.greedy(16), 7)));
  }

  @Test
  void writesWholeEntriesOnlyAndIgnoresDamagedOnes() throws Exception {
    ResponseCache cache = new ResponseCache(tmp.resolve("cache"));
    ScriptedModel echo = ScriptedModel.echo();
    new CachingModel(echo.ref(), () -> echo, cache).generate(List.of(text("1", "中文提示 alpha")));
    List<Path> files = listFiles(tmp.resolve("cache")).toList();
    assertEquals(1, files.size(), "one entry, no temporary files left: " + files);
    String key = ResponseCache.key(echo.ref(), text("1", "中文提示 alpha"));
    assertEquals("echo: 中文提示 alpha", cache.get(key, "1").orElseThrow().choices().get(0).text());

    Files.writeString(files.get(0), "{\"key\": \"tor");
    assertTrue(cache.get(key, "1").isEmpty(), "a damaged entry is a miss");
    new CachingModel(echo.ref(), () -> echo, cache).generate(List.of(text("1", "中文提示 alpha")));
    assertTrue(cache.get(key, "1").isPresent(), "and is rewritten");
  }

  private static Stream<Path> listFiles(Path dir) throws Exception {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(Files::isRegularFile).toList().stream();
    }
  }

  @Test
  void seedsDependOnRunSeedAndRecordOnly() {
    long a = Seeds.derive(1, "rec-1");
    assertEquals(a, Seeds.derive(1, "rec-1"));
    assertNotEquals(a, Seeds.derive(2, "rec-1"));
    assertNotEquals(a, Seeds.derive(1, "rec-2"));
    for (int i = 0; i < 1000; i++) {
      long s = Seeds.derive(i, "r" + i);
      assertTrue(s >= 0 && s <= Seeds.MAX, "seed in range: " + s);
    }
  }

  @Test
  void aModelThatFailsToLoadIsNotLoadedAgainForEachBatch() {
    ResponseCache cache = new ResponseCache(tmp.resolve("cache"));
    int[] loads = {0};
    CachingModel m = new CachingModel(ScriptedModel.echo().ref(), () -> {
      loads[0]++;
      throw new IllegalStateException("cannot load broken.gguf");
    }, cache);
    RuntimeException first = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
        () -> m.generate(List.of(text("1", "alpha"))));
    assertEquals("cannot load broken.gguf", first.getMessage());
    for (int i = 0; i < 3; i++) {
      RuntimeException again = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
          () -> m.generate(List.of(text("2", "beta"))));
      assertTrue(again.getMessage().contains("cannot load broken.gguf"), again.getMessage());
    }
    assertEquals(1, loads[0], "one load tried");
  }
}
