"""Strings -> ids of a character-level preset, in plain Python."""

import numpy as np


class CharTokenizer:
    """The character ids a text preset was trained on, on any backend.

    The ids of `kzoo.data.char_vectorizer` (`TextVectorization(split=
    "character")`, what the SavedModel exports run on strings): `0`
    padding, `1` unknown character, `2` the blank `_`, then the
    vocabulary's characters. Text is normalised as in training
    (`kzoo.data.normalize_blanks`: Unicode NFC, whitespace runs collapsed;
    `_` kept as the blank), cut to `sequence_length` characters and padded.

    Args:
        vocabulary: the model's characters, `"_"` first.
        sequence_length: the model's input length.

    Example:

    >>> tokenizer = kzoo.presets.tokenizer("masked_text_...")
    >>> tokenizer(["O gato ___ no telhado"]).shape
    (1, 128)
    """

    def __init__(self, vocabulary, sequence_length):
        vocabulary = list(vocabulary)
        if not vocabulary or vocabulary[0] != "_" or any(
                not isinstance(c, str) or len(c) != 1 for c in vocabulary):
            raise ValueError("`vocabulary` must be single characters with "
                             "the blank '_' first. Received: "
                             f"vocabulary={vocabulary[:5]!r}...")
        if int(sequence_length) < 1:
            raise ValueError("`sequence_length` must be positive. Received: "
                             f"sequence_length={sequence_length!r}")
        self.vocabulary = vocabulary
        self.sequence_length = int(sequence_length)

    @property
    def vocabulary_size(self):
        """Number of ids (padding and unknown included)."""
        return len(self.vocabulary) + 2

    def normalize(self, text):
        from kzoo.data.masked_text import normalize_blanks

        if not isinstance(text, str):
            raise TypeError(f"texts must be strings. Received: {text!r}")
        return normalize_blanks(text)

    def __call__(self, texts):
        """`int32 [len(texts), sequence_length]` ids of `texts` (a string or
        a list of them)."""
        from kzoo.data.masked_text import encode_characters

        if isinstance(texts, str):
            texts = [texts]
        return encode_characters([self.normalize(t) for t in texts],
                                 self.vocabulary, self.sequence_length)

    def detokenize(self, ids):
        """The text of one row of ids (padding dropped, unknown as `?`)."""
        from kzoo.data.masked_text import decode_characters

        return decode_characters(np.asarray(ids), self.vocabulary)

    def get_config(self):
        return {"vocabulary": self.vocabulary,
                "sequence_length": self.sequence_length}
