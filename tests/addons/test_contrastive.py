"""Contrastive loss: tensorflow-addons 0.23's values and label convention."""

import numpy as np
import pytest

from kzoo import addons as tfa
from tests.addons import reference as ref
from tests.addons.helpers import as_dtype, backend_dtype, dtype_of, f32

Y = np.array([0, 0, 1, 1, 0, 1], "int64")
D = np.array([0.1, 0.3, 1.3, 0.7, 1.1, 0.5], "float32")
# y = 1 (similar): d^2;  y = 0 (dissimilar): max(1 - d, 0)^2
#   = [0.9^2, 0.7^2, 1.3^2, 0.7^2, 0^2, 0.5^2]
PER_PAIR = [0.81, 0.49, 1.69, 0.49, 0.0, 0.25]


def test_label_convention_y1_is_similar():
    # A similar pair (y = 1) at distance 2 costs 2^2 = 4; a dissimilar pair
    # (y = 0) at distance 0.25 costs (1 - 0.25)^2 = 0.5625, beyond the
    # margin 0.
    got = tfa.losses.contrastive_loss([1, 0, 0], np.array([2.0, 0.25, 1.5], "float32"))
    np.testing.assert_allclose(got, [4.0, 0.5625, 0.0], rtol=1e-6)


def test_tfa_expected_values():
    cl = tfa.losses.ContrastiveLoss()
    assert cl.name == "contrastive_loss"
    assert float(cl(Y, np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0], "float32"))) == 0.0
    # (0.81 + 0.49 + 1.69 + 0.49 + 0 + 0.25) / 6 = 0.621666
    assert float(cl(Y, D)) == pytest.approx(0.621666, abs=1e-6)
    # weighted [0.972, 0.392, 0.845, 0.196, 0, 0.25] summed / 6 = 0.4425
    w = np.array([1.2, 0.8, 0.5, 0.4, 1.5, 1.0], "float32")
    assert float(cl(Y, D, sample_weight=w)) == pytest.approx(0.4425, abs=1e-6)
    assert float(cl(Y, D, sample_weight=6.0)) == pytest.approx(3.73, abs=1e-5)
    assert float(cl(Y, D, sample_weight=0.0)) == 0.0
    # margin 2: [1.9^2, 1.7^2, 1.3^2, 0.7^2, 0.9^2, 0.5^2] / 6 = 1.623333
    assert float(tfa.losses.ContrastiveLoss(margin=2.0)(Y, D)) == pytest.approx(1.623333, abs=1e-6)
    none = tfa.losses.ContrastiveLoss(reduction="none")(Y, D)
    np.testing.assert_allclose(f32(none), PER_PAIR, rtol=1e-5, atol=1e-7)
    assert float(tfa.losses.ContrastiveLoss(reduction="sum")(Y, D)) == pytest.approx(3.73, abs=1e-5)
    np.testing.assert_allclose(f32(tfa.losses.contrastive_loss(Y, D)), PER_PAIR, rtol=1e-5, atol=1e-7)


def test_tf_keras_reduction_constants_including_auto():
    import tensorflow as tf  # tf.keras's constants, any Keras backend

    R = tf.keras.losses.Reduction
    assert tfa.losses.ContrastiveLoss(reduction=R.SUM, name="cl").reduction == "sum"
    auto = tfa.losses.ContrastiveLoss(reduction=R.AUTO)
    assert auto.reduction == "sum_over_batch_size"
    assert float(auto(Y, D)) == pytest.approx(0.621666, abs=1e-6)


def test_matches_reference_and_column_shapes():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=16)
    d = np.abs(rng.normal(size=16)).astype("float32")
    expected = ref.contrastive(y, d, 1.5)
    np.testing.assert_allclose(f32(tfa.losses.contrastive_loss(y, d, 1.5)), expected, rtol=1e-5)
    loss = tfa.losses.ContrastiveLoss(margin=1.5)
    mean = expected.mean()
    # [B] vs [B, 1] is aligned, not broadcast to [B, B].
    for yy, dd in ((y, d), (y[:, None], d), (y, d[:, None]), (y[:, None], d[:, None])):
        assert float(loss(yy, dd)) == pytest.approx(mean, rel=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_dtypes(dtype):
    got = tfa.losses.contrastive_loss(Y, as_dtype(D, dtype))
    assert dtype_of(got) == backend_dtype(dtype)
    np.testing.assert_allclose(f32(got), PER_PAIR, rtol=1e-2, atol=1e-2)


# --- shapes: a clear error instead of a backend broadcast error ------------


@pytest.mark.parametrize("cls", [False, True], ids=["function", "class"])
@pytest.mark.parametrize("b, d", [(8, 16), (4, 4)])
def test_embeddings_instead_of_distances_is_a_clear_error(cls, b, d):
    # [B, D] embeddings instead of [B] distances: tfa failed in TensorFlow's
    # broadcasting (or, with B == D, silently returned a [B, B] loss).
    loss = tfa.losses.ContrastiveLoss() if cls else tfa.losses.contrastive_loss
    x = np.zeros((b, d), "float32")
    for labels in (np.zeros(b, "int64"), np.zeros((b, 1), "int64")):
        with pytest.raises(ValueError, match=(
                r"`y_pred` must have shape `\[B\]` or `\[B, 1\]`: the pair "
                r"distances .* Received: y_pred.shape=\({}, {}\)$".format(b, d))):
            loss(labels, x)


def test_label_shape_mismatch_is_a_clear_error():
    d = np.ones(6, "float32")
    with pytest.raises(ValueError, match=r"y_pred.shape=\(6,\)\). "
                                         r"Received: y_true.shape=\(6, 2\)$"):
        tfa.losses.contrastive_loss(np.zeros((6, 2)), d)
    with pytest.raises(ValueError, match=r"Received: y_true.shape=\(5,\)$"):
        tfa.losses.ContrastiveLoss()(np.zeros(5), d)
    # Same-shape labels and distances of any rank stay elementwise, as tfa.
    grid = np.full((2, 3), 0.5, "float32")
    np.testing.assert_allclose(f32(tfa.losses.contrastive_loss(np.ones((2, 3)), grid)),
                               np.full((2, 3), 0.25))
