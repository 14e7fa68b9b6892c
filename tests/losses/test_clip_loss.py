"""ClipLoss / clip_loss: CLIP's symmetric InfoNCE, duplicates excluded."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from kzoo.losses import ClipLoss, clip_logits, clip_loss
from tests.backend_utils import assert_computed_in_float32
from tests.backend_utils import to_numpy
from tests.backend_utils import value_and_grad


def _reference(a, b, scale, labels=None):
    """Plain NumPy loops: CLIP's Figure 3, duplicates out of the softmax."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    s = scale * a @ b.T
    n = len(a)
    out = []
    for i in range(n):
        keep = [j for j in range(n)
                if j == i or labels is None or labels[j] != labels[i]]
        row = -s[i, i] + math.log(sum(math.exp(s[i, j]) for j in keep))
        col = -s[i, i] + math.log(sum(math.exp(s[j, i]) for j in keep))
        out.append(0.5 * (row + col))
    return np.array(out)


def test_hand_computed():
    a = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    # Positive cos 1, the negative cos 0, scale 1: log(1 + 1/e) each way.
    np.testing.assert_allclose(to_numpy(clip_loss(a, a, scale=1.0)),
                               [math.log(1 + math.exp(-1))] * 2, rtol=1e-6)
    b = np.array([[1.0, 1.0], [0.0, 1.0]], "float32")  # cos(a0, b0) = 1/sqrt2
    c = 1 / math.sqrt(2)
    # s = [[c, 0], [c, 1]]: rows are a -> b, columns b -> a.
    row0 = -c + math.log(math.exp(c) + 1)
    row1 = -1 + math.log(math.exp(c) + math.e)
    col0 = math.log(2.0)                 # column [c, c]
    col1 = -1 + math.log(1 + math.e)     # column [0, 1]
    np.testing.assert_allclose(
        to_numpy(clip_loss(a, b, scale=1.0)),
        [0.5 * (row0 + col0), 0.5 * (row1 + col1)], rtol=1e-6)


def test_matches_numpy_reference_with_and_without_duplicates():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(7, 5)).astype("float32")
    b = rng.normal(size=(7, 5)).astype("float32")
    labels = np.array([0, 1, 0, 2, 1, 3, 0])
    np.testing.assert_allclose(to_numpy(clip_loss(a, b, scale=3.0)),
                               _reference(a, b, 3.0), rtol=1e-5)
    np.testing.assert_allclose(
        to_numpy(clip_loss(a, b, scale=3.0, labels=labels)),
        _reference(a, b, 3.0, labels), rtol=1e-5)
    # All ids distinct: the same as no labels.
    np.testing.assert_allclose(
        to_numpy(clip_loss(a, b, 3.0, labels=np.arange(7))),
        to_numpy(clip_loss(a, b, 3.0)), rtol=1e-6)


def test_identical_duplicates_are_not_negatives():
    # Two recordings of the same word, its text twice: perfectly aligned
    # embeddings reach ~0 only when the duplicate is left out.
    a = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], "float32")
    labels = np.array([5, 5, 9])
    with_labels = clip_loss(a, a, scale=100.0, labels=labels)
    np.testing.assert_allclose(to_numpy(with_labels), 0.0, atol=1e-6)
    without = keras.ops.convert_to_numpy(clip_loss(a, a, scale=100.0))
    np.testing.assert_allclose(without[:2], math.log(2), rtol=1e-5)
    logits = keras.ops.convert_to_numpy(clip_logits(a, a, 1.0, labels))
    assert logits[0, 1] < -1e29 and logits[1, 0] < -1e29
    assert logits[0, 2] == pytest.approx(0.0)


def test_class_dict_tensor_and_learnable_scale():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 3)).astype("float32")
    b = rng.normal(size=(4, 3)).astype("float32")
    loss = ClipLoss(temperature=0.5)
    expected = float(np.mean(_reference(a, b, 2.0)))
    assert float(loss(None, {"a": a, "b": b})) == pytest.approx(expected,
                                                               rel=1e-5)
    assert float(loss(None, np.concatenate([a, b]))) == pytest.approx(
        expected, rel=1e-5)
    # A "scale" in y_pred (the model's learnable one) overrides temperature,
    # and the loss is differentiable in it.
    value, (grad,) = value_and_grad(
        lambda t: loss(None, {"a": a, "b": b, "scale": ops.exp(t)}),
        np.float32(math.log(4.0)))
    assert float(value) == pytest.approx(float(np.mean(_reference(a, b, 4.0))),
                                         rel=1e-5)
    assert grad is not None and np.isfinite(grad)
    labels = np.array([1, 1, 2, 3])
    assert float(loss(labels, {"a": a, "b": b})) == pytest.approx(
        float(np.mean(_reference(a, b, 2.0, labels))), rel=1e-5)


def test_degenerate_batches_are_finite():
    zeros = np.zeros((3, 4), "float32")
    one = np.array([[1.0, 2.0]], "float32")
    for a, b, labels in [(zeros, zeros, None), (one, one, None),
                         (zeros, zeros, np.zeros(3, "int32"))]:
        value, (grad,) = value_and_grad(
            lambda e, b=b, labels=labels: ops.mean(
                clip_loss(e, b, labels=labels)), a)
        assert np.isfinite(value)
        assert grad is not None and np.all(np.isfinite(grad))
    # One pair: its only candidate is itself, loss 0.
    assert float(clip_loss(one, one)[0]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 5, 3)).astype("float32")
    labels = np.array([0, 1, 0, 2, 3])
    assert_computed_in_float32(lambda x, y: clip_loss(x, y, 3.0, labels), a, b,
                               dtype=dtype)
    assert_computed_in_float32(lambda x, y: clip_logits(x, y, 3.0, labels),
                               a, b, dtype=dtype)
    assert_computed_in_float32(lambda x, y: ClipLoss()(None, {"a": x, "b": y}),
                               a, b, dtype=dtype)


def test_bad_arguments():
    with pytest.raises(ValueError, match="Received: temperature=0"):
        ClipLoss(temperature=0)
    with pytest.raises(ValueError, match="Missing: \\['b'\\]"):
        ClipLoss()(None, {"a": np.ones((2, 2), "float32")})
    with pytest.raises(ValueError, match="Received: y_pred.shape"):
        ClipLoss()(None, np.ones((3, 2), "float32"))
    with pytest.raises(ValueError, match="Received: scale=-1"):
        clip_loss(np.ones((2, 2)), np.ones((2, 2)), scale=-1.0)


def test_config_round_trip():
    loss = ClipLoss(temperature=0.2, name="c")
    again = ClipLoss.from_config(loss.get_config())
    assert again.temperature == 0.2 and again.name == "c"
