package io.instructflow.inference.llama;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import io.instructflow.inference.SamplingParams;
import java.util.ArrayList;
import java.util.List;

/** The sampler chains of a model's completions: made one per completion, freed when it is done. */
final class Samplers {
  private final LlamaApi api;
  private final Pointer vocab;
  private final int contextPerSlot;
  private final boolean ignoreEos;

  /**
   * @param contextPerSlot context tokens per sequence: the penalties' history window
   * @param ignoreEos whether end-of-generation tokens are never sampled ({@link LlamaCppModel.Config#withIgnoreEos})
   */
  Samplers(LlamaApi api, Pointer vocab, int contextPerSlot, boolean ignoreEos) {
    this.api = api;
    this.vocab = vocab;
    this.contextPerSlot = contextPerSlot;
    this.ignoreEos = ignoreEos;
  }

  /**
   * A sampler chain for one completion: grammar first, then the penalties, then greedy, or top-k, top-p,
   * temperature and a seeded draw.
   */
  Pointer sampler(SamplingParams p, long seed) {
    Pointer chain = api.llama_sampler_chain_init(api.llama_sampler_chain_default_params());
    NativeCounts.NATIVE.samplersMade.incrementAndGet();
    if (ignoreEos) {
      Memory eog = endOfGenerationBiases();
      api.llama_sampler_chain_add(chain, api.llama_sampler_init_logit_bias(api.llama_vocab_n_tokens(vocab),
          (int) (eog.size() / 8), eog));
    }
    if (p.grammar() != null) {
      Pointer g = api.llama_sampler_init_grammar(vocab, p.grammar(), "root");
      if (g == null) {
        free(chain);
        throw new IllegalArgumentException("the GBNF grammar does not parse (or has no 'root' rule)");
      }
      api.llama_sampler_chain_add(chain, g);
    }
    if (p.penalized()) {
      // over the whole completion: the chain's sample() accepts each drawn token into the penalties'
      // history, and the prompt is never accepted, so only generated tokens count (OpenAI's semantics)
      api.llama_sampler_chain_add(chain, api.llama_sampler_init_penalties(api.llama_vocab_n_tokens(vocab), contextPerSlot,
          (float) p.repetitionPenalty(),
          (float) p.frequencyPenalty(), (float) p.presencePenalty()));
    }
    if (p.greedy()) {
      api.llama_sampler_chain_add(chain, api.llama_sampler_init_greedy());
    } else {
      if (p.topK() > 0) {
        api.llama_sampler_chain_add(chain, api.llama_sampler_init_top_k(p.topK()));
      }
      if (p.topP() < 1) {
        api.llama_sampler_chain_add(chain, api.llama_sampler_init_top_p((float) p.topP(), 1));
      }
      api.llama_sampler_chain_add(chain, api.llama_sampler_init_temp((float) p.temperature()));
      // llama.cpp's seed is 32 bits; 0xFFFFFFFF would mean "random", which our derived seeds avoid
      int s = (int) (seed ^ (seed >>> 32));
      api.llama_sampler_chain_add(chain, api.llama_sampler_init_dist(s == -1 ? 0 : s));
    }
    return chain;
  }

  private Memory eogBiases;

  /** {@code llama_logit_bias} entries (token, bias) of minus infinity for every end-of-generation token. */
  private synchronized Memory endOfGenerationBiases() {
    if (eogBiases == null) {
      List<Integer> eog = new ArrayList<>();
      int n = api.llama_vocab_n_tokens(vocab);
      for (int t = 0; t < n; t++) {
        if (api.llama_vocab_is_eog(vocab, t) != 0) {
          eog.add(t);
        }
      }
      Memory m = new Memory(8L * Math.max(1, eog.size()));
      m.clear();
      for (int i = 0; i < eog.size(); i++) {
        m.setInt(8L * i, eog.get(i));
        m.setFloat(8L * i + 4, Float.NEGATIVE_INFINITY);
      }
      // a vocabulary without one gets a single no-op entry (token 0, bias 0)
      eogBiases = m;
    }
    return eogBiases;
  }

  /** Frees a chain made by {@link #sampler}. */
  void free(Pointer sampler) {
    api.llama_sampler_free(sampler);
    NativeCounts.NATIVE.samplersFreed.incrementAndGet();
  }
}
