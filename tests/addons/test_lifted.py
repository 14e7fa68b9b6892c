"""Lifted structured loss against tensorflow-addons 0.23's definition."""

import numpy as np
import pytest
import tensorflow as tf

from kzoo import addons as tfa
from tests.addons import reference as ref


@pytest.mark.parametrize("seed", range(5))
def test_matches_reference(seed):
    rng = np.random.default_rng(seed)
    x = rng.random((10, 6)).astype("float32") * (1 + 3 * seed)  # also large distances
    y = rng.integers(0, 4, size=10)
    for margin in (1.0, 0.5):
        expected = ref.lifted_struct(y, x, margin)
        got = tfa.losses.LiftedStructLoss(margin=margin)(y, x)
        np.testing.assert_allclose(float(got), expected, rtol=1e-5, atol=1e-6)
        fn = tfa.losses.lifted_struct_loss(labels=y, embeddings=x, margin=margin)
        assert float(fn) == pytest.approx(float(got), rel=1e-6, abs=1e-7)


def test_by_hand():
    # labels [0, 0, 1] at 1-D [0, 1, 3]; positive pairs (0, 1) and (1, 0),
    # d01 = 1. Negatives: of 0 -> node 2 at 3 (1 - 3 = -2); of 1 -> node 2
    # at 2 (1 - 2 = -1). J = 1 + log(e^-2 + e^-1) = 0.31326
    # loss = (J^2 + J^2) / (2 * 2 pairs) = J^2 / 2
    j = 1 + np.log(np.exp(-2) + np.exp(-1))
    x = np.array([[0.0], [1.0], [3.0]], "float32")
    got = tfa.losses.LiftedStructLoss()(np.array([0, 0, 1]), x)
    assert float(got) == pytest.approx(j ** 2 / 2, rel=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision(dtype):
    rng = np.random.default_rng(9)
    x = rng.random((10, 6)).astype("float32")
    y = rng.integers(0, 4, size=10)
    xh = tf.constant(x, dtype)
    got = tfa.losses.lifted_struct_loss(y, xh)
    assert got.dtype == dtype
    expected = ref.lifted_struct(y, tf.cast(xh, "float32").numpy())
    np.testing.assert_allclose(float(got), expected, rtol=1e-2)
