"""A cloze benchmark: hidden words and in-word spans of held-out text, and
the n-gram baselines a character model's fill must beat.

`cloze_items` hides, in each paragraph's first `length` characters (cut
at a space), one whole word (`kind="word"`, at least 3 letters) and a
span of 2 or 3 letters inside a longer word (`kind="span"`, words of at
least 5 letters, never the whole word), one `_` per hidden letter, at
positions drawn from a seed. `cloze_scores` reads the filled word back
and counts exact recoveries (case-insensitive) and real words (in a
`kzoo.models.Lexicon`). Two baselines fill the same items from training
text alone: `WordNgram` (the most frequent training word that fits the
visible letters after the previous word, else the most frequent that
fits at all; or, with `following=True`, the bigram model's best word
between both neighbours) and `CharBigram` (each hidden letter the most
frequent after the character before it). Pure Python and NumPy.
"""

import collections

import numpy as np

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int
from kzoo.data.masked_text import BLANKED_WORD as _TOKEN
from kzoo.data.masked_text import LETTER_RUN as _WORD
from kzoo.data.masked_text import blank_neighbours
from kzoo.data.masked_text import normalize_blanks as _nfc
from kzoo.data.masked_text import normalize_text
from kzoo.data.masked_text import word_form


@kzoo_export("kzoo.eval.cloze_items")
def cloze_items(paragraphs, length=128, seed=0, kinds=("word", "span")):
    """The cloze items of `paragraphs` (see the module docstring).

    Args:
        paragraphs: iterable of strings (held-out text), read through
            `kzoo.data.normalize_text` as the training text is: a `_` of
            the source becomes a space, so the only blanks are the
            hidden letters.
        length: characters kept of each paragraph (a model's input length).
            Defaults to `128`.
        seed: seed of the hidden positions. Defaults to `0`.
        kinds: which items to make per paragraph. Defaults to
            `("word", "span")`.

    Returns:
        A list of dicts: `text` (with `_` blanks), `start` (index of the
        word holding the blanks), `answer` (that whole word), `kind`.
    """
    length = check_positive_int(length, "length")
    rng = np.random.default_rng(seed)
    items = []
    for paragraph in paragraphs:
        # as the training text is: a literal `_` of the source (an
        # identifier such as "SF_FileSystem") is a space, not a blank
        text = normalize_text(paragraph)
        if len(text) > length:
            cut = text.rfind(" ", 0, length + 1)
            text = text[:cut if cut > 0 else length]
        words = [m for m in _WORD.finditer(text)]
        for kind in kinds:
            if kind == "word":
                pool = [m for m in words if len(m.group()) >= 3]
            elif kind == "span":
                pool = [m for m in words if len(m.group()) >= 5]
            else:
                raise ValueError("`kinds` holds 'word' and/or 'span'. "
                                 f"Received: kinds={kinds!r}")
            if not pool:
                continue
            m = pool[int(rng.integers(len(pool)))]
            word = m.group()
            if kind == "word":
                lo, hi = 0, len(word)
            else:
                size = int(rng.integers(2, 4))
                lo = int(rng.integers(0, len(word) - size + 1))
                hi = lo + size
            blanked = word[:lo] + "_" * (hi - lo) + word[hi:]
            items.append({"text": text[:m.start()] + blanked + text[m.end():],
                          "start": m.start(), "answer": word, "kind": kind})
    return items


@kzoo_export("kzoo.eval.cloze_scores")
def cloze_scores(items, filled_texts, lexicon):
    """Exact recovery and real-word share of filled cloze items, per kind.

    Args:
        items: from `cloze_items`.
        filled_texts: one completed text per item (same length as the
            item's text: one letter per blank).
        lexicon: a `kzoo.models.Lexicon` (what counts as a real word).

    Returns:
        `{kind: {"exact": float, "real_words": float, "items": int}}` for
        each kind and `"all"`.
    """
    if len(items) != len(filled_texts):
        raise ValueError("one filled text per item. Received: "
                         f"{len(items)} items, {len(filled_texts)} texts")
    rows = collections.defaultdict(list)
    for item, filled in zip(items, filled_texts):
        word = filled[item["start"]:item["start"] + len(item["answer"])]
        exact = word.lower() == item["answer"].lower()
        real = "_" not in word and word in lexicon
        rows[item["kind"]].append((exact, real))
        rows["all"].append((exact, real))
    return {kind: {"exact": float(np.mean([e for e, _ in r])),
                   "real_words": float(np.mean([w for _, w in r])),
                   "items": len(r)} for kind, r in rows.items()}


def _blank_word(text, start):
    """`(start, end, word)` of the word at `start`."""
    m = _TOKEN.match(text, start)
    return m.start(), m.end(), m.group()


def _fits(word, pattern):
    return len(word) == len(pattern) and all(
        p == "_" or p == c for p, c in zip(pattern, word))


@kzoo_export("kzoo.eval.WordNgram")
class WordNgram:
    """Word bigram / unigram counts of training text, to fill cloze items.

    Order 2: the most frequent training word fitting the visible letters
    after the previous word, else (order 1) the most frequent fitting word.
    With `following=True`, the fitting training word with the highest
    bigram probability between its two neighbours, `P(word | previous) *
    P(next | word)` (Witten-Bell smoothed: `kzoo.data.WordBigram`).

    Args:
        texts: iterable of training strings.
        order: `2` (bigram, backing off to unigram) or `1` (unigram
            only). Defaults to `2`.
        following: also score the word after the blank (order 2 only).
            Defaults to `False` (the previous word only).
        candidates: optional iterable of the word forms a fill may write
            (e.g. a lexicon's; they join the unigram's vocabulary, so a
            form never seen in training keeps a small probability).
            Defaults to `None` (the training words).
    """

    def __init__(self, texts, order=2, following=False, candidates=None):
        from kzoo.data.word_counts import WordBigram

        if following and order != 2:
            raise ValueError("`following=True` needs `order=2`. Received: "
                             f"order={order!r}")
        # Read once: `candidates` may be an iterator (a file, a generator).
        self._allowed = (None if candidates is None else
                         {word_form(w) for w in candidates} - {""})
        self.counts = WordBigram(texts, order=order,
                                 vocabulary=self._allowed or ())
        self.order, self.following = order, following
        self.unigrams, self.bigrams = self.counts.unigrams, self.counts.bigrams
        if self._allowed is None:
            words = [w for w, _ in self.unigrams.most_common()]
        else:
            # By decreasing count, then alphabetically: ties are fixed.
            words = sorted(self._allowed,
                           key=lambda w: (-self.unigrams.get(w, 0), w))
        self._by_length = collections.defaultdict(list)
        for word in words:
            self._by_length[len(word)].append(word)

    def _choose(self, pattern, previous, following):
        if self.following:
            fitting = [w for w in self._by_length[len(pattern)]
                       if _fits(w, pattern)]
            if not fitting:
                return None
            logp = self.counts.log_prob(fitting, previous, following)
            return fitting[int(np.argmax(logp))]  # ties: the more frequent
        after = self.bigrams.get(previous, {}) if self.order == 2 else {}
        fitting = [w for w in after if _fits(w, pattern) and (
            self._allowed is None or w in self._allowed)]
        if fitting:
            return max(fitting, key=lambda w: (after[w], self.unigrams[w]))
        return next((w for w in self._by_length[len(pattern)]
                     if _fits(w, pattern)), None)

    def fill(self, text, start):
        """`text` with the word at `start` completed (unchanged if no
        training word fits)."""
        lo, hi, word = _blank_word(text, start)
        previous, following = blank_neighbours(text, lo, hi)
        choice = self._choose(word.lower(), previous, following)
        if choice is None:
            return text
        filled = "".join(c if c != "_" else choice[i]
                         for i, c in enumerate(word))
        return text[:lo] + filled + text[hi:]


@kzoo_export("kzoo.eval.CharBigram")
class CharBigram:
    """Character bigram counts: each blank, left to right, becomes the most
    frequent character after the one before it (letters only).

    Args:
        texts: iterable of training strings.
    """

    def __init__(self, texts):
        self.counts = collections.defaultdict(collections.Counter)
        for text in texts:
            text = _nfc(text).lower()
            for a, b in zip(text, text[1:]):
                if b.isalpha():
                    self.counts[a][b] += 1
        self.fallback = collections.Counter(
            c for counter in self.counts.values() for c in counter.elements()
        ).most_common(1)[0][0]

    def fill(self, text, start=None):
        chars = list(text)
        for i, c in enumerate(chars):
            if c == "_":
                previous = chars[i - 1].lower() if i else " "
                after = self.counts.get(previous)
                chars[i] = (after.most_common(1)[0][0] if after
                            else self.fallback)
        return "".join(chars)
