"""Masked-character accuracy and the n-gram baselines, by hand."""

import numpy as np
import pytest

from kzoo.data import MaskedTextDataset, char_vocabulary, encode_characters
from kzoo.eval import (char_ngram_baselines, masked_char_accuracy,
                       masked_model_accuracy)


def test_accuracy_counts_weighted_positions_only():
    assert masked_char_accuracy([[1, 2, 3]], [[1, 9, 3]], [[0, 1, 1]]) == 0.5
    with pytest.raises(ValueError, match="No masked character"):
        masked_char_accuracy([[1]], [[1]], [[0]])


def test_model_accuracy_never_guesses_special_ids():
    import keras

    # Logits favour padding (0), unknown (1) and the blank (2) over id 5,
    # then id 4: the best real guess is 5 everywhere.
    bias = np.array([9.0, 8.0, 7.0, 0.0, 1.0, 2.0], "float32")
    inputs = keras.Input((3,), dtype="int32")
    logits = keras.layers.Lambda(
        lambda x: keras.ops.zeros_like(keras.ops.cast(x, "float32"))[
            ..., None] + bias)(inputs)
    model = keras.Model(inputs, logits)
    ids = np.array([[2, 3, 2]], "int32")
    targets = np.array([[5, 3, 4]], "int32")
    assert masked_model_accuracy(model, ids, targets, [[1, 0, 1]]) == 0.5
    assert masked_model_accuracy(model, ids, targets, [[0, 0, 1]]) == 0.0


def test_unigram_and_bigram_by_hand():
    vocab = char_vocabulary(["ab ab ab ac"])   # "_", " ", "a", "b", "c"
    ids = lambda t: encode_characters([t], vocab, 8)  # noqa: E731
    train = ids("ab ab ab ac")
    # Most frequent non-space: "a" (4) > "b" (3). After "a": "b" (3 of 4).
    test_t = ids("ac ab")
    hidden = np.zeros_like(test_t, np.float32)
    hidden[0, [1, 4]] = 1        # the "c" and the "b"
    inputs = np.where(hidden > 0, 2, test_t)
    out = char_ngram_baselines(train, inputs, test_t, hidden, len(vocab) + 2,
                               vocab.index(" ") + 2)
    assert out["unigram_accuracy"] == 0.0          # guesses "a", "a"
    assert out["bigram_accuracy"] == 0.5           # guesses "b", "b"
    # Left neighbour hidden too: the right neighbour decides ("_b" -> "a").
    test_t = ids("ab")
    hidden = np.zeros_like(test_t, np.float32)
    hidden[0, 0] = 1
    out = char_ngram_baselines(train, test_t, test_t, hidden, len(vocab) + 2,
                               vocab.index(" ") + 2)
    assert out["bigram_accuracy"] == 1.0


def test_masked_text_dataset_remasks_each_epoch_reproducibly():
    vocab = char_vocabulary(["uma frase de teste para mascarar"])
    ids = encode_characters(["uma frase de teste para mascarar"] * 10,
                            vocab, 40)
    space = vocab.index(" ") + 2
    ds = MaskedTextDataset(ids, 4, len(vocab) + 2, space, seed=1)
    assert len(ds) == 3 and ds[2][0].shape == (2, 40)
    first = np.concatenate([ds[i][2] for i in range(3)])
    ds.on_epoch_end()
    second = np.concatenate([ds[i][2] for i in range(3)])
    assert not np.array_equal(first, second)
    again = MaskedTextDataset(ids, 4, len(vocab) + 2, space, seed=1)
    np.testing.assert_array_equal(
        np.concatenate([again[i][2] for i in range(3)]), first)
