package io.instructflow.inference.llama;

import io.instructflow.inference.ModelFiles;
import io.instructflow.schemas.Ids;
import io.instructflow.schemas.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The identity of the embedded engine's answers: what a model's text depends on besides the request
 * (issue 21). The same GGUF file can give other numbers under another llama.cpp build (other kernels),
 * on another backend (CPU or CUDA), or with another number of layers offloaded to the GPU, so the
 * response cache and resumable runs key on all four, not on the file alone.
 */
public final class EngineBuild {
  private EngineBuild() {}

  /**
   * The engine identity of a configuration, computed without loading a model (a tuned build's libraries
   * are loaded to learn that they load here, see {@link NativeLibs#folder}): a canonical JSON
   * string with the model file's SHA-256, the SHA-256 of the llama.cpp libraries the engine loads
   * (their names and contents; see {@link #librariesSha256}), the backend ({@code cpu}, or {@code cuda}
   * when the folder holds a CUDA backend) and, on CUDA, the GPU layers.
   */
  public static String identity(LlamaCppModel.Config c) {
    Path dir = NativeLibs.folder();
    boolean cuda = cuda(dir);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("engine", "llama.cpp");
    m.put("model", "sha256:" + ModelFiles.sha256(c.model()));
    m.put("llama_cpp", "sha256:" + librariesSha256(dir));
    m.put("backend", cuda ? "cuda" : "cpu");
    // on the CPU build no layer can be offloaded (asking is refused), so the number changes nothing there
    m.put("gpu_layers", cuda ? c.gpuLayers() : 0);
    return Json.line(m);
  }

  /** Whether a llama.cpp folder holds a CUDA backend ({@code libggml-cuda*.so}). */
  static boolean cuda(Path dir) {
    return libraries(dir).stream().anyMatch(p -> p.getFileName().toString().startsWith("libggml-cuda"));
  }

  /**
   * SHA-256 over the shared libraries of a llama.cpp folder ({@code lib*.so*}, sorted by name): each
   * one's name and SHA-256 on a line. Another build (another commit, other compile flags, another
   * backend) gives another hash. Each file is hashed once per JVM and version (size, mtime).
   */
  public static String librariesSha256(Path dir) {
    StringBuilder b = new StringBuilder();
    for (Path p : libraries(dir)) {
      b.append(p.getFileName()).append(' ').append(ModelFiles.sha256(p)).append('\n');
    }
    return Ids.sha256Hex(b.toString().getBytes(StandardCharsets.UTF_8));
  }

  private static List<Path> libraries(Path dir) {
    List<Path> out = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        String n = p.getFileName().toString();
        if (n.startsWith("lib") && n.contains(".so") && Files.isRegularFile(p)) {
          out.add(p);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list llama.cpp's libraries in " + dir, e);
    }
    out.sort((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()));
    if (out.isEmpty()) {
      throw new IllegalStateException("no llama.cpp libraries (lib*.so) in " + dir);
    }
    return out;
  }
}
