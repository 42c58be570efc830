package io.instructflow.inference.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.llama.TestModels;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The realistic request mix of {@code bench generate --against}, counted with stories260K's tokenizer. */
class RequestMixTest {
  @Test
  void promptsShareFamilyPrefixesAndStayInTheIssuesRanges() throws Exception {
    LlamaCppModel m = LlamaCppModel.shared(LlamaCppModel.Config.of(TestModels.stories()).withThreads(1));
    List<RequestMix.Item> mix = RequestMix.build(m, 12, 4, 7, 2_500);
    assertEquals(mix, RequestMix.build(m, 12, 4, 7, 2_500), "same seed, same mix");
    assertNotEquals(mix, RequestMix.build(m, 12, 4, 8, 2_500));
    Set<String> prompts = new HashSet<>();
    for (int i = 0; i < mix.size(); i++) {
      RequestMix.Item it = mix.get(i);
      prompts.add(it.prompt());
      assertEquals(m.countTokens(it.prompt()) + 1, it.promptTokens());
      // within the ranges, to a word over (a word is at most a few tokens of this 512-token vocabulary)
      assertTrue(it.promptTokens() >= 300 && it.promptTokens() <= 2_500 + 8, it.id() + ": " + it.promptTokens());
      assertTrue(it.sharedTokens() >= 250 && it.sharedTokens() <= 2_000 + 8, it.id() + ": " + it.sharedTokens());
      assertTrue(it.promptTokens() - it.sharedTokens() >= 50, it.id());
      assertTrue(it.maxTokens() >= 64 && it.maxTokens() <= 512, it.id());
      RequestMix.Item first = mix.get(i % 4);
      String shared = first.prompt().substring(0, first.prompt().indexOf("\nRequest "));
      assertTrue(it.prompt().startsWith(shared + "\nRequest " + (i + 1) + ":"), it.id() + " is in family " + (i % 4));
    }
    assertEquals(12, prompts.size(), "every request has its own tail");
  }

  @Test
  void aShortContextModelGetsPromptsThatFitWithTheirOutputs() throws Exception {
    LlamaCppModel m = LlamaCppModel.shared(LlamaCppModel.Config.of(TestModels.stories()).withThreads(1));
    int maxPrompt = RequestMix.maxPrompt(2_048);
    assertEquals(2_048 - 512 - 32, maxPrompt);
    assertEquals(2_500, RequestMix.maxPrompt(8_192));
    for (RequestMix.Item it : RequestMix.build(m, 12, 4, 7, maxPrompt)) {
      // to a word over (at most a few tokens of this vocabulary)
      assertTrue(it.promptTokens() + it.maxTokens() <= 2_048 - 32 + 8, it.id() + ": " + it.promptTokens());
      assertTrue(it.promptTokens() >= 300, it.id());
    }
  }

  @Test
  void ratesPrintWithTheirPrecision() {
    assertEquals("0.071", PeerBench.rate(0.0712));
    assertEquals("1,234.6", PeerBench.rate(1234.56));
  }
}
