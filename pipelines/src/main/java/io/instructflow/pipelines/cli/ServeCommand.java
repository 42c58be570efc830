package io.instructflow.pipelines.cli;

import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.serve.OpenAiServer;
import java.nio.file.Paths;
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
      "Serve a GGUF model over an OpenAI-compatible API (non-streaming): GET /v1/models, POST /v1/completions, "
          + "POST /v1/chat/completions. Concurrent requests share the engine's sequences. Runs until interrupted."
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

  @Mixin EngineOptions engine;

  @Override
  public Integer call() throws Exception {
    LlamaCppModel llama;
    try {
      llama = LlamaCppModel.shared(engine.config(Paths.get(model)));
    } catch (InvalidModelException | IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
    String name = modelName != null ? modelName : Paths.get(model).getFileName().toString().replaceFirst("\\.gguf$", "");
    OpenAiServer server = new OpenAiServer(llama, name, host, port, Math.max(16, 4 * engine.parallel));
    System.out.printf("serve: %s (sha256 %s) at http://%s:%d/v1 — Ctrl-C to stop%n", name, llama.ref().sha256(), host,
        server.port());
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
