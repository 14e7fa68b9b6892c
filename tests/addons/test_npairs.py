"""N-pairs losses: tensorflow-addons 0.23's expected values."""

import numpy as np
import pytest
import tensorflow as tf

from kzoo import addons as tfa
from tests.addons import reference as ref

F = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]], "float32")
SIM = F @ F.T  # anchors and positives equal


def test_tfa_expected_values():
    nl = tfa.losses.NpairsLoss()
    assert nl.name == "npairs_loss" and nl.reduction == "none"
    assert tfa.losses.NpairsLoss(name="nl").name == "nl"
    # each row: log(1 + exp(-2) + exp(-2) + exp(-4)) = 0.253856
    y = np.array([0, 1, 2, 3], "int64")
    assert float(nl(y, SIM)) == pytest.approx(0.253856, abs=1e-6)
    assert float(tfa.losses.npairs_loss(y[:, None], SIM)) == pytest.approx(0.253856, abs=1e-6)


def test_multilabel_tfa_expected_values():
    nml = tfa.losses.NpairsMultilabelLoss()
    assert nml.name == "npairs_multilabel_loss"
    single = np.eye(4, dtype="int64")
    assert float(nml(single, SIM)) == pytest.approx(0.253856, abs=1e-6)
    multi = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]], "int64")
    # tfa's test: (0.920522 + 1.753856 + 1.753856 + 1.253856) / 4
    assert float(nml(multi, SIM)) == pytest.approx(1.420522, abs=1e-6)
    sparse = tf.sparse.from_dense(tf.constant(multi))
    assert float(nml(sparse, SIM)) == pytest.approx(1.420522, abs=1e-6)
    assert float(tfa.losses.npairs_multilabel_loss(sparse, SIM)) == pytest.approx(1.420522, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_matches_reference(seed):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(12, 12)) * 3).astype("float32")
    y = rng.integers(0, 5, size=12)
    np.testing.assert_allclose(
        float(tfa.losses.NpairsLoss()(y, logits)), ref.npairs(y, logits), rtol=1e-5)
    ml = (rng.random((12, 6)) < 0.4).astype("int64")
    ml[0] = 0  # a sample without labels: tfa NaN, here it contributes 0
    np.testing.assert_allclose(
        float(tfa.losses.npairs_multilabel_loss(ml, logits)),
        ref.npairs_multilabel(ml, logits), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision(dtype):
    y = np.array([0, 1, 2, 3])
    got = tfa.losses.npairs_loss(y, tf.constant(SIM, dtype))
    assert got.dtype == dtype
    assert float(got) == pytest.approx(0.253856, rel=1e-2)
