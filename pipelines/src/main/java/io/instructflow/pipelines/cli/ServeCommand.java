package io.instructflow.pipelines.cli;

import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.serve.OpenAiServer;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code instructflow serve}: an OpenAI-compatible server over the embedded llama.cpp engine. */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = {
      "Serve a GGUF model over an OpenAI-compatible API (JSON or, with stream: true, server-sent events): "
          + "GET /v1/models, POST /v1/completions, POST /v1/chat/completions. Concurrent requests share the engine's "
          + "sequences. Runs until interrupted."
    })
public final class ServeCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, paramLabel = "GGUF", description = "The GGUF model file.")
  String model;

  @Option(names = "--model-name", paramLabel = "NAME", description = "Name clients send as 'model'. Default: the file name without .gguf.")
  String modelName;

  @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind. Default: ${DEFAULT-VALUE}.")
  String host;

  @Option(names = "--port", defaultValue = "8080", description = "Default: ${DEFAULT-VALUE}.")
  int port;

  @Option(names = "--api-key-env", paramLabel = "VAR",
      description = "Environment variable holding the API key; requests without 'Authorization: Bearer <key>' get 401. "
          + "Required to bind an address other than loopback.")
  String apiKeyEnv;

  @Option(names = "--queue", defaultValue = "64", paramLabel = "N",
      description = "Requests that may wait for a worker; one more gets 503 with Retry-After. Default: ${DEFAULT-VALUE}.")
  int queue;

  @Option(names = "--per-client", defaultValue = "32", paramLabel = "N",
      description = "Connections (one request each) open at once from one address; one more gets 429 with "
          + "Retry-After. Default: ${DEFAULT-VALUE}.")
  int perClient;

  @Option(names = "--max-connections", defaultValue = "128", paramLabel = "N",
      description = "Connections open at once, slow ones included; one more gets 503 with Retry-After. "
          + "Default: ${DEFAULT-VALUE}.")
  int maxConnections;

  @Option(names = "--header-timeout", defaultValue = "10", paramLabel = "SECONDS",
      description = "Time a client has to send its request line and headers, else 408. Default: ${DEFAULT-VALUE}.")
  int headerTimeout;

  @Option(names = "--body-timeout", defaultValue = "60", paramLabel = "SECONDS",
      description = "Time a client has to send its body after the headers, else 408. Default: ${DEFAULT-VALUE}.")
  int bodyTimeout;

  @Mixin EngineOptions engine;

  /** The server settings the options name; reads the key from the environment. */
  OpenAiServer.Settings settings() {
    String key = null;
    if (apiKeyEnv != null) {
      key = System.getenv(apiKeyEnv);
      if (key == null || key.isBlank()) {
        throw new Main.UsageException("--api-key-env " + apiKeyEnv + ": that environment variable is not set");
      }
    }
    if (headerTimeout < 1 || bodyTimeout < 1) {
      throw new Main.UsageException("--header-timeout and --body-timeout are at least 1 second");
    }
    try {
      return new OpenAiServer.Settings(key, Math.max(16, 4 * engine.parallel()), queue, perClient, maxConnections,
          Duration.ofSeconds(headerTimeout), Duration.ofSeconds(bodyTimeout));
    } catch (IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
  }

  @Override
  public Integer call() throws Exception {
    OpenAiServer.Settings settings = settings();
    if (settings.apiKey() == null && !java.net.InetAddress.getByName(host).isLoopbackAddress()) {
      throw new Main.UsageException("refusing to serve on " + host + " without --api-key-env: any machine that can "
          + "reach it could use the model; set a key (clients send 'Authorization: Bearer <key>') or bind 127.0.0.1");
    }
    LlamaCppModel llama;
    try {
      llama = LlamaCppModel.shared(engine.config(Paths.get(model)));
    } catch (InvalidModelException | IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
    String name = modelName != null ? modelName : Paths.get(model).getFileName().toString().replaceFirst("\\.gguf$", "");
    OpenAiServer server = new OpenAiServer(llama, name, host, port, settings);
    System.out.printf("serve: %s (sha256 %s) at http://%s:%d/v1%s — Ctrl-C to stop%n", name, llama.ref().sha256(), host,
        server.port(), settings.apiKey() == null ? "" : " (API key required)");
    CountDownLatch stop = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      server.close();
      System.out.printf("serve: stopped after %d requests%n", server.served());
      stop.countDown();
    }));
    stop.await();
    return 0;
  }
}
