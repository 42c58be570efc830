package io.instructflow.inference;

import io.instructflow.schemas.ModelRef;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * A fake {@link LanguageModel} whose answers are a function of the request, for unit tests of parsing
 * and control flow. It never stands in for the real engine in a feature's only test.
 */
public final class ScriptedModel implements LanguageModel {
  private final ModelRef ref;
  private final Function<GenerationRequest, GenerationResult> script;
  private final AtomicLong requests = new AtomicLong();

  public ScriptedModel(String name, Function<GenerationRequest, GenerationResult> script) {
    this.ref = new ModelRef(name, null, "scripted");
    this.script = script;
  }

  /** Answers every request with {@code "echo: " + prompt} (or the last message), finish reason stop. */
  public static ScriptedModel echo() {
    return new ScriptedModel("echo", r -> {
      String text = r.isChat() ? r.messages().get(r.messages().size() - 1).content() : r.prompt();
      List<Completion> choices = new ArrayList<>();
      for (int i = 0; i < r.params().n(); i++) {
        choices.add(new Completion("echo: " + text, FinishReason.STOP, text.split("\\s+").length + 1));
      }
      return GenerationResult.ok(r.id(), text, text.split("\\s+").length, choices);
    });
  }

  @Override
  public ModelRef ref() {
    return ref;
  }

  /** Requests answered so far. */
  public long requests() {
    return requests.get();
  }

  @Override
  public List<GenerationResult> generate(List<GenerationRequest> batch) {
    List<GenerationResult> out = new ArrayList<>(batch.size());
    for (GenerationRequest r : batch) {
      requests.incrementAndGet();
      out.add(script.apply(r));
    }
    return out;
  }
}
