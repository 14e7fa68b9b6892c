"""Blanks filled with real words: a lexicon constrains each word's blanks,
and a masked character model chooses among the words that fit.

A character model alone writes spelling patterns ("menino meita bola");
here every word holding blanks is completed by a word of the lexicon that
agrees with its visible letters (and, with `free_length`, any length of
each blank run), the candidates ranked in two steps: all of them at once
by the model's log-probabilities of their letters at the blanks (one
forward pass per length pattern), then the best `rescore` by the
pseudo-log-likelihood of the whole word in its sentence (each letter
masked in turn: Salazar et al. 2020's scoring of whole candidates). A
word with no candidate falls back to the character fill and is counted.

With a counted lexicon (`Lexicon.with_counts(texts)`: the words of a
training corpus added, each with its frequency) and `prior_weight` > 0,
both steps add `prior_weight * log P(word)` to the candidate's summed
letter log-probabilities before dividing by the letter count: the
model's evidence times a word prior. With `with_counts(texts, order=1)`
the prior is the word unigram (add-one smoothed, so a lexicon word never
seen in the corpus keeps a small probability) and the context beyond the
word is only the model's; with `order=2` it is the word bigram model's
`P(word | previous word) * P(next word | word)` (Witten-Bell smoothed,
`kzoo.data.WordBigram`; a neighbour still holding blanks is left out).
"""

import collections
import itertools
import re

import numpy as np

from kzoo._api import kzoo_export
from kzoo._checks import check_positive_int
from kzoo.data.masked_text import BLANKED_WORD as _WORD
from kzoo.data.masked_text import MASK_CHAR
from kzoo.data.masked_text import MASK_ID
from kzoo.data.masked_text import UNKNOWN_ID
from kzoo.data.masked_text import blank_neighbours
from kzoo.data.masked_text import word_form
from kzoo.models.char_transformer import predict_logits


@kzoo_export("kzoo.models.Lexicon")
class Lexicon:
    """Word forms, NFC and lowercase, indexed by length for pattern lookups.

    Args:
        words: iterable of word forms (e.g. the lines of
            `text/pt_docs/words.txt`).
        counts: optional mapping word -> count (a corpus' frequencies,
            see `with_counts`) or a `kzoo.data.WordBigram`; `log_prior`
            gives the smoothed log-probabilities of the forms. Defaults
            to `None` (no prior).
        add_words: the counted words join the forms (the candidates of
            `fill_words`); `False` keeps the forms of `words` only, the
            counts then serving as the prior alone. Defaults to `True`.

    Example:

    >>> lexicon = kzoo.models.Lexicon.from_file("pt_docs/words.txt")
    >>> lexicon.matching("__pren_er")[:3]
    ['aprender', ...]
    """

    def __init__(self, words, counts=None, add_words=True):
        from kzoo.data.word_counts import WordBigram

        forms = {word_form(w) for w in words if w.strip()}
        self.counts = None
        self.word_counts = None
        if counts is not None:
            if not isinstance(counts, WordBigram):
                counts = WordBigram(unigrams=counts, order=1)
            self.counts = counts.unigrams
            # Smoothed over the lexicon's forms and the counted words.
            self.word_counts = counts.extended(forms)
            if add_words:
                forms |= set(self.counts)
        self._set = forms
        by_length = collections.defaultdict(list)
        for word in sorted(forms):
            by_length[len(word)].append(word)
        # Each length's words as a [words, length] array of code points.
        self._by_length = {
            length: (group, np.frombuffer(
                "".join(group).encode("utf-32-le"), np.uint32).reshape(
                    len(group), length).astype(np.int32))
            for length, group in sorted(by_length.items())}

    @classmethod
    def from_file(cls, path):
        """A lexicon from a text file, one word a line (UTF-8)."""
        with open(path, encoding="utf-8") as f:
            return cls(f)

    def with_counts(self, texts, order=1, add_words=True):
        """This lexicon plus the words of `texts` (runs of letters,
        lowercased), each counted: a lexicon with a word prior for
        `fill_words(..., prior_weight=...)`. `order=2` also counts the
        word bigrams, and the prior becomes the bigram probability of the
        word between its neighbours (`kzoo.data.WordBigram`). Defaults to
        `order=1` (the unigram prior). `add_words=False` keeps this
        lexicon's words as the only candidates (a corpus word outside it
        is never written; its counts still shape the prior). Defaults to
        `True`."""
        from kzoo.data.word_counts import WordBigram

        return Lexicon(self._set, WordBigram(texts, order=order),
                       add_words=add_words)

    def log_prior(self, words, previous=None, following=None):
        """The counted prior's log-probability of each word: add-one
        smoothed unigram `log((count + 1) / (total + size))` over the
        lexicon's forms, or, with bigram counts and a `previous` and/or
        `following` word, `log P(word | previous) + log P(following |
        word)` (Witten-Bell; see `kzoo.data.WordBigram`)."""
        if self.word_counts is None:
            raise ValueError("This lexicon has no counts: build it with "
                             "`Lexicon(words, counts)` or "
                             "`lexicon.with_counts(texts)`.")
        return self.word_counts.log_prob(words, previous, following)

    def __len__(self):
        return len(self._set)

    def __iter__(self):
        """The forms, sorted."""
        return iter(sorted(self._set))

    def __contains__(self, word):
        return word_form(word) in self._set

    def matching(self, pattern):
        """The words of `len(pattern)` letters agreeing with its visible
        letters (`_` matches any letter), case-insensitively."""
        pattern = word_form(pattern)
        words, codes = self._by_length.get(len(pattern), ([], None))
        if not words:
            return []
        keep = np.ones(len(words), bool)
        for i, c in enumerate(pattern):
            if c != MASK_CHAR:
                keep &= codes[:, i] == ord(c)
        return [words[i] for i in np.flatnonzero(keep)]


def _log_softmax(logits):
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))


def _word_pll(model, ids, positions):
    """Mean over `positions` of `log p(x_i | the rest)`, one batch."""
    batch = np.repeat(ids, len(positions), axis=0)
    batch[np.arange(len(positions)), positions] = MASK_ID
    logp = _log_softmax(predict_logits(model, batch))
    rows = np.arange(len(positions))
    return float(np.mean(logp[rows, positions, ids[0, positions]]))


def _variants(word, free_length, max_extra, limit=256):
    """The word with each blank run at every allowed length."""
    if not free_length:
        return [word]
    parts = re.split(r"(_+)", word)
    choices = [[p] if not p.startswith(MASK_CHAR) else
               [MASK_CHAR * k for k in range(1, len(p) + max_extra + 1)]
               for p in parts]
    return ["".join(c) for c in itertools.islice(
        itertools.product(*choices), limit)]


@kzoo_export("kzoo.models.fill_words")
def fill_words(model, text, vocabulary, lexicon, sequence_length=None,
               free_length=False, max_extra=3, rescore=8, prior_weight=0.0):
    """Fills each word's `_` blanks with a lexicon word the model prefers.

    Words (runs of letters and blanks) are completed left to right; each
    sees the words completed before it, later blanks stay masked. See the
    module docstring for the ranking. The letters of a chosen word are
    written lowercase at the blanks; visible letters stay as given.

    Args:
        model: a masked character model (ids -> logits `[B, L, V]`).
        text: text with `_` for unknown letters.
        vocabulary: the model's vocabulary (`kzoo.data.char_vocabulary`).
        lexicon: a `kzoo.models.Lexicon`.
        sequence_length: the model's input length. Defaults to the model's.
        free_length: each blank run may take 1 to `len(run) + max_extra`
            letters. Defaults to `False` (one letter per `_`).
        max_extra: see `free_length`. Defaults to `3`.
        rescore: candidates rescored by their pseudo-log-likelihood.
            Defaults to `8`.
        prior_weight: weight of the lexicon's word prior `log P(word)`
            (or its bigram form in context, see the module docstring)
            added to each candidate's summed letter log-probabilities;
            needs a counted lexicon
            (`Lexicon.with_counts`). Defaults to `0.0` (the model alone).

    Returns:
        A dict: `"text"`, the completed text; `"words"`, one `(pattern,
        filled word, in lexicon)` per word that had blanks; `"fallbacks"`,
        how many words had no lexicon candidate (filled letter by letter).
    """
    from kzoo.data.masked_text import encode_characters
    from kzoo.data.masked_text import normalize_blanks
    from kzoo.models.char_transformer import fill_blanks

    length = sequence_length or model.inputs[0].shape[1]
    rescore = check_positive_int(rescore, "rescore")
    if not np.isfinite(prior_weight) or prior_weight < 0:
        raise ValueError("`prior_weight` must be a finite number >= 0. "
                         f"Received: prior_weight={prior_weight}")
    if prior_weight and lexicon.counts is None:
        raise ValueError("`prior_weight` > 0 needs a lexicon with counts "
                         "(`lexicon.with_counts(texts)`). Received: "
                         f"prior_weight={prior_weight} and a lexicon "
                         "without counts")
    index = {c: i + 2 for i, c in enumerate(vocabulary)}
    text = normalize_blanks(text)
    if len(text) > length:
        raise ValueError(f"`text` has {len(text)} characters; the model "
                         f"takes {length}. Received: text={text!r}")
    words, fallbacks, position = [], 0, 0
    while True:
        found = next((m for m in _WORD.finditer(text, position)
                      if MASK_CHAR in m.group()), None)
        if found is None:
            break
        start, end, word = found.start(), found.end(), found.group()
        context = blank_neighbours(text, start, end)
        scored = []
        for pattern in _variants(word, free_length, max_extra):
            candidate_text = text[:start] + pattern + text[end:]
            if len(candidate_text) > length:
                continue
            matches = lexicon.matching(pattern)
            if not matches:
                continue
            blanks = np.array([i for i, c in enumerate(pattern)
                               if c == MASK_CHAR])
            ids = encode_characters([candidate_text], vocabulary, length)
            logp = _log_softmax(predict_logits(model, ids))[0, start + blanks]
            letters = np.array([[index.get(w[i], UNKNOWN_ID) for i in blanks]
                                for w in matches])
            score = logp[np.arange(len(blanks))[None, :], letters]
            score[letters < 3] = -np.inf  # a letter the model cannot write
            rank = score.sum(axis=1)
            if prior_weight:
                rank = rank + prior_weight * lexicon.log_prior(
                    matches, *context)
            rank = rank / len(blanks)
            for j in np.argsort(-rank)[:rescore]:
                if np.isfinite(rank[j]):
                    scored.append((rank[j], pattern, matches[j], blanks))
        if not scored:
            fallbacks += 1
            # The character fill for this word alone (later blanks hidden
            # from it as masks, as above).
            filled = fill_blanks(model, text, vocabulary, length)
            chosen = filled[start:end]
            words.append((word, chosen, chosen in lexicon))
            text = text[:start] + chosen + text[end:]
            position = start + len(chosen)
            continue
        best = None
        for _, pattern, match, blanks in sorted(
                scored, key=lambda s: -s[0])[:rescore]:
            chosen = "".join(match[i] if c == MASK_CHAR else c
                             for i, c in enumerate(pattern))
            candidate_text = text[:start] + chosen + text[end:]
            ids = encode_characters([candidate_text], vocabulary, length)
            pll = _word_pll(model, ids, start + np.arange(len(chosen)))
            if prior_weight:
                pll += prior_weight * float(lexicon.log_prior(
                    [match], *context)[0]) / len(chosen)
            if best is None or pll > best[0]:
                best = (pll, chosen)
        chosen = best[1]
        words.append((word, chosen, True))
        text = text[:start] + chosen + text[end:]
        position = start + len(chosen)
    return {"text": text, "words": words, "fallbacks": fallbacks}
