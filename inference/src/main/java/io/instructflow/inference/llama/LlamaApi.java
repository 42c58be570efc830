package io.instructflow.inference.llama;

import com.sun.jna.Callback;
import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.Structure.FieldOrder;

/**
 * The part of llama.cpp's C API ({@code include/llama.h}) that {@link LlamaCppModel} drives, mapped
 * with JNA. The structures mirror the release that {@link NativeLibs} loads (node-llama-cpp 3.22.1's
 * llama.cpp, tag v0.5.0) field for field: sizes 80 ({@code llama_model_params}), 160
 * ({@code llama_context_params}) and 56 ({@code llama_batch}) bytes, checked against the C compiler's
 * {@code sizeof}/{@code offsetof} on that header. A release that changes them must change this file.
 *
 * <p>C {@code bool} is one byte: fields and return values are mapped as {@code byte} (only the low byte
 * of a returned {@code bool} is defined), arguments as {@code boolean}.
 */
public interface LlamaApi extends Library {

  /** {@code struct llama_model_params}. */
  @FieldOrder({"devices", "tensor_buft_overrides", "n_gpu_layers", "split_mode", "load_mode", "lazy_mode",
      "main_gpu", "tensor_split", "progress_callback", "progress_callback_user_data", "kv_overrides",
      "vocab_only", "check_tensors", "use_extra_bufts", "no_host", "no_alloc", "load_mtp"})
  class ModelParams extends Structure implements Structure.ByValue {
    public Pointer devices;
    public Pointer tensor_buft_overrides;
    public int n_gpu_layers;
    public int split_mode;
    public int load_mode;
    public int lazy_mode;
    public int main_gpu;
    public Pointer tensor_split;
    public Pointer progress_callback;
    public Pointer progress_callback_user_data;
    public Pointer kv_overrides;
    public byte vocab_only;
    public byte check_tensors;
    public byte use_extra_bufts;
    public byte no_host;
    public byte no_alloc;
    public byte load_mtp;
  }

  /** {@code struct llama_context_params}. */
  @FieldOrder({"n_ctx", "n_batch", "n_ubatch", "n_seq_max", "n_rs_seq", "n_outputs_max", "n_outputs_max_per_seq",
      "n_threads", "n_threads_batch", "ctx_type", "rope_scaling_type", "pooling_type", "attention_type",
      "flash_attn_type", "rope_freq_base", "rope_freq_scale", "yarn_ext_factor", "yarn_attn_factor",
      "yarn_beta_fast", "yarn_beta_slow", "yarn_orig_ctx", "defrag_thold", "cb_eval", "cb_eval_user_data",
      "type_k", "type_v", "abort_callback", "abort_callback_data", "embeddings", "offload_kqv", "no_perf",
      "op_offload", "swa_full", "kv_unified", "samplers", "n_samplers", "ctx_other"})
  class ContextParams extends Structure implements Structure.ByValue {
    public int n_ctx;
    public int n_batch;
    public int n_ubatch;
    public int n_seq_max;
    public int n_rs_seq;
    public int n_outputs_max;
    public int n_outputs_max_per_seq;
    public int n_threads;
    public int n_threads_batch;
    public int ctx_type;
    public int rope_scaling_type;
    public int pooling_type;
    public int attention_type;
    public int flash_attn_type;
    public float rope_freq_base;
    public float rope_freq_scale;
    public float yarn_ext_factor;
    public float yarn_attn_factor;
    public float yarn_beta_fast;
    public float yarn_beta_slow;
    public int yarn_orig_ctx;
    public float defrag_thold;
    public Pointer cb_eval;
    public Pointer cb_eval_user_data;
    public int type_k;
    public int type_v;
    public Pointer abort_callback;
    public Pointer abort_callback_data;
    public byte embeddings;
    public byte offload_kqv;
    public byte no_perf;
    public byte op_offload;
    public byte swa_full;
    public byte kv_unified;
    public Pointer samplers;
    public long n_samplers;
    public Pointer ctx_other;
  }

  /** {@code struct llama_batch}, passed by value to {@code llama_decode}; the arrays are ours. */
  @FieldOrder({"n_tokens", "token", "embd", "pos", "n_seq_id", "seq_id", "logits"})
  class Batch extends Structure implements Structure.ByValue {
    public int n_tokens;
    public Pointer token;
    public Pointer embd;
    public Pointer pos;
    public Pointer n_seq_id;
    public Pointer seq_id;
    public Pointer logits;
  }

  /** {@code struct llama_sampler_chain_params}. */
  @FieldOrder({"no_perf"})
  class SamplerChainParams extends Structure implements Structure.ByValue {
    public byte no_perf;
  }

  /** {@code ggml_log_callback}. */
  interface LogCallback extends Callback {
    void invoke(int level, String text, Pointer userData);
  }

  int FLASH_ATTN_AUTO = -1;
  int FLASH_ATTN_DISABLED = 0;
  int FLASH_ATTN_ENABLED = 1;
  /** {@code LLAMA_TOKEN_ATTR_*} bits (llama.h). */
  int TOKEN_ATTR_UNKNOWN = 1;
  int TOKEN_ATTR_CONTROL = 1 << 3;
  int TOKEN_ATTR_USER_DEFINED = 1 << 4;
  int TOKEN_ATTR_LSTRIP = 1 << 7;
  int TOKEN_ATTR_RSTRIP = 1 << 8;

  /** The release, e.g. {@code 0.5.0} or {@code 0.5.0-dev}; absent before llama.cpp had semantic versions. */
  String llama_version();

  void llama_backend_init();

  void llama_log_set(LogCallback callback, Pointer userData);

  ModelParams llama_model_default_params();

  ContextParams llama_context_default_params();

  SamplerChainParams llama_sampler_chain_default_params();

  Pointer llama_model_load_from_file(String path, ModelParams params);

  void llama_model_free(Pointer model);

  Pointer llama_init_from_model(Pointer model, ContextParams params);

  void llama_free(Pointer ctx);

  byte llama_supports_gpu_offload();

  Pointer llama_model_get_vocab(Pointer model);

  int llama_model_n_ctx_train(Pointer model);

  Pointer llama_model_chat_template(Pointer model, String name);

  int llama_n_ctx(Pointer ctx);

  Pointer llama_get_memory(Pointer ctx);

  /** Empties the memory: every cell freed and the next cell back at the start; {@code data} also zeroes the buffers. */
  void llama_memory_clear(Pointer mem, byte data);

  /** Runs the context's CPU work on {@code threadpool} (and batches on {@code threadpoolBatch}, or the same one when null). */
  void llama_attach_threadpool(Pointer ctx, Pointer threadpool, Pointer threadpoolBatch);

  void llama_detach_threadpool(Pointer ctx);

  byte llama_memory_seq_rm(Pointer mem, int seq, int p0, int p1);

  /** The highest position a sequence holds in memory, -1 when it holds none. */
  int llama_memory_seq_pos_max(Pointer mem, int seq);

  /** Copies a sequence's cells; between KV streams only whole streams ({@code p0 = p1 = -1}), applied at the next decode. */
  void llama_memory_seq_cp(Pointer mem, int src, int dst, int p0, int p1);

  byte llama_model_is_recurrent(Pointer model);

  byte llama_model_is_hybrid(Pointer model);

  int llama_model_n_swa(Pointer model);

  int llama_decode(Pointer ctx, Batch batch);

  /** The logits of the i-th token of the last decoded batch (one of those marked for output): n_vocab floats. */
  Pointer llama_get_logits_ith(Pointer ctx, int i);

  int llama_tokenize(Pointer vocab, byte[] text, int textLen, int[] tokens, int maxTokens, boolean addSpecial,
      boolean parseSpecial);

  int llama_token_to_piece(Pointer vocab, int token, byte[] buf, int length, int lstrip, boolean special);

  byte llama_vocab_is_eog(Pointer vocab, int token);

  int llama_vocab_n_tokens(Pointer vocab);

  /** The token's text as the vocabulary stores it (what special-token parsing searches for). */
  Pointer llama_vocab_get_text(Pointer vocab, int token);

  /** The token's {@code LLAMA_TOKEN_ATTR_*} bits. */
  int llama_vocab_get_attr(Pointer vocab, int token);

  int llama_vocab_bos(Pointer vocab);

  byte llama_vocab_get_add_bos(Pointer vocab);

  int llama_chat_apply_template(String tmpl, Pointer chat, long nMsg, boolean addAssistant, byte[] buf, int length);

  Pointer llama_sampler_chain_init(SamplerChainParams params);

  void llama_sampler_chain_add(Pointer chain, Pointer sampler);

  Pointer llama_sampler_init_greedy();

  Pointer llama_sampler_init_dist(int seed);

  Pointer llama_sampler_init_top_k(int k);

  Pointer llama_sampler_init_top_p(float p, long minKeep);

  Pointer llama_sampler_init_temp(float t);

  /** Since this release the vocabulary size comes first (common/sampling.cpp passes llama_vocab_n_tokens). */
  Pointer llama_sampler_init_penalties(int nVocab, int penaltyLastN, float penaltyRepeat, float penaltyFreq,
      float penaltyPresent);

  /** {@code logitBias} points at {@code nLogitBias} {@code llama_logit_bias} structs: int32 token, float bias. */
  Pointer llama_sampler_init_logit_bias(int nVocab, int nLogitBias, Pointer logitBias);

  Pointer llama_sampler_init_grammar(Pointer vocab, String grammar, String root);

  int llama_sampler_sample(Pointer sampler, Pointer ctx, int idx);

  void llama_sampler_free(Pointer sampler);

  /** The part of ggml's API used: loading the backends (CPU variants, CUDA) that are separate libraries. */
  interface Ggml extends Library {
    void ggml_backend_load_all_from_path(String dir);

    void ggml_log_set(LogCallback callback, Pointer userData);

    /** {@code GGML_BACKEND_DEVICE_TYPE_CPU}. */
    int DEVICE_CPU = 0;

    Pointer ggml_backend_dev_by_type(int type);

    Pointer ggml_backend_dev_backend_reg(Pointer device);

    /** A backend's own function by name (the CPU backend's thread-pool functions live in its library). */
    Pointer ggml_backend_reg_get_proc_address(Pointer reg, String name);

    /** Fills a {@code ggml_threadpool_params} ({@link CpuThreadPool#PARAMS_SIZE} bytes) with ggml's defaults. */
    void ggml_threadpool_params_init(Pointer params, int threads);
  }
}
