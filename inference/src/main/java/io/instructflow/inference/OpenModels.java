package io.instructflow.inference;

import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.openai.OpenAiModel;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The JVM's models and identities, kept by {@link ModelSpec} (the registry behind {@link ModelSpec#open}
 * and {@link ModelSpec#identity}).
 *
 * <p>What is kept: an identity only once it was obtained (a failed {@code GET /models} is asked again);
 * a local model for the life of the JVM (a file that failed to load is not reloaded for each batch,
 * issue 21); a remote model until it is found unusable, that is until its server refused the key or has
 * no such model (401, 403, 404, after which every request of the run fails at once), or its client could
 * not be made (an API-key variable that is not set). Such a model is dropped by
 * {@link #forgetUnusable}, which {@link ModelSpec.Remote#check} calls at the start of every run, so a run
 * after the server or the environment was fixed is not refused by what an earlier run met (issue 20). It
 * is not dropped in the middle of a run: the first refusal stops that run (issue 21).
 */
final class OpenModels {
  /** An opened model and whether it can still serve requests. */
  private record Opened(LanguageModel model, BooleanSupplier usable) {}

  private static final Map<ModelSpec, Opened> OPEN = new HashMap<>();
  private static final Map<ModelSpec, String> IDENTITIES = new ConcurrentHashMap<>();

  private OpenModels() {}

  /** See {@link ModelSpec#identity}: computeIfAbsent keeps nothing when the computation throws. */
  static String identity(ModelSpec spec) {
    return IDENTITIES.computeIfAbsent(spec, s -> s instanceof ModelSpec.Remote r
        ? new OpenAiModel(r.clientConfig()).identity()
        : io.instructflow.inference.llama.EngineBuild.identity(((ModelSpec.Local) s).llamaConfig()));
  }

  /** See {@link ModelSpec#open}. */
  static LanguageModel open(ModelSpec spec) {
    synchronized (OPEN) {
      return OPEN.computeIfAbsent(spec, OpenModels::make).model();
    }
  }

  /** Drops the JVM's model for {@code spec} when it can no longer serve requests; the next open makes a new one. */
  static void forgetUnusable(ModelSpec spec) {
    synchronized (OPEN) {
      Opened o = OPEN.get(spec);
      if (o != null && !o.usable().getAsBoolean()) {
        OPEN.remove(spec);
      }
    }
  }

  /** Whether the JVM holds a model for {@code spec} (for tests). */
  static boolean isOpen(ModelSpec spec) {
    synchronized (OPEN) {
      return OPEN.containsKey(spec);
    }
  }

  private static Opened make(ModelSpec spec) {
    Supplier<LanguageModel> base;
    BooleanSupplier clientUsable;
    if (spec instanceof ModelSpec.Remote r) {
      AtomicReference<OpenAiModel> made = new AtomicReference<>();
      base = () -> {
        OpenAiModel m = new OpenAiModel(r.clientConfig());
        made.set(m);
        return m;
      };
      clientUsable = () -> made.get() == null || made.get().usable();
    } else {
      ModelSpec.Local l = (ModelSpec.Local) spec;
      base = () -> load(l.llamaConfig());
      clientUsable = () -> true;
    }
    if (spec.cacheDir() == null) {
      return new Opened(base.get(), clientUsable);
    }
    CachingModel cached = new CachingModel(spec.ref(), spec::identity, base, new ResponseCache(Paths.get(spec.cacheDir())));
    return new Opened(cached, spec.isRemote() ? () -> clientUsable.getAsBoolean() && !cached.failedToLoad() : () -> true);
  }

  private static LanguageModel load(LlamaCppModel.Config c) {
    try {
      return LlamaCppModel.shared(c);
    } catch (InvalidModelException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
  }
}
