"""kzoo.data.WordBigram: add-one unigram and Witten-Bell bigram
probabilities, checked against hand computation."""

import numpy as np
import pytest

import kzoo

TRAIN = ["O menino joga bola.", "a bola", "o menino corre"]
# words: o menino joga bola a bola o menino corre -> N = 9
# counts: o 2, menino 2, joga 1, bola 2, a 1, corre 1 -> V = 6
# bigrams: o->menino 2, menino->joga 1, menino->corre 1, joga->bola 1,
#          a->bola 1 (a bigram never crosses two texts)
N, V = 9, 6


def p_uni(count):
    return (count + 1) / (N + V)


def test_unigram_is_add_one_smoothed_over_the_vocabulary():
    counts = kzoo.data.WordBigram(TRAIN)
    np.testing.assert_allclose(
        counts.log_prob(["bola", "Corre", "gato"]),
        np.log([p_uni(2), p_uni(1), p_uni(0)]))
    # extra vocabulary forms enlarge V only
    wide = kzoo.data.WordBigram(TRAIN, vocabulary=["gato", "bola", " "])
    np.testing.assert_allclose(wide.log_prob(["gato"]),
                               np.log([1 / (N + V + 1)]))
    np.testing.assert_allclose(
        counts.extended(["gato", "rato"]).log_prob(["bola"]),
        np.log([3 / (N + V + 2)]))
    # unigram counts given directly add to the texts' counts
    more = kzoo.data.WordBigram(TRAIN, unigrams={"Bola": 3})
    np.testing.assert_allclose(more.log_prob(["bola"]),
                               np.log([6 / (N + 3 + V)]))


def test_bigram_is_witten_bell_interpolated():
    counts = kzoo.data.WordBigram(TRAIN)
    # after "menino": c = 2, T = 2 distinct followers (joga, corre)
    given = lambda c, u: (c + 2 * u) / (2 + 2)  # noqa: E731
    np.testing.assert_allclose(
        counts.log_prob(["joga", "corre", "bola"], previous="Menino"),
        np.log([given(1, p_uni(1)), given(1, p_uni(1)),
                given(0, p_uni(2))]))
    # a word never followed by another ("corre") or unseen: the unigram
    np.testing.assert_allclose(
        counts.log_prob(["bola"], previous="corre"), np.log([p_uni(2)]))
    np.testing.assert_allclose(
        counts.log_prob(["bola"], previous="gato"), np.log([p_uni(2)]))
    # both neighbours: P(w | previous) * P(following | w)
    # P(joga | menino) = (1 + 2 p(1)) / 4; P(bola | joga) = (1 + p(2)) / 2
    # P(corre | menino) = same; corre is never followed: P(bola) = p(2)
    np.testing.assert_allclose(
        counts.log_prob(["joga", "corre"], previous="menino",
                        following="bola"),
        np.log([given(1, p_uni(1)) * (1 + p_uni(2)) / 2,
                given(1, p_uni(1)) * p_uni(2)]))
    # the probabilities after a word sum to one over the vocabulary
    vocab = ["o", "menino", "joga", "bola", "a", "corre"]
    for previous in vocab + ["gato"]:
        assert np.exp(counts.log_prob(vocab, previous=previous)).sum() \
            == pytest.approx(1.0)


def test_order_one_ignores_the_context():
    counts = kzoo.data.WordBigram(TRAIN, order=1)
    assert not counts.bigrams
    np.testing.assert_allclose(
        counts.log_prob(["joga"], previous="menino", following="bola"),
        np.log([p_uni(1)]))
    with pytest.raises(ValueError, match="order"):
        kzoo.data.WordBigram(TRAIN, order=3)
    with pytest.raises(ValueError, match="non-negative"):
        kzoo.data.WordBigram(unigrams={"bola": -1})
