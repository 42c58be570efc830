package io.instructflow.inference.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;

/**
 * llama.cpp's own {@code llama-server}, started on a free loopback port for one measurement or check and
 * stopped by {@link #close}: its libraries are looked up beside it (DIR for DIR/bin/llama-server), its log
 * goes to a temporary file whose tail explains a failed start.
 */
final class LlamaServer implements AutoCloseable {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Process proc;
  private final Path logFile;
  private final HttpClient http;
  private final URI base;

  private LlamaServer(Process proc, Path logFile, HttpClient http, URI base) {
    this.proc = proc;
    this.logFile = logFile;
    this.http = http;
    this.base = base;
  }

  /**
   * Starts {@code server} with {@code args} (model, threads, context...; host, port and web UI are added
   * here) and waits until it answers {@code /health} (at most 10 minutes).
   *
   * @throws IOException when it exits or does not get healthy, with the end of its log
   */
  static LlamaServer start(Path server, List<String> args) throws IOException, InterruptedException {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    List<String> cmd = new ArrayList<>();
    cmd.add(server.toString());
    cmd.addAll(args);
    cmd.addAll(List.of("--host", "127.0.0.1", "--port", String.valueOf(port), "--no-webui"));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    Path libs = server.getParent().getFileName().toString().equals("bin") ? server.getParent().getParent()
        : server.getParent();
    String ld = System.getenv("LD_LIBRARY_PATH");
    pb.environment().put("LD_LIBRARY_PATH", libs.toAbsolutePath() + (ld == null ? "" : ":" + ld));
    Path logFile = Files.createTempFile("llama-server", ".log");
    pb.redirectErrorStream(true).redirectOutput(logFile.toFile());
    Process proc = pb.start();
    LlamaServer s = new LlamaServer(proc, logFile,
        HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build(),
        URI.create("http://127.0.0.1:" + port));
    try {
      s.waitHealthy();
    } catch (IOException | InterruptedException | RuntimeException e) {
      s.close();
      throw e;
    }
    return s;
  }

  /** POSTs a JSON body to {@code path}; the answer's JSON, or an IOException naming the status and body. */
  JsonNode post(String path, JsonNode body) throws IOException, InterruptedException {
    HttpResponse<String> r = http.send(request(path, body), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    if (r.statusCode() != 200) {
      throw new IOException("llama-server answered " + r.statusCode() + " to " + path + ": " + r.body());
    }
    return JSON.readTree(r.body());
  }

  private HttpRequest request(String path, JsonNode body) throws IOException {
    return HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofHours(2))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body), StandardCharsets.UTF_8)).build();
  }

  /** Stops the server (SIGTERM, then SIGKILL after 30 s) and deletes its log. */
  @Override
  public void close() throws IOException, InterruptedException {
    proc.destroy();
    if (!proc.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
      proc.destroyForcibly();
    }
    Files.deleteIfExists(logFile);
  }

  /** Requests/s of {@code items}, all sent at once to a llama-server with the plan's model, threads and mix slots. */
  static double mix(Path server, PeerBench.Plan p, String fa, List<RequestMix.Item> items, PrintStream log)
      throws IOException, InterruptedException {
    List<String> args = List.of("-m", p.model().toString(), "-t", String.valueOf(p.threads()),
        "-tb", String.valueOf(p.threads()), "-c", String.valueOf((long) RequestMix.CONTEXT * p.mixSlots()),
        "-np", String.valueOf(p.mixSlots()), "-b", "512", "-ub", "512", "-fa", fa,
        "-ngl", String.valueOf(p.gpuLayers()));
    try (LlamaServer srv = start(server, args)) {
      List<CompletableFuture<HttpResponse<String>>> pending = new ArrayList<>();
      long t0 = System.nanoTime();
      for (RequestMix.Item it : items) {
        ObjectNode body = JSON.createObjectNode();
        body.put("prompt", it.prompt());
        body.put("n_predict", it.maxTokens());
        body.put("temperature", 0);
        body.put("ignore_eos", true);
        body.put("cache_prompt", true);
        pending.add(srv.http.sendAsync(srv.request("/completion", body),
            HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8)));
      }
      long predicted = 0;
      for (int i = 0; i < pending.size(); i++) {
        HttpResponse<String> r = pending.get(i).join();
        if (r.statusCode() != 200) {
          throw new IOException("llama-server answered " + r.statusCode() + " to " + items.get(i).id() + ": " + r.body());
        }
        JsonNode j = JSON.readTree(r.body());
        int n = j.path("tokens_predicted").asInt(-1);
        if (n != items.get(i).maxTokens()) {
          throw new IOException("llama-server predicted " + n + " of " + items.get(i).maxTokens() + " tokens for "
              + items.get(i).id() + " (" + items.get(i).promptTokens() + " prompt tokens by our count; it evaluated "
              + j.path("tokens_evaluated").asText() + ", stop type " + j.path("stop_type").asText() + ", truncated "
              + j.path("truncated").asText() + ")");
        }
        predicted += n;
      }
      double rps = items.size() / ((System.nanoTime() - t0) / 1e9);
      log.printf(Locale.ROOT, "  realistic mix, llama-server: %.3f requests/s (%,d tokens predicted)%n", rps, predicted);
      return rps;
    }
  }

  private void waitHealthy() throws IOException, InterruptedException {
    long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
    while (System.nanoTime() < deadline) {
      if (!proc.isAlive()) {
        throw new IOException("llama-server exited with " + proc.exitValue() + ": " + tail());
      }
      try {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/health"))
            .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // not listening yet
      }
      Thread.sleep(250);
    }
    throw new IOException("llama-server was not healthy within 10 minutes: " + tail());
  }

  private String tail() throws IOException {
    String s = Files.readString(logFile, StandardCharsets.UTF_8);
    return s.substring(Math.max(0, s.length() - 2000));
  }
}
