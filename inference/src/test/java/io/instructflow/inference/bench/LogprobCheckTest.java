package io.instructflow.inference.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.instructflow.inference.ScoreRequest;
import io.instructflow.inference.llama.LlamaCppModel;
import io.instructflow.inference.llama.TestModels;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

/**
 * The cross-check of our token log-probabilities with llama.cpp's llama-server (issue 22, item 1). Reading
 * the server's answers is tested always; the check itself runs only where llama.cpp's tools are built
 * (bin/build-llama build SRC DIR --tools) and named by the system property {@value #TOOLS_PROPERTY} or the
 * environment variable {@value #TOOLS_ENV}, e.g.
 * {@code INSTRUCTFLOW_LLAMA_TOOLS=/tmp/llout mvn -o -pl inference test -Dtest=LogprobCheckTest}; CI
 * without the tools skips it.
 */
class LogprobCheckTest {
  static final String TOOLS_PROPERTY = "instructflow.llama.tools";
  static final String TOOLS_ENV = "INSTRUCTFLOW_LLAMA_TOOLS";
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void readsTheProbabilityOfTheAskedTokenFromTheFirstPositionsList() throws IOException {
    JsonNode answer = JSON.readTree("{\"content\":\" a\",\"completion_probabilities\":[{\"id\":261,\"token\":\" a\","
        + "\"logprob\":-0.0121,\"top_logprobs\":[{\"id\":261,\"token\":\" a\",\"logprob\":-0.0121},"
        + "{\"id\":407,\"token\":\" upon\",\"logprob\":-5.4393},{\"id\":9,\"token\":\"x\",\"logprob\":null}]}]}");
    assertEquals(-5.4393, LogprobCheck.logprobOf(answer, 407), 0);
    assertEquals(-0.0121, LogprobCheck.logprobOf(answer, 261), 0);
    assertEquals(Double.NEGATIVE_INFINITY, LogprobCheck.logprobOf(answer, 9), "a float -inf is written as null");
    assertTrue(Double.isNaN(LogprobCheck.logprobOf(answer, 5)), "a token not listed");
    // post_sampling_probs answers name the list top_probs: not what the check asks for
    JsonNode post = JSON.readTree("{\"completion_probabilities\":[{\"id\":1,\"prob\":0.5,\"top_probs\":[]}]}");
    IOException e = assertThrows(IOException.class, () -> LogprobCheck.logprobOf(post, 1));
    assertTrue(e.getMessage().contains("top_logprobs"), e.getMessage());
  }

  @Test
  void asksForOneGreedyTokenAfterTheTokenPrefixWithTheWholeVocabularyListedBeforeSampling() {
    JsonNode body = LogprobCheck.completionBody(new int[] {1, 403, 407}, 512);
    assertEquals("[1,403,407]", body.get("prompt").toString());
    assertEquals(1, body.get("n_predict").asInt());
    assertEquals(512, body.get("n_probs").asInt());
    assertEquals(false, body.get("post_sampling_probs").asBoolean());
    assertEquals(false, body.get("cache_prompt").asBoolean(), "every prefix evaluated in one batch");
    assertEquals(0, body.get("temperature").asInt());
  }

  @Test
  void theSamplesHoldEnglishAndChineseAndAContinuationAlone() {
    List<ScoreRequest> s = LogprobCheck.samples();
    assertTrue(s.stream().anyMatch(r -> r.continuation().codePoints().anyMatch(c -> Character.UnicodeScript.of(c)
        == Character.UnicodeScript.HAN)));
    assertTrue(s.stream().anyMatch(r -> r.prompt().isEmpty()));
    assertTrue(s.stream().noneMatch(ScoreRequest::isChat));
  }

  static boolean toolsGiven() {
    return tools() != null;
  }

  static Path tools() {
    String d = System.getProperty(TOOLS_PROPERTY, System.getenv(TOOLS_ENV));
    return d == null || d.isBlank() ? null : Paths.get(d);
  }

  /**
   * Every continuation token of the samples (English, Chinese, alone, a long prefix) scored by our engine,
   * batched with prefix reuse, has llama-server's log-probability to within {@value #TOLERANCE}.
   */
  @Test
  @EnabledIf("toolsGiven")
  void logProbabilitiesEqualLlamaServersOnTheSameGguf() throws Exception {
    Path dir = tools();
    assertTrue(Files.isDirectory(dir), dir + " is not a folder");
    LogprobCheck.Report r = LogprobCheck.run(new LogprobCheck.Plan(TestModels.stories(), dir, 1, 4,
        LlamaCppModel.FlashAttention.AUTO), LogprobCheck.samples(), System.err);
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    LogprobCheck.print(r, new PrintStream(buf, true, StandardCharsets.UTF_8));
    String table = buf.toString(StandardCharsets.UTF_8);
    System.err.println(table);
    assertEquals(List.of(), r.failed());
    assertEquals(r.requests(), r.sameTokenization(), "llama-server tokenizes every text as we do\n" + table);
    assertEquals(0, r.missing(), table);
    assertEquals(0, r.underflows(), table);
    assertTrue(r.compared().size() > 150, "tokens compared: " + r.compared().size());
    assertTrue(r.maxAbsDelta() <= TOLERANCE, table);
  }

  /** Largest |Δ logprob| accepted: single-precision logits and llama-server's float softmax. */
  static final double TOLERANCE = 1e-4;
}
