package io.instructflow.pipelines.cli;

import io.instructflow.inference.InvalidModelException;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.serve.OpenAiServer;
import java.nio.file.Paths;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code instructflow serve}: an OpenAI-compatible server over the embedded llama.cpp engine. */
@Command(
    name = "serve",
    mixinStandardHelpOptions = true,
    description = {
      "Serve a GGUF model over an OpenAI-compatible API (non-streaming): GET /v1/models, POST /v1/completions, "
          + "POST /v1/chat/completions. Concurrent requests share the engine's slots. Runs until interrupted."
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

  @Option(names = "--parallel", defaultValue = "1", paramLabel = "P",
      description = "Slots (see generate --help on reproducibility). Default: ${DEFAULT-VALUE}.")
  int parallel;

  @Option(names = "--ctx-per-slot", defaultValue = "0", paramLabel = "N", description = "Default: the model's, at most 2048.")
  int contextPerSlot;

  @Option(names = "--threads", defaultValue = "0", paramLabel = "N", description = "0: one per core. Default: ${DEFAULT-VALUE}.")
  int threads;

  @Option(names = "--gpu-layers", defaultValue = "0", paramLabel = "N", description = "Default: ${DEFAULT-VALUE}.")
  int gpuLayers;

  @Option(names = "--verbose-native", description = "Show llama.cpp's own log.")
  boolean verboseNative;

  @Override
  public Integer call() throws Exception {
    LlamaCppModel engine;
    try {
      engine = LlamaCppModel.shared(LlamaCppModel.Config.of(Paths.get(model)).withParallel(parallel)
          .withContextPerSlot(contextPerSlot).withThreads(threads).withGpuLayers(gpuLayers).withVerboseNative(verboseNative));
    } catch (InvalidModelException | IllegalArgumentException e) {
      throw new Main.UsageException(e.getMessage());
    }
    String name = modelName != null ? modelName : Paths.get(model).getFileName().toString().replaceFirst("\\.gguf$", "");
    OpenAiServer server = new OpenAiServer(engine, name, host, port, Math.max(16, 4 * parallel));
    System.out.printf("serve: %s (sha256 %s) at http://%s:%d/v1 — Ctrl-C to stop%n", name, engine.ref().sha256(), host,
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
