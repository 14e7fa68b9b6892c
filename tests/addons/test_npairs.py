"""N-pairs losses: tensorflow-addons 0.23's expected values."""

import numpy as np
import pytest

from kzoo import addons as tfa
from tests.addons import reference as ref
from tests.addons.helpers import as_dtype, dtype_of, f32

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


@pytest.mark.tf_backend
def test_multilabel_sparse_labels():
    import tensorflow as tf

    multi = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]], "int64")
    sparse = tf.sparse.from_dense(tf.constant(multi))
    nml = tfa.losses.NpairsMultilabelLoss()
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
    for got in (tfa.losses.npairs_loss(y, as_dtype(SIM, dtype)),
                tfa.losses.NpairsLoss()(y, as_dtype(SIM, dtype)),
                tfa.losses.NpairsLoss()(y, {"anchors": as_dtype(F, dtype),
                                            "positives": as_dtype(F, dtype)})):
        assert dtype_of(got) == dtype
        assert float(f32(got)) == pytest.approx(0.253856, rel=1e-2)


def test_wrong_shapes_are_clear_errors():
    y = np.array([0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"`\[B, B\]` similarity logits.*Received: y_pred.shape=\(4, 2\)$"):
        tfa.losses.npairs_loss(y, F)  # embeddings instead of logits
    with pytest.raises(ValueError, match=r"Received: y_pred.shape=\(4,\)$"):
        tfa.losses.NpairsLoss()(y, SIM[0])
    with pytest.raises(ValueError, match=r"Received: y_true.shape=\(4, 2\)$"):
        tfa.losses.NpairsLoss()(np.zeros((4, 2), "int64"), SIM)
    with pytest.raises(ValueError, match=r"same batch size.*Received: y_true.shape=\(3,\), "
                                         r"y_pred.shape=\(4, 4\)$"):
        tfa.losses.npairs_loss(y[:3], SIM)
    with pytest.raises(ValueError, match=r"`\[B, C\]` binary class indicators.*"
                                         r"Received: y_true.shape=\(4,\)$"):
        tfa.losses.NpairsMultilabelLoss()(y, SIM)
    with pytest.raises(ValueError, match=r"same shape.*Received: anchors.shape=\(4, 2\), "
                                         r"positives.shape=\(3, 2\)$"):
        tfa.losses.NpairsLoss()(y, {"anchors": F, "positives": F[:3]})
