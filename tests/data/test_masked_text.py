"""Character MLM data: text, vocabulary, ids equal to TextVectorization's,
and masking of whole words and in-word spans with the 80/10/10 rule."""

import os

import numpy as np
import pytest

from kzoo.data import (char_vectorizer, char_vocabulary, decode_characters,
                       encode_characters, load_text_entries, mask_characters,
                       normalize_text, split_entries, text_chunks)
from kzoo.data.masked_text import MASK_ID
from kzoo.data.masked_text import blank_neighbours
from kzoo.data.masked_text import word_form
from tests.conftest import datasets_root


def test_normalize_text_nfc_and_blanks():
    decomposed = "a\u0301gua  e\n\tca\u0303o_"
    assert normalize_text(decomposed) == "água e cão"
    assert len(normalize_text("a\u0301")) == 1


def test_word_forms_and_the_neighbours_of_a_blank():
    assert word_form(" A\u0301gua\n") == "água"
    text = "Deixa O menino pe__r a bola"
    start = text.index("pe__r")
    # Words are compared as forms: NFC, lowercase.
    assert blank_neighbours(text, start, start + 5) == ("menino", "a")
    # A neighbour still holding blanks is no context; punctuation between
    # words does not break a bigram; the text's ends give None.
    text = "m_nino, pe__r"
    assert blank_neighbours(text, 8, 13) == (None, None)
    assert blank_neighbours("Deixa, o", 7, 8) == ("deixa", None)
    assert blank_neighbours("__ bola", 0, 2) == (None, "bola")


def test_ids_match_text_vectorization():
    texts = ["Deixa o menino pegar a bola", "ação é já"]
    vocab = char_vocabulary(texts)
    assert vocab[0] == "_" and vocab[1] == " "   # space is the most frequent
    ours = encode_characters(texts + ["x_Ω"], vocab, 30)
    layer = char_vectorizer(vocab, 30)
    theirs = np.asarray(layer(texts + ["x_Ω"]))
    np.testing.assert_array_equal(ours, theirs)
    assert ours[2, 1] == MASK_ID and ours[2, 2] == 1     # "_" mask, Ω unknown
    assert decode_characters(ours[1], vocab) == "ação é já"


def test_chunks_cut_at_spaces():
    text = "uma frase bem comprida para cortar em partes"
    chunks = text_chunks([text, "curta"], 16)
    assert all(len(c) <= 16 for c in chunks)
    assert " ".join(chunks[:-1]) == text and chunks[-1] == "curta"
    assert text_chunks(["x" * 40], 16) == ["x" * 16, "x" * 16, "x" * 8]


def test_masking_words_and_spans_and_the_80_10_10_rule():
    vocab = char_vocabulary(["deixa o menino pegar a bola e aprender"])
    text = "deixa o menino pegar a bola e aprender"
    ids = encode_characters([text] * 2000, vocab, 48)
    space = vocab.index(" ") + 2
    rng = np.random.default_rng(0)
    inputs, targets, weights = mask_characters(ids, rng, len(vocab) + 2,
                                               space)
    np.testing.assert_array_equal(targets, ids)
    n = len(text)
    rate = weights[:, :n].sum(1) / n
    assert np.all(rate >= 0.15 - 1e-9) and rate.mean() < 0.3
    assert np.all(weights[:, n:] == 0)                 # never padding
    assert np.all(weights[ids == space] == 0)          # never a space
    chosen = weights == 1
    kinds = np.array([np.mean(inputs[chosen] == MASK_ID),
                      np.mean(inputs[chosen] == targets[chosen])])
    assert abs(kinds[0] - 0.8) < 0.02
    # 10% kept, plus random swaps that drew the same character by chance.
    assert 0.09 < kinds[1] < 0.13
    np.testing.assert_array_equal(inputs[~chosen], ids[~chosen])
    # Both whole words and strict parts of words are masked.
    word = slice(30, 38)                              # "aprender"
    w = weights[:, word]
    assert np.any(w.all(1)) and np.any(w.any(1) & ~w.all(1))


def test_split_is_fixed_and_disjoint():
    entries = [f"e{i}" for i in range(100)]
    a = split_entries(entries, seed=3)
    assert [len(p) for p in a] == [80, 10, 10]
    assert a == split_entries(entries, seed=3)
    assert not set(a[0]) & set(a[2])
    with pytest.raises(ValueError, match="Received: fractions"):
        split_entries(entries, fractions=(0.5, 0.5, 0.5))


def test_fortunes_entries():
    root = datasets_root()
    if not os.path.isfile(os.path.join(root, "text", "fortunes_br.txt")):
        pytest.skip("fortunes_br.txt not found")
    entries = load_text_entries(root)
    assert 2400 <= len(entries) <= 2600
    assert entries[0].startswith("Porque a galinha atravessa a rua?")
    assert all("_" not in e and "\n" not in e and "%" != e for e in entries)


def test_pt_docs_splits_by_document():
    import kzoo.data

    root = datasets_root()
    if not os.path.isfile(os.path.join(root, "text", "pt_docs",
                                       "words.txt")):
        pytest.skip(f"text/pt_docs not under {root}")
    splits = {s: kzoo.data.load_pt_docs(s, root)
              for s in ("train", "validation", "test")}
    assert len(splits["train"]) > 20_000 and len(splits["test"]) > 3_000
    assert all(p == p.strip() and "  " not in p for p in splits["test"])
    # the same folder given three ways
    assert kzoo.data.load_pt_docs("test", os.path.join(root, "text")) == \
        splits["test"]
    with pytest.raises(ValueError, match="split"):
        kzoo.data.load_pt_docs("valid", root)
    with pytest.raises(kzoo.data.DataUnavailableError, match="pt_docs"):
        kzoo.data.load_pt_docs("test", os.path.dirname(root) + "/nowhere")
