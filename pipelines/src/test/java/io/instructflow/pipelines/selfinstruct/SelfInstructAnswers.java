package io.instructflow.pipelines.selfinstruct;

/**
 * Answers of a scripted model that pass the Self-Instruct rules: new-task lists of random words
 * (ROUGE-distinct), a yes/no classification, instances in the format the parsers read.
 */
final class SelfInstructAnswers {
  private SelfInstructAnswers() {}

  private static final String[] WORDS = {"glacier", "violin", "tax", "protein", "volcano", "poetry", "router", "cactus",
      "satellite", "bakery", "chess", "orbit", "vaccine", "harbor", "lantern", "comet", "ledger", "tundra", "opera",
      "quartz", "falcon", "canyon", "pepper", "saddle", "marble", "thunder", "walnut", "compass", "velvet", "tiger"};

  /** Answers from the prompt: a list of new tasks, a classification, instances. */
  static String answer(String prompt) {
    int h = Math.abs(prompt.hashCode());
    if (prompt.endsWith("Classification:")) {
      return h % 3 == 0 ? " Yes" : " No";
    }
    if (prompt.contains("classification task. First")) {
      return "Class label: A\nInput: first " + h + "\nClass label: B\nInput: second " + h;
    }
    if (prompt.contains("Write worked examples")) {
      return "Example 1\nInput: " + WORDS[h % WORDS.length] + "\nOutput: answer " + h + "\nExample 2\nOutput: more " + h;
    }
    java.util.Random r = new java.util.Random(h);
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < 3; i++) {
      b.append(i == 0 ? " Explain" : "\n" + (9 + i) + ". Explain");
      for (int w = 0; w < 7; w++) {
        b.append(' ').append(WORDS[r.nextInt(WORDS.length)]);
      }
      b.append('.');
    }
    return b.toString();
  }
}
