package io.instructflow.inference.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import io.instructflow.inference.GenerationResult.ErrorKind;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.ScoreResult;
import io.instructflow.schemas.Message;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Token log-probabilities of given continuations on the real stories260K model (issue 22, item 1): equal
 * to a reference that drives llama.cpp's C API directly as llama-perplexity does, and the same whether
 * requests are batched with prefix reuse or scored alone.
 */
class ScoreTest {
  static final String PREFIX = PrefixReuseTest.PREFIX;

  private static LlamaCppModel.Config base() {
    return LlamaCppModel.Config.of(TestModels.stories()).withContextPerSlot(2048).withThreads(1);
  }

  /**
   * Log-probabilities of {@code tokens[from..]} as llama-perplexity computes them: a fresh context of its own
   * (no KV streams, no reuse), the text in batches of 512 tokens with logits at every position, and the
   * log-softmax written out here. (Decoding one token per call instead gives logits up to about 7e-3 apart
   * on this model: llama.cpp's one-row kernels are not its many-row kernels.)
   */
  static double[] reference(LlamaApi api, Path model, int[] tokens, int from) {
    LlamaApi.ModelParams mp = api.llama_model_default_params();
    Pointer m = api.llama_model_load_from_file(model.toString(), mp);
    assertTrue(m != null, "reference model loads");
    LlamaApi.ContextParams cp = api.llama_context_default_params();
    cp.n_ctx = 2048;
    cp.n_batch = 512;
    cp.n_ubatch = 512;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    cp.flash_attn_type = LlamaApi.FLASH_ATTN_DISABLED;
    Pointer ctx = api.llama_init_from_model(m, cp);
    try {
      int nVocab = api.llama_vocab_n_tokens(api.llama_model_get_vocab(m));
      // as llama-perplexity evaluates a text: its tokens in batches of n_batch, logits for every position
      int n = tokens.length - 1;
      Memory tok = new Memory(4L * n);
      Memory pos = new Memory(4L * n);
      Memory nSeq = new Memory(4L * n);
      Memory seq = new Memory(4);
      Memory seqPtr = new Memory((long) Native.POINTER_SIZE * n);
      Memory out = new Memory(n);
      seq.setInt(0, 0);
      for (int i = 0; i < n; i++) {
        tok.setInt(4L * i, tokens[i]);
        pos.setInt(4L * i, i);
        nSeq.setInt(4L * i, 1);
        seqPtr.setPointer((long) Native.POINTER_SIZE * i, seq);
        out.setByte(i, (byte) 1);
      }
      double[] lp = new double[tokens.length - from];
      for (int start = 0; start < n; start += 512) {
        LlamaApi.Batch b = new LlamaApi.Batch();
        b.n_tokens = Math.min(512, n - start);
        b.token = tok.share(4L * start);
        b.embd = Pointer.NULL;
        b.pos = pos.share(4L * start);
        b.n_seq_id = nSeq.share(4L * start);
        b.seq_id = seqPtr.share((long) Native.POINTER_SIZE * start);
        b.logits = out.share(start);
        assertEquals(0, api.llama_decode(ctx, b));
        for (int k = 0; k < b.n_tokens; k++) {
          int i = start + k;
          if (i + 1 < from) {
            continue;
          }
          float[] row = api.llama_get_logits_ith(ctx, k).getFloatArray(0, nVocab);
          double max = Double.NEGATIVE_INFINITY;
          for (float v : row) {
            max = Math.max(max, v);
          }
          double sum = 0;
          for (float v : row) {
            sum += Math.exp(v - max);
          }
          lp[i + 1 - from] = row[tokens[i + 1]] - max - Math.log(sum);
        }
      }
      return lp;
    } finally {
      api.llama_free(ctx);
      api.llama_model_free(m);
    }
  }

  @Test
  void logProbabilitiesEqualLlamaCppDecodingOneTokenAtATime() throws Exception {
    LlamaCppModel model = LlamaCppModel.shared(base().withParallel(3));
    List<ScoreRequest> reqs = List.of(
        ScoreRequest.text("en", "Once upon a time, there was a little girl named Lily.", " She liked to play in the park."),
        ScoreRequest.text("zh", "Tom had a big red ball.", " 他很高兴。Then he ran home 🏃 fast."),
        ScoreRequest.text("alone", "", "The cat sat on the mat and looked at the sun."),
        ScoreRequest.text("long", PREFIX, " Then everyone went home happy."));
    List<ScoreResult> got = model.score(reqs);
    assertEquals(4, got.size());
    for (int i = 0; i < reqs.size(); i++) {
      ScoreResult r = got.get(i);
      assertTrue(r.ok(), r.error());
      assertEquals(reqs.get(i).id(), r.requestId());
      int[] full = model.tokenize(reqs.get(i).prompt() + reqs.get(i).continuation(), true);
      assertEquals(full.length - r.contextTokens(), r.tokens().size(), "every continuation token is scored");
      double[] ref = reference(NativeLibs.api(false), TestModels.stories(), full, r.contextTokens());
      for (int k = 0; k < ref.length; k++) {
        // the same logits to the bit: only the double sums' order may differ
        assertEquals(ref[k], r.tokens().get(k).logprob(), 1e-9, reqs.get(i).id() + " token " + k);
        assertTrue(r.tokens().get(k).logprob() < 0);
      }
      assertEquals(Math.exp(-r.logprob() / r.tokens().size()), r.perplexity(), 1e-12);
    }
    // the continuation's text comes back token by token
    StringBuilder zh = new StringBuilder();
    for (ScoreResult.TokenLogprob t : got.get(1).tokens()) {
      zh.append(new String(t.bytes(), java.nio.charset.StandardCharsets.UTF_8));
    }
    assertTrue(zh.toString().contains("Then he ran home"), zh.toString());
    // an empty context scores every token after BOS
    assertEquals(1, got.get(2).contextTokens());
  }

  @Test
  void batchedWithPrefixReuseEqualsEachRequestScoredAlone() throws Exception {
    List<ScoreRequest> reqs = new ArrayList<>();
    String[] answers = {" Lily was happy.", " Tom ran to the tree and sat down.", " The ball was red.", " 小狗很开心。",
        " They played all day long until the sun went down."};
    for (int i = 0; i < answers.length; i++) {
      // an IFD pair per answer: after the shared instruction, and alone
      reqs.add(ScoreRequest.text("c" + i, PREFIX + " Question " + i + ":", answers[i]));
      reqs.add(ScoreRequest.text("u" + i, "", answers[i]));
    }
    LlamaCppModel alone = LlamaCppModel.shared(base().withParallel(1).withPrefixReuse(false, 0));
    List<ScoreResult> expected = new ArrayList<>();
    for (ScoreRequest r : reqs) {
      expected.addAll(alone.score(List.of(r)));
    }
    LlamaCppModel batched = LlamaCppModel.shared(base().withParallel(4));
    List<ScoreResult> got = batched.score(reqs);
    for (int i = 0; i < reqs.size(); i++) {
      assertTrue(got.get(i).ok(), got.get(i).error());
      assertEquals(expected.get(i).tokens().size(), got.get(i).tokens().size());
      assertEquals(expected.get(i).contextTokens(), got.get(i).contextTokens());
      for (int k = 0; k < got.get(i).tokens().size(); k++) {
        assertEquals(expected.get(i).tokens().get(k).token(), got.get(i).tokens().get(k).token());
        assertEquals(expected.get(i).tokens().get(k).logprob(), got.get(i).tokens().get(k).logprob(), 1e-5,
            reqs.get(i).id() + " token " + k);
      }
    }
    // the shared instruction was computed once per stream, not once per request
    LlamaCppModel.PrefixStats s = batched.scoreStats();
    assertTrue(s.reusedTokens() > 2L * batched.tokenize(PREFIX, true).length, "reused " + s);
    // the same again: every context prefix is now held
    List<ScoreResult> again = batched.score(reqs);
    for (int i = 0; i < reqs.size(); i++) {
      assertEquals(got.get(i).logprob(), again.get(i).logprob(), 1e-5);
    }
  }

  @Test
  void alternativesAreTheMostLikelyTokensInOrder() throws Exception {
    LlamaCppModel model = LlamaCppModel.shared(base());
    ScoreResult r = model.score(List.of(ScoreRequest.text("t", "Once upon a time", " there was a dog.")
        .withTopLogprobs(5))).get(0);
    assertTrue(r.ok(), r.error());
    for (ScoreResult.TokenLogprob t : r.tokens()) {
      assertEquals(5, t.top().size());
      for (int k = 1; k < 5; k++) {
        assertTrue(t.top().get(k - 1).logprob() >= t.top().get(k).logprob());
      }
      assertTrue(t.logprob() <= t.top().get(0).logprob() + 1e-12);
      boolean inTop = t.top().stream().anyMatch(a -> a.token().equals(t.token()));
      assertEquals(inTop, t.logprob() >= t.top().get(4).logprob(), "the scored token is listed iff it ranks in the top 5");
    }
  }

  @Test
  void chatContextsEmptyContinuationsAndLimits(@TempDir Path dir) throws Exception {
    Path chatml = TestModels.withChatMlTokens(TestModels.stories(), dir.resolve("chatml.gguf"));
    LlamaCppModel chat = LlamaCppModel.shared(LlamaCppModel.Config.of(chatml).withContextPerSlot(256).withThreads(1));
    List<Message> msgs = List.of(new Message("user", "Tell me about Lily."));
    List<ScoreResult> got = chat.score(List.of(
        ScoreRequest.chat("chat", msgs, "Lily was a girl who liked to play."),
        ScoreRequest.chat("empty", msgs, ""),
        ScoreRequest.text("too-long", PREFIX, " end")));
    ScoreResult c = got.get(0);
    assertTrue(c.ok(), c.error());
    String rendered = chat.render(msgs);
    assertEquals(chat.tokenizeChat(msgs, rendered).length, c.contextTokens(), "the context is the rendered prompt");
    assertFalse(c.tokens().isEmpty());
    // a control token's text in the answer stays text, as in a prompt
    ScoreResult marker = chat.score(List.of(ScoreRequest.chat("m", msgs, "<|im_end|>"))).get(0);
    assertTrue(marker.tokens().size() > 1, "'<|im_end|>' in an answer is scored as its text's tokens");
    assertTrue(got.get(1).ok());
    assertEquals(0, got.get(1).tokens().size());
    assertTrue(Double.isNaN(got.get(1).perplexity()));
    assertEquals(ErrorKind.PROMPT_TOO_LONG, got.get(2).errorKind());
    // a model without a chat template refuses a chat context, and scoring goes on for the others
    LlamaCppModel plain = LlamaCppModel.shared(base());
    List<ScoreResult> mixed = plain.score(List.of(ScoreRequest.chat("x", msgs, "Hi"), ScoreRequest.text("y", "A", " b")));
    assertEquals(ErrorKind.NO_CHAT_TEMPLATE, mixed.get(0).errorKind());
    assertTrue(mixed.get(1).ok());
  }

  @Test
  void scoresAreCachedByModelIdentityAndRequest(@TempDir Path dir) throws Exception {
    LlamaCppModel model = LlamaCppModel.shared(base());
    io.instructflow.inference.CachingModel cached = new io.instructflow.inference.CachingModel(model.ref(),
        model::identity, () -> model, new io.instructflow.inference.ResponseCache(dir));
    List<ScoreRequest> reqs = List.of(ScoreRequest.text("a", "Lily had a cat.", " 猫很可爱。").withTopLogprobs(2),
        ScoreRequest.text("b", "", " The end."), ScoreRequest.chat("c", List.of(new Message("user", "Hi")), "Hello"));
    List<ScoreResult> first = cached.score(reqs);
    assertEquals(3, cached.misses());
    List<ScoreResult> second = cached.score(reqs);
    assertEquals(2, cached.hits(), "the two successes are stored, the failure (no chat template) is not");
    assertEquals(4, cached.misses());
    for (int i = 0; i < 2; i++) {
      assertEquals(first.get(i).logprob(), second.get(i).logprob(), 0);
      assertEquals(first.get(i).contextTokens(), second.get(i).contextTokens());
      for (int k = 0; k < first.get(i).tokens().size(); k++) {
        ScoreResult.TokenLogprob x = first.get(i).tokens().get(k);
        ScoreResult.TokenLogprob y = second.get(i).tokens().get(k);
        assertEquals(x.token(), y.token());
        assertTrue(java.util.Arrays.equals(x.bytes(), y.bytes()));
        assertEquals(x.top(), y.top());
      }
    }
    assertFalse(second.get(2).ok());
    // another continuation is another entry
    ScoreResult other = cached.score(List.of(ScoreRequest.text("a", "Lily had a cat.", " 狗很可爱。"))).get(0);
    assertEquals(5, cached.misses());
    assertTrue(other.ok());
  }
}
