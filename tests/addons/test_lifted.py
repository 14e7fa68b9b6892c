"""Lifted structured loss against tensorflow-addons 0.23's definition."""

import numpy as np
import pytest

from kzoo import addons as tfa
from tests.addons import reference as ref
from tests.addons.helpers import as_dtype, dtype_of, f32


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
    xh = as_dtype(x, dtype)
    expected = ref.lifted_struct(y, f32(xh))
    for got in (tfa.losses.lifted_struct_loss(y, xh), tfa.losses.LiftedStructLoss()(y, xh)):
        assert dtype_of(got) == dtype
        np.testing.assert_allclose(f32(got), expected, rtol=1e-2)


@pytest.mark.parametrize("cls", [False, True], ids=["function", "class"])
def test_wrong_shapes_are_clear_errors(cls):
    loss = tfa.losses.LiftedStructLoss() if cls else tfa.losses.lifted_struct_loss
    labels_name, emb_name = ("y_true", "y_pred") if cls else ("labels", "embeddings")
    x = np.zeros((6, 4), "float32")
    with pytest.raises(ValueError, match=rf"Received: {labels_name}.shape=\(6, 2\)$"):
        loss(np.zeros((6, 2), "int64"), x)
    with pytest.raises(ValueError, match=rf"`\[B, D\]` embeddings.*Received: {emb_name}.shape=\(6,\)$"):
        loss(np.zeros(6, "int64"), x[:, 0])
    with pytest.raises(ValueError, match=rf"same batch size.*Received: {labels_name}.shape=\(5,\), "
                                         rf"{emb_name}.shape=\(6, 4\)$"):
        loss(np.zeros(5, "int64"), x)
