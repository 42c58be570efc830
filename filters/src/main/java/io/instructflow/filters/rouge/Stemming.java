package io.instructflow.filters.rouge;

import org.tartarus.snowball.ext.PorterStemmer;

/**
 * Porter stemming as {@code rouge_score}'s {@code use_stemmer} applies it: only to tokens longer than
 * three characters. The stemmer is Lucene's Snowball port of Porter's original algorithm; NLTK's
 * default mode (which {@code rouge_score} uses) adds a few extensions of its own (irregular forms such
 * as "dying"), so a handful of rare words may stem differently.
 */
final class Stemming {
  private static final ThreadLocal<PorterStemmer> STEMMER = ThreadLocal.withInitial(PorterStemmer::new);

  private Stemming() {}

  /** {@code token} stemmed when it is longer than three characters. */
  static String stem(String token) {
    if (token.length() <= 3) {
      return token;
    }
    PorterStemmer s = STEMMER.get();
    s.setCurrent(token);
    s.stem();
    return s.getCurrent();
  }
}
