"""Degenerate batches: finite values and gradients; 0 where tfa gives NaN."""

import numpy as np
import pytest

from kzoo import addons as tfa
from tests.addons import reference as ref
from tests.addons.helpers import value_and_grad

EMBEDDING_LOSSES = {
    "semihard-L2": lambda y, x: tfa.losses.triplet_semihard_loss(y, x),
    "semihard-sq": lambda y, x: tfa.losses.triplet_semihard_loss(y, x, distance_metric="squared-L2"),
    "semihard-angular": lambda y, x: tfa.losses.triplet_semihard_loss(y, x, distance_metric="angular"),
    "hard-L2": lambda y, x: tfa.losses.triplet_hard_loss(y, x),
    "hard-soft-sq": lambda y, x: tfa.losses.triplet_hard_loss(y, x, soft=True, distance_metric="squared-L2"),
    "hard-angular": lambda y, x: tfa.losses.triplet_hard_loss(y, x, distance_metric="angular"),
    "lifted": lambda y, x: tfa.losses.lifted_struct_loss(y, x),
    "class-semihard": lambda y, x: tfa.losses.TripletSemiHardLoss()(y, x),
    "class-lifted": lambda y, x: tfa.losses.LiftedStructLoss()(y, x),
}

_rng = np.random.default_rng(0)
_X = _rng.normal(size=(6, 4)).astype("float32")
BATCHES = {
    "all-distinct": (np.arange(6), _X),  # no positive pair
    "one-class": (np.zeros(6, "int64"), _X),  # no negative
    "duplicates": (np.array([0, 0, 1, 1, 2, 2]), np.tile(_X[:1], (6, 1))),  # all d = 0
    "pair-duplicates": (np.array([0, 0, 1, 1, 2, 2]), np.repeat(_X[:3], 2, axis=0)),
    "zeros": (np.array([0, 0, 1, 1, 2, 2]), np.zeros((6, 4), "float32")),
    "single": (np.array([3]), _X[:1]),
    "empty": (np.zeros((0,), "int64"), np.zeros((0, 4), "float32")),
}


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("batch", sorted(BATCHES))
@pytest.mark.parametrize("loss", sorted(EMBEDDING_LOSSES))
def test_finite_values_and_gradients(loss, batch, dtype):
    y, x = BATCHES[batch]
    value, grad, dtypes = value_and_grad(
        lambda e: EMBEDDING_LOSSES[loss](y, e), x, dtype)
    assert dtypes[0] == dtype
    assert np.isfinite(float(value))
    if grad is not None:
        assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("metric", ["L2", "squared-L2", "angular"])
def test_semihard_zero_instead_of_nan_and_tfa_fallbacks(metric):
    loss = tfa.losses.TripletSemiHardLoss(distance_metric=metric)
    # No positive pair: tfa divides 0 by 0 positives -> NaN; here 0.
    assert float(loss(np.arange(6), _X)) == 0.0
    assert float(loss([3], _X[:1])) == 0.0
    # One class is *not* NaN in tfa: the missing negative falls back to the
    # row minimum, so each pair costs margin + d(a, p) - min(row).
    expected = ref.triplet_semihard(np.zeros(6), _X, metric=metric)
    assert float(loss(np.zeros(6), _X)) == pytest.approx(expected, rel=1e-5)
    # Mixed labels, identical embeddings: every d = 0, no negative is
    # farther than the positive -> farthest negative (0): loss = margin.
    y, x = BATCHES["duplicates"]
    assert float(loss(y, x)) == pytest.approx(1.0, abs=1e-5)


def test_lifted_zero_instead_of_nan():
    loss = tfa.losses.LiftedStructLoss()
    assert float(loss(np.arange(6), _X)) == 0.0  # no positive pair
    assert float(loss(np.zeros(6), _X)) == 0.0  # one class: log of an empty sum
    y, x = BATCHES["duplicates"]
    # every d = 0: J = 0 + log(4 + 4 negatives * e^1) = 1 + log 8; loss = J^2 / 2
    assert float(loss(y, x)) == pytest.approx((1 + np.log(8)) ** 2 / 2, rel=1e-6)


def test_zero_vectors_angular_is_distance_one():
    # tfa l2-normalises a zero vector to 0, so its cosine distance to
    # everything (itself included) is 1; the hard loss is then
    # max(1 - 1 + margin, 0) = margin, the semi-hard falls back to margin too.
    y, x = BATCHES["zeros"]
    assert float(tfa.losses.triplet_hard_loss(y, x, distance_metric="angular")) == pytest.approx(1.0)
    assert float(tfa.losses.triplet_semihard_loss(y, x, distance_metric="angular")) == pytest.approx(1.0)


def test_npairs_and_contrastive_degenerate():
    empty = np.zeros((0, 0), "float32")
    assert float(tfa.losses.npairs_loss(np.zeros((0,), "int64"), empty)) == 0.0
    assert float(tfa.losses.npairs_multilabel_loss(np.zeros((0, 3)), empty)) == 0.0
    # no labels at all: tfa 0/0 = NaN; here 0
    assert float(tfa.losses.npairs_multilabel_loss(np.zeros((4, 3)), np.ones((4, 4), "float32"))) == 0.0
    value, grad, _ = value_and_grad(
        lambda e: tfa.losses.NpairsLoss()(np.zeros(4), e),  # one class
        np.zeros((4, 4)))
    # uniform target and uniform softmax: cross-entropy = entropy = log 4
    assert float(value) == pytest.approx(np.log(4), rel=1e-6)
    assert np.all(np.isfinite(grad))
    value, grad, _ = value_and_grad(
        lambda e: tfa.losses.ContrastiveLoss()(np.array([1, 0, 1, 0]), e),
        np.zeros((4,)))
    assert float(value) == pytest.approx(0.5)  # (0 + 1 + 0 + 1) / 4
    assert np.all(np.isfinite(grad))
