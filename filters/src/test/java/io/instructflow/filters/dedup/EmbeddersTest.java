package io.instructflow.filters.dedup;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2q.AllMiniLmL6V2QuantizedEmbeddingModel;
import dev.langchain4j.model.embedding.onnx.bgesmallzhv15q.BgeSmallZhV15QuantizedEmbeddingModel;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Our one-thread, non-spinning ONNX sessions give the same bits as the library's own model classes
 * (a session with a pool of spinning threads), for texts embedded one at a time and in parallel.
 */
class EmbeddersTest {
  private static final List<String> ENGLISH = List.of(
      "How do I start running?",
      "Summarize the following article in three sentences.\nThe city council met on Tuesday to discuss the new budget,"
          + " which cuts funding for parks by ten percent while raising spending on roads.",
      "",
      "Write a Python function that returns the n-th Fibonacci number. ".repeat(40));
  private static final List<String> CHINESE = List.of(
      "如何开始跑步？",
      "请把下面这段话翻译成英文：今天天气很好，我们去公园散步吧。",
      "写一首关于秋天落叶的诗。😀",
      "解释一下什么是机器学习，并举三个例子。".repeat(30));

  private static void sameBits(Embedders ours, EmbeddingModel library, List<String> texts) {
    List<float[]> mine = ours.embed(texts, 3, n -> {});
    assertEquals(texts.size(), mine.size());
    for (int i = 0; i < texts.size(); i++) {
      String t = texts.get(i).isBlank() ? "(empty)" : texts.get(i);
      float[] expected = Embedders.unit(library.embed(t).content().vector());
      assertArrayEquals(expected, mine.get(i), 0f, "text " + i);
      assertEquals(expected.length, mine.get(i).length);
    }
    // Alone, the first text gives the same bits as in a batch embedded in parallel.
    assertArrayEquals(mine.get(0), ours.embed(List.of(texts.get(0)), 1, n -> {}).get(0), 0f);
  }

  @Test
  void englishModelMatchesTheLibrarysSessionBitForBit() {
    sameBits(Embedders.ALL_MINILM_L6_V2_Q, new AllMiniLmL6V2QuantizedEmbeddingModel(), ENGLISH);
  }

  @Test
  void chineseModelMatchesTheLibrarysSessionBitForBit() {
    sameBits(Embedders.BGE_SMALL_ZH_V15_Q, new BgeSmallZhV15QuantizedEmbeddingModel(), CHINESE);
  }

  @Test
  void progressHearsEachBatch() {
    List<Integer> heard = new ArrayList<>();
    Embedders.ALL_MINILM_L6_V2_Q.embed(ENGLISH, 3, heard::add);
    assertEquals(List.of(3, 4), heard);
  }
}
