"""Blanks filled with lexicon words (kzoo.models.Lexicon, fill_words): the
lookups, the ranking with a model whose preferences are known, the
fallback, and the shipped model with the real lexicon."""

import os

import numpy as np
import pytest

import kzoo
from kzoo.models.lexicon_fill import _variants
from tests.conftest import datasets_root

VOCAB = ["_", " ", "a", "c", "m", "s", "o", "x", "e", "l"]


class Prefers:
    """A stand-in model: at every position the logits favour `letter`
    (then `second`), whatever the input; `calls` counts forward passes."""

    def __init__(self, letter, second=None, length=16):
        self.inputs = [np.zeros((1, length))]
        self.calls = 0
        self.logits = np.zeros(len(VOCAB) + 2)
        self.logits[VOCAB.index(letter) + 2] = 5.0
        if second:
            self.logits[VOCAB.index(second) + 2] = 2.0

    def __call__(self, ids, training=False):
        self.calls += 1
        return np.broadcast_to(self.logits, ids.shape + self.logits.shape)


def test_lexicon_lookups_are_nfc_and_case_insensitive():
    lex = kzoo.models.Lexicon(["Casa", "cama", "casa", "cão", "ca\u0303o",
                               " ", "coxo"])
    assert len(lex) == 4  # casa, cama, cão (one NFC form), coxo
    assert "CASA" in lex and "ca\u0303o" in lex and "gato" not in lex
    assert lex.matching("ca_a") == ["cama", "casa"]
    assert lex.matching("C_XO") == ["coxo"]
    assert lex.matching("c_") == [] and lex.matching("_____") == []


def test_variants_expand_each_blank_run():
    assert _variants("ca_a", False, 3) == ["ca_a"]
    assert _variants("c_s_", True, 1) == ["c_s_", "c_s__", "c__s_", "c__s__"]


def test_the_model_chooses_among_the_fitting_words():
    lex = kzoo.models.Lexicon(["casa", "cama", "coxo", "mala"])
    out = kzoo.models.fill_words(Prefers("m"), "a ca_a o", VOCAB, lex)
    assert out == {"text": "a cama o", "words": [("ca_a", "cama", True)],
                   "fallbacks": 0}
    assert kzoo.models.fill_words(Prefers("s"), "ca_a", VOCAB,
                                  lex)["text"] == "casa"
    # every word with blanks, left to right; visible letters kept
    out = kzoo.models.fill_words(Prefers("m", "l"), "_a_a co_o", VOCAB, lex)
    assert out["text"] == "mala coxo" and out["fallbacks"] == 0


def test_free_length_and_the_fallback():
    lex = kzoo.models.Lexicon(["cama", "camas"])
    out = kzoo.models.fill_words(Prefers("s"), "cam_", VOCAB, lex,
                                 free_length=True, max_extra=1)
    assert out["text"] == "camas"  # 'a' then 's' scores above 'a' alone
    out = kzoo.models.fill_words(Prefers("x"), "zz_zz ca_a", VOCAB, lex)
    assert out["fallbacks"] == 1 and out["words"][0][2] is False
    assert out["text"].startswith("zzxzz")
    with pytest.raises(ValueError, match="rescore"):
        kzoo.models.fill_words(Prefers("x"), "ca_a", VOCAB, lex, rescore=0)


def test_the_shipped_model_writes_lexicon_words():
    words = os.path.join(datasets_root(), "text", "pt_docs", "words.txt")
    if not os.path.isfile(words):
        pytest.skip(f"{words} not found")
    name = "masked_text_chartransformer_fortunes_pt"
    model = kzoo.presets.load(name)
    vocabulary = kzoo.presets.tokenizer(name).vocabulary
    lex = kzoo.models.Lexicon.from_file(words)
    assert len(lex) > 270_000
    assert kzoo.models.fill_words(model, "O gato subiu no tel_ado",
                                  vocabulary, lex)["text"] == \
        "O gato subiu no telhado"
    out = kzoo.models.fill_words(model, "Deixa o menino _____ bola e "
                                 "__pren_____", vocabulary, lex,
                                 free_length=True)
    assert out["fallbacks"] == 0
    assert all(in_lexicon for _, _, in_lexicon in out["words"])
    assert all(word.lower() in lex for _, word, _ in out["words"])
    assert "pren" in out["text"]


def test_counted_lexicon_priors_are_add_one_smoothed():
    lex = kzoo.models.Lexicon(["casa", "cama"]).with_counts(
        ["A casa, a CASA e a mala.", "casa_x 12"])
    # corpus words join the forms: a, casa, e, mala, x (+ cama)
    assert len(lex) == 6 and "mala" in lex and "x" in lex
    assert lex.counts["casa"] == 3 and lex.counts["a"] == 3  # "_" splits
    total = 3 + 3 + 1 + 1 + 1  # a, casa, e, mala, x
    np.testing.assert_allclose(
        lex.log_prior(["Casa", "cama", "gato"]),
        np.log([4 / (total + 6), 1 / (total + 6), 1 / (total + 6)]))
    # add_words=False: the same prior, the lexicon's words the only forms
    strict = kzoo.models.Lexicon(["casa", "cama"]).with_counts(
        ["A casa, a CASA e a mala.", "casa_x 12"], add_words=False)
    assert len(strict) == 2 and "mala" not in strict and "casa" in strict
    np.testing.assert_allclose(strict.log_prior(["casa", "mala", "gato"]),
                               lex.log_prior(["casa", "mala", "gato"]))
    model = Prefers("x")
    assert kzoo.models.fill_words(model, "m_la", VOCAB, lex,
                                  prior_weight=1.0)["text"] == "mala"
    assert kzoo.models.fill_words(model, "m_la", VOCAB, strict,
                                  prior_weight=1.0)["fallbacks"] == 1
    with pytest.raises(ValueError, match="no counts"):
        kzoo.models.Lexicon(["casa"]).log_prior(["casa"])
    with pytest.raises(ValueError, match="non-negative"):
        kzoo.models.Lexicon([], {"casa": -1})


def test_a_bigram_prior_uses_both_neighbours():
    # "casa" is the more frequent word, but only "cama" is ever seen
    # between "na" and "dorme": the unigram prior says casa, the bigram
    # prior cama; the model itself has no preference ('x' everywhere)
    train = ["a casa", "a casa", "a casa", "na cama dorme", "na casa"]
    words = ["casa", "cama", "na", "dorme", "a"]
    model = Prefers("x")
    uni = kzoo.models.Lexicon(words).with_counts(train)
    bi = kzoo.models.Lexicon(words).with_counts(train, order=2)
    assert bi.word_counts.order == 2 and uni.word_counts.order == 1
    fill = lambda lex, text: kzoo.models.fill_words(  # noqa: E731
        model, text, VOCAB, lex, prior_weight=1.0)["text"]
    assert fill(uni, "na ca_a dorme") == "na casa dorme"
    assert fill(bi, "na ca_a dorme") == "na cama dorme"
    # the prior's value is the bigram model's, smoothed over the
    # lexicon's forms too
    np.testing.assert_allclose(
        bi.log_prior(["cama"], "na", "dorme"),
        kzoo.data.WordBigram(train, vocabulary=words).log_prob(
            ["cama"], "na", "dorme"))
    # a neighbour still holding blanks is no context: after "na" alone,
    # cama and casa were each seen once, casa is the more frequent
    assert fill(bi, "na ca_a d_rme").startswith("na casa")


def test_the_prior_moves_the_choice_to_the_frequent_word():
    # The model prefers 'm' mildly over 's' (logits 5 vs 2 at the blank):
    # "cama" alone; a prior with "casa" 1,000 times more frequent wins
    # once its weight outweighs the 3-nat gap (log 1000 = 6.9).
    lex = kzoo.models.Lexicon(["casa", "cama"], {"casa": 999, "cama": 0})
    model = Prefers("m", "s")
    fill = lambda w: kzoo.models.fill_words(  # noqa: E731
        model, "a ca_a", VOCAB, lex, prior_weight=w)["text"]
    assert fill(0.0) == "a cama"
    assert fill(0.2) == "a cama"  # 0.2 * 6.9 = 1.4 < 3
    assert fill(1.0) == "a casa"
    with pytest.raises(ValueError, match="with counts"):
        kzoo.models.fill_words(model, "ca_a", VOCAB,
                               kzoo.models.Lexicon(["casa"]),
                               prior_weight=1.0)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="prior_weight"):
            kzoo.models.fill_words(model, "ca_a", VOCAB, lex,
                                   prior_weight=bad)
