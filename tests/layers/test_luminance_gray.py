"""LuminanceGray: the grey input of ColorizationPretext, inside a model."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kzoo.data import ColorizationPretext, rgb_to_lab
from kzoo.layers import LuminanceGray


def test_matches_the_colorization_pretext_input():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 8, 8, 3)).astype("uint8")
    images[0, 0, 0] = (0, 0, 0)         # the dark (linear) branch
    images[0, 0, 1] = (255, 255, 255)
    images[0, 0, 2] = (3, 1, 2)
    expected, _ = ColorizationPretext()(images)
    got = keras.ops.convert_to_numpy(LuminanceGray()(images))
    np.testing.assert_allclose(got, expected.numpy(), atol=2e-3)


def test_keeps_lightness_and_drops_colour():
    images = np.array([[[[255, 0, 0], [0, 128, 255], [90, 90, 90]]]],
                      "float32")
    gray = keras.ops.convert_to_numpy(LuminanceGray()(images))
    assert np.all(gray[..., 0] == gray[..., 1])
    assert np.all(gray[..., 1] == gray[..., 2])
    lab_in = rgb_to_lab(images / 255.0).numpy()
    lab_out = rgb_to_lab(gray / 255.0).numpy()
    np.testing.assert_allclose(lab_out[..., 0], lab_in[..., 0], atol=1e-3)
    # 0 up to the rounding of the standard constants (a grey gives ~0.003).
    np.testing.assert_allclose(lab_out[..., 1:], 0.0, atol=0.01)
    # A neutral grey is its own grey.
    np.testing.assert_allclose(gray[0, 0, 2], [90, 90, 90], atol=1e-3)


def test_in_a_saved_model_roundtrip(tmp_path):
    model = keras.Sequential([keras.Input((4, 4, 3)), LuminanceGray(),
                              keras.layers.GlobalAveragePooling2D()])
    x = np.random.default_rng(1).uniform(0, 255, (2, 4, 4, 3))
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-5)


def test_rejects_non_rgb():
    with pytest.raises(ValueError, match="Received: input_shape"):
        LuminanceGray()(tf.zeros((1, 4, 4, 1)))
