"""MaskedReconstructionLoss / masked_reconstruction_loss (MAE-style)."""

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import assert_computed_in_float32
from tests.backend_utils import as_dtype
from tests.backend_utils import dtype_of
from tests.backend_utils import to_numpy
from tests.backend_utils import value_and_grad


def _batch(seed=0, b=3, h=4, w=5, c=3, masked=0.4):
    rng = np.random.default_rng(seed)
    target = rng.uniform(size=(b, h, w, c)).astype("float32")
    mask = (rng.uniform(size=(b, h, w, 1)) < masked).astype("float32")
    y_pred = rng.uniform(size=(b, h, w, c)).astype("float32")
    return np.concatenate([target, mask], -1), y_pred


def ref(y_true, y_pred):
    c = y_pred.shape[-1]
    out = []
    for t, p in zip(y_true.astype("float64"), y_pred.astype("float64")):
        m = t[..., c] > 0.5
        n = m.sum() * c
        out.append(((p - t[..., :c]) ** 2)[m].sum() / n if n else 0.0)
    return np.array(out)


def test_hand_computed():
    # one 2 x 2 image, 2 channels; pixels (0, 0) and (1, 1) are masked
    target = np.array([[[0.0, 1.0], [0.5, 0.5]],
                       [[1.0, 1.0], [0.2, 0.4]]], "float32")
    mask = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")[..., None]
    y_pred = np.array([[[1.0, 1.0], [9.0, -9.0]],
                       [[9.0, 9.0], [0.2, 0.0]]], "float32")
    y_true = np.concatenate([target, mask], -1)[None]
    # squared errors on masked pixels: (1-0)^2 + (1-1)^2 + 0^2 + (0-0.4)^2
    expected = (1.0 + 0.0 + 0.0 + 0.16) / (2 * 2)
    got = kzoo.losses.masked_reconstruction_loss(y_true, y_pred[None])
    np.testing.assert_allclose(to_numpy(got), [expected], rtol=1e-6)
    loss = kzoo.losses.MaskedReconstructionLoss()
    assert float(loss(y_true, y_pred[None])) == pytest.approx(expected, rel=1e-6)


def test_matches_numpy_and_weights():
    y_true, y_pred = _batch()
    expected = ref(y_true, y_pred)
    np.testing.assert_allclose(
        to_numpy(kzoo.losses.masked_reconstruction_loss(y_true, y_pred)),
        expected, rtol=1e-5)
    loss = kzoo.losses.MaskedReconstructionLoss()
    assert float(loss(y_true, y_pred)) == pytest.approx(expected.mean(), rel=1e-5)
    w = np.array([1.0, 0.0, 2.0], "float32")
    assert float(loss(y_true, y_pred, sample_weight=w)) == pytest.approx(
        (expected * w).sum() / 3, rel=1e-5)


def _loss_and_grad(y_true, y_pred):
    value, (grad,) = value_and_grad(
        lambda v: kzoo.losses.MaskedReconstructionLoss()(y_true, v), y_pred)
    assert grad is not None
    return float(value), grad


def test_unmasked_pixels_change_neither_loss_nor_gradient():
    y_true, y_pred = _batch(1)
    unmasked = np.broadcast_to(y_true[..., -1:] < 0.5, y_pred.shape)
    loss, grad = _loss_and_grad(y_true, y_pred)
    assert np.all(grad[unmasked] == 0.0)
    assert np.any(grad[~unmasked] != 0.0)
    changed = np.where(unmasked, 1e30, y_pred).astype("float32")
    loss2, grad2 = _loss_and_grad(y_true, changed)
    assert loss2 == loss
    np.testing.assert_array_equal(grad2, grad)


def test_example_without_masked_pixels():
    y_true, y_pred = _batch(2, b=2)
    y_true[0, ..., -1] = 0.0  # nothing masked in example 0
    per_example = to_numpy(
        kzoo.losses.masked_reconstruction_loss(y_true, y_pred))
    assert per_example[0] == 0.0
    assert per_example[1] == pytest.approx(ref(y_true, y_pred)[1], rel=1e-5)
    loss, grad = _loss_and_grad(y_true, y_pred)
    assert np.all(np.isfinite(grad)) and np.all(grad[0] == 0.0)
    y_true[..., -1] = 0.0  # nothing masked at all
    loss, grad = _loss_and_grad(y_true, y_pred)
    assert loss == 0.0 and np.all(grad == 0.0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs(dtype):
    y_true, y_pred = _batch(3)
    got = kzoo.losses.masked_reconstruction_loss(
        as_dtype(y_true, dtype), as_dtype(y_pred, dtype))
    assert dtype_of(got) == "float32"
    np.testing.assert_allclose(to_numpy(got), ref(y_true, y_pred), rtol=2e-2)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_inputs_are_computed_in_float32(dtype):
    y_true, y_pred = _batch(4)
    assert_computed_in_float32(kzoo.losses.masked_reconstruction_loss,
                               y_true, y_pred, dtype=dtype)
    assert_computed_in_float32(kzoo.losses.MaskedReconstructionLoss(),
                               y_true, y_pred, dtype=dtype)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"Received: y_true.shape=\(2, 4, 4, 3\), "
                                         r"y_pred.shape=\(2, 4, 4, 3\)"):
        kzoo.losses.masked_reconstruction_loss(np.ones((2, 4, 4, 3)),
                                               np.ones((2, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"y_true.shape=\(2, 4, 5, 4\)"):
        kzoo.losses.masked_reconstruction_loss(np.ones((2, 4, 5, 4)),
                                               np.ones((2, 4, 4, 3)))


def test_fit_and_save_with_compiled_loss(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(3, 3, padding="same")(x)
    model = keras.Model(inputs, outputs)
    loss = kzoo.losses.MaskedReconstructionLoss()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(16, 8, 8, 3)).astype("float32")
    mask = (rng.uniform(size=(16, 8, 8, 1)) < 0.5).astype("float32")
    y = np.concatenate([images, mask], -1)
    history = model.fit(images * (1 - mask), y, batch_size=8, epochs=3,
                        verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < history[0]
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.loss.get_config() == loss.get_config()
    assert loaded.evaluate(images * (1 - mask), y, verbose=0) == pytest.approx(
        model.evaluate(images * (1 - mask), y, verbose=0), rel=1e-6)
