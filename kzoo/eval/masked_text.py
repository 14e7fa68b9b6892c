"""Masked-character accuracy and its n-gram baselines."""

import numpy as np

from kzoo._api import kzoo_export
from kzoo.data.masked_text import MASK_ID
from kzoo.data.masked_text import PAD_ID
from kzoo.data.masked_text import UNKNOWN_ID


@kzoo_export("kzoo.eval.masked_char_accuracy")
def masked_char_accuracy(predicted, targets, weights):
    """Fraction of the weighted (masked) characters predicted exactly."""
    weights = np.asarray(weights) > 0
    if not weights.any():
        raise ValueError("No masked character to score (all weights are 0).")
    return float(np.mean(np.asarray(predicted)[weights]
                         == np.asarray(targets)[weights]))


@kzoo_export("kzoo.eval.masked_model_accuracy")
def masked_model_accuracy(model, inputs, targets, weights, batch_size=256):
    """`masked_char_accuracy` of a masked language model's best guesses.

    Padding, unknown and the blank itself are never guessed (as in
    `kzoo.models.fill_blanks`).

    Args:
        model: ids `[N, L]` -> logits `[N, L, V]`.
        inputs, targets, weights: a masking (`kzoo.data.mask_characters`).
        batch_size: prediction batch. Defaults to `256`.
    """
    logits = np.array(model.predict(inputs, batch_size=batch_size,
                                    verbose=0))
    logits[..., :MASK_ID + 1] = -np.inf
    return masked_char_accuracy(np.argmax(logits, -1), targets, weights)


@kzoo_export("kzoo.eval.char_ngram_baselines")
def char_ngram_baselines(train_ids, inputs, targets, weights, vocab_size,
                         space_id):
    """Accuracy of a unigram and a bigram guess at the masked characters.

    Counted on the training ids (padding excluded; special ids are never
    guessed):

    * unigram: every masked character is guessed as the most frequent
      training character other than the space (masks never fall on
      spaces);
    * bigram: the most likely character after the visible character to
      its left, `argmax_c count(left, c)`; when the left neighbour is
      itself hidden (or the masked character starts the text), the most
      likely character before the visible right neighbour; when both are
      hidden, the unigram guess.

    Args:
        train_ids: `int [N, L]` training ids.
        inputs: `int [M, L]` corrupted ids (`mask_characters`); a position
            is visible when it is not weighted.
        targets: `int [M, L]` original ids.
        weights: `[M, L]`, 1 on the characters to guess.
        vocab_size: number of ids.
        space_id: the id of `" "` (never guessed by the unigram).

    Returns:
        `{"unigram_accuracy": ..., "bigram_accuracy": ...}`.
    """
    train_ids = np.asarray(train_ids)
    targets = np.asarray(targets)
    hidden = np.asarray(weights) > 0
    special = np.zeros(vocab_size, bool)
    special[[PAD_ID, UNKNOWN_ID, MASK_ID]] = True
    counts = np.bincount(train_ids[train_ids != PAD_ID].ravel(),
                         minlength=vocab_size).astype(np.float64)
    unigram_counts = counts.copy()
    unigram_counts[special] = -1
    unigram_counts[space_id] = -1
    unigram = int(np.argmax(unigram_counts))
    left, right = train_ids[:, :-1].ravel(), train_ids[:, 1:].ravel()
    keep = (left != PAD_ID) & (right != PAD_ID)
    pairs = np.zeros((vocab_size, vocab_size))
    np.add.at(pairs, (left[keep], right[keep]), 1.0)
    pairs[:, special] = -1
    after = np.argmax(pairs, axis=1)       # best next char given left
    before = np.argmax(pairs, axis=0)      # best previous char given right
    has_after = pairs.max(axis=1) > 0
    has_before = pairs.max(axis=0) > 0

    guesses_bigram = []
    for row, col in zip(*np.nonzero(hidden)):
        guess = unigram
        if col > 0 and not hidden[row, col - 1] and has_after[
                targets[row, col - 1]]:
            guess = after[targets[row, col - 1]]
        elif (col + 1 < targets.shape[1] and not hidden[row, col + 1]
              and targets[row, col + 1] != PAD_ID
              and has_before[targets[row, col + 1]]):
            guess = before[targets[row, col + 1]]
        guesses_bigram.append(guess)
    truth = targets[hidden]
    return {"unigram_accuracy": float(np.mean(truth == unigram)),
            "bigram_accuracy": float(np.mean(truth == np.array(
                guesses_bigram)))}
