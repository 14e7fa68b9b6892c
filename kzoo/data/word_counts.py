"""Word unigram and bigram counts of a corpus, and the smoothed
probabilities a cloze fill ranks candidate words by. Pure Python and NumPy.

Unigram: add-one smoothed over a vocabulary of `V` forms (the corpus'
words plus any extra forms, e.g. a lexicon's), `N` counted words:

    P(w) = (c(w) + 1) / (N + V)

Bigram: Witten-Bell interpolation with that unigram (Witten and Bell
1991; Chen and Goodman 1998, section 2.4), where `c(p)` counts `p` as
the first word of a bigram and `T(p)` the distinct words seen after it:

    P(w | p) = (c(p, w) + T(p) * P(w)) / (c(p) + T(p))

(`P(w)` when `p` was never followed by a word). It has no parameter to
tune. Scoring a blank with both its neighbours uses the chain rule of the
bigram model: the sentence's probability changes with `w` only through
`P(w | previous) * P(following | w)`.

Words are `kzoo.data.text_words`: runs of letters, NFC, lowercase; a
bigram is two consecutive words of one text, across punctuation.
"""

import collections
import copy

import numpy as np

from kzoo._api import kzoo_export
from kzoo.data.masked_text import text_words
from kzoo.data.masked_text import word_form as _form


def _witten_bell(count, seen, distinct, unigram):
    """P(w | p) from c(p, w), c(p), T(p) and P(w) (module docstring)."""
    return (count + distinct * unigram) / (seen + distinct)


@kzoo_export("kzoo.data.WordBigram")
class WordBigram:
    """Word counts of training texts with smoothed unigram and bigram
    log-probabilities (see the module docstring for the formulas).

    Args:
        texts: iterable of training strings. Defaults to `()`.
        unigrams: optional mapping word -> count added to the counts of
            `texts` (e.g. frequencies counted elsewhere). Defaults to
            `None`.
        vocabulary: extra word forms that count in the unigram's `V`
            (e.g. a lexicon's, so that a form never seen in the corpus
            keeps a small probability). Defaults to `()`.
        order: `2` counts bigrams as well, `1` unigrams only (then the
            context arguments of `log_prob` are ignored). Defaults to `2`.

    Example:

    >>> counts = kzoo.data.WordBigram(["o menino joga bola", "a bola"])
    >>> counts.log_prob(["bola", "menino"], previous="joga")
    array([-0.45..., -2.39...])
    """

    def __init__(self, texts=(), unigrams=None, vocabulary=(), order=2):
        if order not in (1, 2):
            raise ValueError(f"`order` must be 1 or 2. Received: "
                             f"order={order!r}")
        self.order = order
        self.unigrams = collections.Counter()
        self.bigrams = collections.defaultdict(collections.Counter)
        for text in texts:
            words = text_words(text)
            self.unigrams.update(words)
            if order == 2:
                for a, b in zip(words, words[1:]):
                    self.bigrams[a][b] += 1
        for word, count in dict(unigrams or {}).items():
            if count < 0:
                raise ValueError("`unigrams` must be non-negative. "
                                 f"Received: unigrams[{word!r}]={count}")
            if _form(word):
                self.unigrams[_form(word)] += count
        self.forms = set(self.unigrams) | {_form(w) for w in vocabulary
                                           if _form(w)}
        self.size = len(self.forms)
        self.total = sum(self.unigrams.values())
        # c(p) and T(p) of each left word.
        self._context = {p: (sum(after.values()), len(after))
                         for p, after in self.bigrams.items()}

    def extended(self, vocabulary):
        """These counts with `vocabulary`'s forms added to the unigram's
        `V` (a copy; the counts are shared, not copied)."""
        other = copy.copy(self)
        other.forms = self.forms | {_form(w) for w in vocabulary
                                    if _form(w)}
        other.size = len(other.forms)
        return other

    def _unigram(self, words):
        return np.array([self.unigrams.get(w, 0) + 1.0 for w in words]) \
            / (self.total + self.size)

    def _given(self, words, previous):
        """P(w | previous) of each word (Witten-Bell)."""
        unigram = self._unigram(words)
        if previous not in self._context:
            return unigram
        after = self.bigrams[previous]
        counts = np.array([after.get(w, 0) for w in words], np.float64)
        return _witten_bell(counts, *self._context[previous], unigram)

    def log_prob(self, words, previous=None, following=None):
        """Log-probability of each of `words` in its context.

        Args:
            words: candidate words (normalised like the counts).
            previous: the word before them, or `None` (unigram).
                Defaults to `None`.
            following: the word after them, or `None`; when given, each
                candidate's score adds `log P(following | word)`.
                Defaults to `None`.

        Returns:
            A float64 array, one value per word.
        """
        words = [_form(w) for w in words]
        if self.order == 1 or previous is None:
            logp = np.log(self._unigram(words))
        else:
            logp = np.log(self._given(words, _form(previous)))
        if self.order == 2 and following is not None:
            following = _form(following)
            unigram = self._unigram([following])[0]
            given = np.empty(len(words))
            for i, w in enumerate(words):
                given[i] = unigram if w not in self._context else \
                    _witten_bell(self.bigrams[w].get(following, 0),
                                 *self._context[w], unigram)
            logp = logp + np.log(given)
        return logp
