"""LandmarkHead: K (x, y) points normalised to the input, plus a presence
logit; soft-argmax and dense-regression methods."""

import os

import keras
import numpy as np
import pytest

import kzoo
from kzoo.layers.landmark_head import soft_argmax
from tests.backend_utils import dtype_of, to_numpy


def test_soft_argmax_of_a_peak_is_that_cell_centre():
    h, w = 4, 6
    hm = np.full((2, h, w, 3), -1e4, "float32")
    hm[0, 1, 2, 0] = 0.0   # row 1, column 2
    hm[0, 3, 5, 1] = 0.0   # last cell
    hm[0, 0, 0, 2] = 0.0   # first cell
    hm[1] = 0.0            # uniform: the centre of the map
    pts = to_numpy(soft_argmax(hm))
    np.testing.assert_allclose(pts[0], [[2.5 / w, 1.5 / h],
                                        [5.5 / w, 3.5 / h],
                                        [0.5 / w, 0.5 / h]], atol=1e-6)
    np.testing.assert_allclose(pts[1], 0.5, atol=1e-6)


def test_soft_argmax_interpolates_between_cells():
    hm = np.full((1, 1, 4, 1), -1e4, "float32")
    hm[0, 0, 1, 0] = hm[0, 0, 2, 0] = 0.0  # two equal cells: midway
    np.testing.assert_allclose(to_numpy(soft_argmax(hm))[0, 0],
                               [2.0 / 4, 0.5], atol=1e-6)


def test_soft_argmax_cell_centres_are_input_pixel_centres_of_a_stride_map():
    """With a stride-8 'same' feature map of a 32 px input, a peak in cell
    (i, j) stands for the input region [8j, 8j + 8): centre (8j + 4) / 32."""
    hm = np.full((1, 4, 4, 1), -1e4, "float32")
    hm[0, 2, 1, 0] = 0.0
    x, y = to_numpy(soft_argmax(hm))[0, 0] * 32
    assert (x, y) == pytest.approx((8 * 1 + 4, 8 * 2 + 4))


@pytest.mark.parametrize("method", ["soft_argmax", "regression"])
def test_output_shapes_and_dtypes(method):
    head = kzoo.layers.LandmarkHead(5, method=method)
    out = head(np.random.rand(3, 6, 6, 8).astype("float32"))
    assert set(out) == {"landmarks", "presence"}
    assert out["landmarks"].shape == (3, 5, 2)
    assert out["presence"].shape == (3, 1)
    assert head.compute_output_shape((3, 6, 6, 8)) == {
        "landmarks": (3, 5, 2), "presence": (3, 1)}


def test_soft_argmax_points_lie_inside_the_input():
    head = kzoo.layers.LandmarkHead(68)
    out = head(np.random.default_rng(0).normal(0, 50, (4, 12, 12, 16))
               .astype("float32"))
    pts = to_numpy(out["landmarks"])
    assert np.all(pts >= 0.5 / 12 - 1e-6) and np.all(pts <= 1 - 0.5 / 12 + 1e-6)


def test_regression_head_starts_at_the_initial_landmarks():
    init = np.random.default_rng(1).uniform(0.2, 0.8, (68, 2))
    head = kzoo.layers.LandmarkHead(68, method="regression",
                                    initial_landmarks=init)
    out = head(np.random.default_rng(2).uniform(0, 1, (2, 3, 3, 8))
               .astype("float32"))
    np.testing.assert_allclose(to_numpy(out["landmarks"])[0], init, atol=1e-6)
    default = kzoo.layers.LandmarkHead(4, method="regression", pooling="avg")
    out = default(np.ones((1, 16), "float32"))  # vector features
    np.testing.assert_allclose(to_numpy(out["landmarks"]), 0.5, atol=1e-6)


def test_regression_hidden_layers_and_dropout():
    head = kzoo.layers.LandmarkHead(3, method="regression", hidden_dims=[7],
                                    dropout=0.5)
    x = np.ones((2, 2, 2, 4), "float32")
    head(x)
    assert any("hidden_0" in w.path for w in head.weights)
    # dropout only in training
    np.testing.assert_allclose(to_numpy(head(x)["landmarks"]),
                               to_numpy(head(x)["landmarks"]))


def test_outputs_are_float32_under_mixed_precision():
    head = kzoo.layers.LandmarkHead(4, dtype="mixed_float16")
    out = head(np.ones((1, 4, 4, 8), "float16"))
    for key in ("landmarks", "presence"):
        assert dtype_of(out[key]) == "float32"


def test_model_saves_and_loads(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, strides=4, padding="same")(inputs)
    model = keras.Model(inputs, kzoo.layers.LandmarkHead(
        6, dropout=0.1, name="head")(x))
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    for key in ("landmarks", "presence"):
        np.testing.assert_allclose(to_numpy(loaded(x)[key]),
                                   to_numpy(model(x)[key]), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_landmarks=0), "num_landmarks=0"),
    (dict(method="heatmap"), "method='heatmap'"),
    (dict(pooling="max"), "pooling='max'"),
    (dict(hidden_dims=[0]), r"hidden_dims=\[0\]"),
    (dict(dropout=1.0), "dropout=1.0"),
    (dict(num_landmarks=3, initial_landmarks=np.zeros((4, 2))),
     r"initial_landmarks.shape=\(4, 2\)"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"Received: {match}"):
        kzoo.layers.LandmarkHead(**kwargs)


def test_bad_input_shapes():
    with pytest.raises(ValueError, match="needs a `\\[B, h, w, C\\]`"):
        kzoo.layers.LandmarkHead(3)(np.zeros((2, 8), "float32"))
    with pytest.raises(ValueError, match="input_shape"):
        kzoo.layers.LandmarkHead(3)(np.zeros((2, 4, 4, 4, 1), "float32"))


@pytest.mark.tf_backend  # SavedModel export
def test_exported_model_returns_points_in_input_pixels(tmp_path):
    """kzoo.export.export_landmark_model: a head predicting fixed normalised
    points serves them mapped back through the letterbox of each input."""
    import tensorflow as tf

    init = [[0.5, 0.5], [0.25, 0.5], [0.75, 0.25]]
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(2, 3, strides=8, padding="same")(inputs)
    model = keras.Model(inputs, kzoo.layers.LandmarkHead(
        3, method="regression", initial_landmarks=init)(x))
    version_dir = kzoo.export.export_landmark_model(
        model, str(tmp_path), "faces", image_size=32)
    assert version_dir == os.path.join(str(tmp_path), "faces", "1")
    assert os.path.isfile(os.path.join(str(tmp_path), "models.config"))
    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    # 40 x 80 image: scale 0.4, content 16 rows high at y offset 8
    out = serve(images=tf.zeros((2, 40, 80, 3), tf.uint8))
    np.testing.assert_allclose(out["landmarks"][0],
                               [[40.0, 20.0], [20.0, 20.0], [60.0, 0.0]],
                               atol=1e-4)
    np.testing.assert_allclose(out["presence"], [0.5, 0.5], atol=1e-6)
    # a tall 64 x 16 image: scale 0.5, x offset 12
    out = serve(images=tf.zeros((1, 64, 16, 3), tf.uint8))
    np.testing.assert_allclose(out["landmarks"][0],
                               [[8.0, 32.0], [-8.0, 32.0], [24.0, 16.0]],
                               atol=1e-4)
    with pytest.raises(ValueError, match="image_size=0"):
        kzoo.export.export_landmark_model(model, str(tmp_path), "faces",
                                          image_size=0)
