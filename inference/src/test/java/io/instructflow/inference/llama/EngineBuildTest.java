package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.instructflow.inference.ModelFiles;
import io.instructflow.inference.ModelSpec;
import io.instructflow.schemas.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded engine's identity (issue 21): file, llama.cpp build, backend, GPU layers. */
class EngineBuildTest {
  @TempDir Path tmp;

  @Test
  void namesTheFileTheBuildAndTheBackend() throws Exception {
    LlamaCppModel.Config c = LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(256).withThreads(1);
    JsonNode id = Json.mapper().readTree(EngineBuild.identity(c));
    assertEquals("sha256:" + ModelFiles.sha256(TestModels.stories()), id.path("model").asText());
    assertEquals("sha256:" + EngineBuild.librariesSha256(NativeLibs.folder()), id.path("llama_cpp").asText());
    assertEquals(NativeLibs.ownBuild() == null ? "cpu" : id.path("backend").asText(), id.path("backend").asText());
    assertEquals(64, id.path("llama_cpp").asText().length() - "sha256:".length());
    // the loaded engine reports the identity computed without loading, as serve's /v1/models does
    assertEquals(EngineBuild.identity(c), LlamaCppModel.shared(c).identity());
    assertEquals(EngineBuild.identity(c), ModelSpec.local(TestModels.stories().toString(), 1, 256, 1, 0, false, null)
        .identity());
  }

  @Test
  void anotherFileAtTheSamePathIsAnotherIdentity() throws Exception {
    Path model = tmp.resolve("model.gguf");
    Files.copy(TestModels.stories(), model);
    String before = EngineBuild.identity(LlamaCppModel.Config.of(model));
    Path other = TestModels.withStringKey(TestModels.stories(), "tokenizer.chat_template", TestModels.CHATML,
        tmp.resolve("other.gguf"));
    Files.move(other, model, StandardCopyOption.REPLACE_EXISTING);
    Files.setLastModifiedTime(model, FileTime.fromMillis(Files.getLastModifiedTime(model).toMillis() + 5000));
    assertNotEquals(before, EngineBuild.identity(LlamaCppModel.Config.of(model)));
  }

  @Test
  void theLibraryHashChangesWithAnyLibrary() throws Exception {
    Path copy = Files.createDirectory(tmp.resolve("build"));
    try (var s = Files.list(NativeLibs.folder())) {
      for (Path p : s.filter(p -> p.getFileName().toString().startsWith("lib")).toList()) {
        Files.copy(p, copy.resolve(p.getFileName()));
      }
    }
    String same = EngineBuild.librariesSha256(copy);
    assertEquals(EngineBuild.librariesSha256(NativeLibs.folder()), same, "names and contents, not the folder");
    Path llama;
    try (var s = Files.list(copy)) {
      llama = s.filter(p -> p.getFileName().toString().startsWith("libllama")).findFirst().orElseThrow();
    }
    Files.write(llama, new byte[] {0}, java.nio.file.StandardOpenOption.APPEND);
    assertNotEquals(same, EngineBuild.librariesSha256(copy), "a rebuilt libllama is another build");
    Files.writeString(copy.resolve("libggml-cuda.so"), "stand-in");
    assertEquals(true, EngineBuild.cuda(copy));
  }
}
