"""Character-level masked language modelling: text, vocabulary, masking.

Conventions (shared by the model, `fill_blanks` and the baselines):

* Text is Unicode NFC (an accented letter is one character, "á" never
  "a" + combining accent), whitespace runs collapsed to one space, case
  kept.
* Ids: `0` padding, `1` unknown character, `2` the mask character `_`,
  then the vocabulary's characters by decreasing frequency. These are the
  ids of `keras.layers.TextVectorization(split="character",
  standardize=None, vocabulary=vocabulary)` (`char_vectorizer`), which the
  exported model uses on strings; `encode_characters` computes the same
  ids in NumPy, without TensorFlow.
* `_` is the blank: the training text holds none (fortunes_br has none;
  any `_` is replaced by a space), so a `_` in the input of `fill_blanks`
  is always a character to predict.
"""

import os
import re
import unicodedata

import keras
import numpy as np

from kzoo._api import kzoo_export

MASK_CHAR = "_"
PAD_ID, UNKNOWN_ID, MASK_ID = 0, 1, 2
# A word for counting and cloze items: a run of letters (no digits, no `_`).
LETTER_RUN = re.compile(r"[^\W\d_]+")
# A word of a text with blanks: a run of letters and `_`.
BLANKED_WORD = re.compile(r"[^\W\d]+")


def word_form(word):
    """The form a word is counted and looked up under: NFC, stripped,
    lowercase."""
    return unicodedata.normalize("NFC", word.strip()).lower()


def blank_neighbours(text, start, end):
    """The words before and after `text[start:end]`, as `word_form`s
    (`None` where there is none or it still holds blanks): the context a
    bigram scores a blank's candidates in."""
    before = BLANKED_WORD.findall(text[:start])
    after = BLANKED_WORD.search(text, end)
    previous = before[-1] if before and MASK_CHAR not in before[-1] else None
    following = (after.group() if after and MASK_CHAR not in after.group()
                 else None)
    return (None if previous is None else word_form(previous),
            None if following is None else word_form(following))


def text_words(text):
    """The words of `text` as counted by the word n-grams and the lexicon's
    prior: runs of letters of its NFC form, lowercased."""
    return [w.lower() for w in LETTER_RUN.findall(
        unicodedata.normalize("NFC", text))]


@kzoo_export("kzoo.data.normalize_text")
def normalize_text(text):
    """NFC, `_` -> space, whitespace runs -> one space, stripped."""
    text = unicodedata.normalize("NFC", text).replace(MASK_CHAR, " ")
    return " ".join(text.split())


@kzoo_export("kzoo.data.normalize_blanks")
def normalize_blanks(text):
    """`normalize_text` that keeps the blanks `_` (input of `fill_blanks`)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


@kzoo_export("kzoo.data.load_text_entries")
def load_text_entries(data_dir=None, name="fortunes_br.txt"):
    """The entries of a fortune file (separated by lines holding `%`).

    Args:
        data_dir: the `text` folder or a datasets root; `None` reads
            `KZOO_DATA_DIR`.
        name: file name. Defaults to `"fortunes_br.txt"`.

    Returns:
        List of non-empty entries, `normalize_text`-ed.
    """
    from kzoo.data.sources import DataUnavailableError
    from kzoo.data.sources import resolve_data_dir

    root = resolve_data_dir(data_dir, "text", marker=name)
    if root is None:
        raise DataUnavailableError(
            f"{name} has no download: pass --data-dir DIR (a datasets root "
            "holding text/) or set KZOO_DATA_DIR.")
    with open(os.path.join(root, name), encoding="utf-8") as f:
        lines = f.read().split("\n")
    entries, current = [], []
    for line in lines + ["%"]:
        if line.strip() == "%":
            text = normalize_text("\n".join(current))
            if text:
                entries.append(text)
            current = []
        else:
            current.append(line)
    return entries


PT_DOCS_SPLITS = {"train": "train.txt", "validation": "valid.txt",
                  "test": "test.txt"}


@kzoo_export("kzoo.data.load_pt_docs")
def load_pt_docs(split="train", data_dir=None):
    """The paragraphs of `text/pt_docs/` (Brazilian Portuguese prose of
    technical documents, split by source document: no document is in two
    splits), `normalize_text`-ed, one per non-empty line.

    Args:
        split: `"train"`, `"validation"` or `"test"`. Defaults to `"train"`.
        data_dir: the `text` folder, the `pt_docs` folder or a datasets
            root; `None` reads `KZOO_DATA_DIR`.

    Returns:
        List of paragraphs.
    """
    from kzoo.data.sources import DataUnavailableError

    if split not in PT_DOCS_SPLITS:
        raise ValueError(f"`split` must be one of {sorted(PT_DOCS_SPLITS)}. "
                         f"Received: split={split!r}")
    root = data_dir or os.environ.get("KZOO_DATA_DIR")
    if not root:
        raise DataUnavailableError(
            "pt_docs has no download: pass --data-dir DIR (a datasets root "
            "holding text/pt_docs/) or set KZOO_DATA_DIR.")
    name = PT_DOCS_SPLITS[split]
    for folder in (root, os.path.join(root, "pt_docs"),
                   os.path.join(root, "text", "pt_docs")):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and os.path.isfile(
                os.path.join(folder, "words.txt")):
            with open(path, encoding="utf-8") as f:
                return [t for t in (normalize_text(line) for line in f) if t]
    raise DataUnavailableError(
        f"no pt_docs folder (with {name} and words.txt) in {root}, "
        f"{root}/pt_docs or {root}/text/pt_docs: pass --data-dir.")


@kzoo_export("kzoo.data.split_entries")
def split_entries(entries, seed=0, fractions=(0.8, 0.1, 0.1)):
    """`(train, validation, test)` lists from a fixed permutation (`seed`)."""
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-9 or min(
            fractions) < 0:
        raise ValueError("`fractions` must be 3 non-negative numbers summing "
                         f"to 1. Received: fractions={fractions}")
    order = np.random.default_rng(seed).permutation(len(entries))
    n_train = int(round(fractions[0] * len(entries)))
    n_val = int(round(fractions[1] * len(entries)))
    pick = [entries[i] for i in order]
    return (pick[:n_train], pick[n_train:n_train + n_val],
            pick[n_train + n_val:])


TEXT_DATASETS = ("fortunes_br", "pt_docs", "fortunes_br_and_pt_docs")


@kzoo_export("kzoo.data.text_splits")
def text_splits(dataset="fortunes_br", data_dir=None):
    """`(train, validation, test)` entries of a text dataset of kzoo.

    `fortunes_br`: the fortune entries split 80/10/10 by `split_entries`
    with seed 0; `pt_docs`: the paragraphs of `text/pt_docs/` in their
    published split, by document; `fortunes_br_and_pt_docs`: both, each
    split as alone (fortunes first). The masked-text recipe trains on these
    splits and the presets re-measure on their test part.

    Args:
        dataset: one of `"fortunes_br"`, `"pt_docs"`,
            `"fortunes_br_and_pt_docs"`. Defaults to `"fortunes_br"`.
        data_dir: a datasets root (or its `text` folder); `None` reads
            `KZOO_DATA_DIR`.

    Returns:
        Three lists of `normalize_text`-ed entries.
    """
    if dataset not in TEXT_DATASETS:
        raise ValueError(f"`dataset` must be one of {list(TEXT_DATASETS)}. "
                         f"Received: dataset={dataset!r}")
    splits = ([], [], [])
    if dataset in ("fortunes_br", "fortunes_br_and_pt_docs"):
        for part, split in zip(splits, split_entries(
                load_text_entries(data_dir), seed=0)):
            part.extend(split)
    if dataset in ("pt_docs", "fortunes_br_and_pt_docs"):
        for part, split in zip(splits, ("train", "validation", "test")):
            part.extend(load_pt_docs(split, data_dir))
    return splits


@kzoo_export("kzoo.data.char_vocabulary")
def char_vocabulary(texts, min_count=1):
    """`[MASK_CHAR] + characters` by decreasing count (ties: code point)."""
    counts = {}
    for text in texts:
        for c in text:
            counts[c] = counts.get(c, 0) + 1
    chars = sorted((c for c, n in counts.items()
                    if n >= min_count and c != MASK_CHAR),
                   key=lambda c: (-counts[c], c))
    return [MASK_CHAR] + chars


@kzoo_export("kzoo.data.encode_characters")
def encode_characters(texts, vocabulary, length):
    """`int32 [len(texts), length]` ids, as `char_vectorizer` gives.

    Each text is cut to `length` characters and padded with `0`.
    """
    index = {c: i + 2 for i, c in enumerate(vocabulary)}
    out = np.zeros((len(texts), length), np.int32)
    for row, text in enumerate(texts):
        ids = [index.get(c, UNKNOWN_ID) for c in text[:length]]
        out[row, :len(ids)] = ids
    return out


@kzoo_export("kzoo.data.decode_characters")
def decode_characters(ids, vocabulary):
    """The text of one row of ids (padding dropped, unknown as `?`)."""
    chars = []
    for i in np.asarray(ids).reshape(-1).tolist():
        if i == PAD_ID:
            continue
        chars.append("?" if i == UNKNOWN_ID else vocabulary[i - 2])
    return "".join(chars)


@kzoo_export("kzoo.data.char_vectorizer")
def char_vectorizer(vocabulary, length):
    """A `TextVectorization` layer giving `encode_characters`' ids."""
    return keras.layers.TextVectorization(
        split="character", standardize=None, vocabulary=list(vocabulary),
        output_sequence_length=length, name="char_vectorizer")


@kzoo_export("kzoo.data.text_chunks")
def text_chunks(entries, length):
    """Entries cut into pieces of at most `length` characters, at spaces
    where possible (a piece ends at its last space if it has one in its
    second half), so that few words are cut in two."""
    chunks = []
    for text in entries:
        while len(text) > length:
            cut = text.rfind(" ", length // 2, length + 1)
            cut = length if cut < 0 else cut
            chunks.append(text[:cut].strip())
            text = text[cut:].strip()
        if text:
            chunks.append(text)
    return chunks


@kzoo_export("kzoo.data.mask_characters")
def mask_characters(ids, rng, vocab_size, space_id, rate=0.15,
                    word_fraction=0.5, mean_span=3.0):
    """Masks whole words and spans inside words; the 80/10/10 rule.

    For each row, masking units are drawn until at least `rate` of its
    characters are chosen (at least one): with probability
    `word_fraction` a whole word (a maximal run of characters other than a
    space), otherwise a span inside a random word, of geometric length
    (1, 2, ...; mean `mean_span`; capped at the word's length), at a
    uniform position in the word (so prefixes, middles and suffixes are
    masked: "__pren_____"). Of the chosen characters, 80% become the mask
    id, 10% a random character id, 10% stay (BERT's rule).

    Args:
        ids: `int [B, L]` character ids (0 = padding).
        rng: `numpy.random.Generator`.
        vocab_size: total number of ids (random replacements are drawn from
            the character ids `3 .. vocab_size - 1`).
        space_id: the id of `" "` (words are the runs between spaces).
        rate: fraction of each row's characters to predict. Defaults to
            `0.15`.
        word_fraction: probability that a unit is a whole word. Defaults
            to `0.5`.
        mean_span: mean length of an in-word span. Defaults to `3.0`.

    Returns:
        `(inputs, targets, weights)`: the corrupted ids, the original ids,
        and `float32` weights (1 on the chosen characters, else 0).
    """
    ids = np.asarray(ids)
    inputs, weights = ids.copy(), np.zeros(ids.shape, np.float32)
    for row in range(ids.shape[0]):
        n = int(np.sum(ids[row] != PAD_ID))
        if n == 0:
            continue
        words = _runs(ids[row, :n] != space_id)
        if not words:
            continue
        chosen = np.zeros(n, bool)
        target = max(1, int(round(rate * n)))
        for _ in range(4 * n):
            if chosen.sum() >= target:
                break
            start, end = words[rng.integers(len(words))]
            if rng.random() < word_fraction:
                chosen[start:end] = True
            else:
                size = min(end - start, rng.geometric(1.0 / mean_span))
                s = start + rng.integers(end - start - size + 1)
                chosen[s:s + size] = True
        positions = np.flatnonzero(chosen)
        weights[row, positions] = 1.0
        u = rng.random(len(positions))
        inputs[row, positions[u < 0.8]] = MASK_ID
        swap = positions[(u >= 0.8) & (u < 0.9)]
        inputs[row, swap] = rng.integers(3, vocab_size, len(swap))
    return inputs, ids.copy(), weights


def _runs(mask):
    """`[(start, end), ...]` of the True runs of a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2]))


@kzoo_export("kzoo.data.MaskedTextDataset")
class MaskedTextDataset(keras.utils.PyDataset):
    """Batches `(inputs, targets, weights)` of masked characters.

    A `keras.utils.PyDataset` (NumPy only, any backend): every epoch the
    rows are reshuffled and masked afresh (`mask_characters`) from
    `seed` and the epoch number, so the same seed gives the same batches.
    `weights` (1 on the characters to predict) go to `fit` as
    `sample_weight`.

    Args:
        ids: `int32 [N, L]` character ids (`encode_characters`).
        batch_size: rows per batch.
        vocab_size: number of ids.
        space_id: the id of `" "`.
        rate: fraction of characters to predict. Defaults to `0.15`.
        seed: integer seed. Defaults to `0`.
        shuffle: reshuffle rows each epoch. Defaults to `True`.
        **kwargs: `PyDataset` arguments (`workers`, ...).
    """

    def __init__(self, ids, batch_size, vocab_size, space_id, rate=0.15,
                 seed=0, shuffle=True, **kwargs):
        super().__init__(**kwargs)
        self.ids = np.asarray(ids)
        self.batch_size = int(batch_size)
        self.vocab_size = vocab_size
        self.space_id = space_id
        self.rate = rate
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self._prepare()

    def _prepare(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        order = (rng.permutation(len(self.ids)) if self.shuffle
                 else np.arange(len(self.ids)))
        self._inputs, self._targets, self._weights = mask_characters(
            self.ids[order], rng, self.vocab_size, self.space_id, self.rate)

    def __len__(self):
        return -(-len(self.ids) // self.batch_size)

    def __getitem__(self, index):
        s = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self._inputs[s], self._targets[s], self._weights[s]

    def on_epoch_end(self):
        self.epoch += 1
        self._prepare()
