import math

import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import dtype_of, to_numpy


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_output_shapes_and_float32():
    x = np.zeros((2, 7, 7, 16), "float32")
    head = kzoo.layers.YOLOHead(num_boxes=2, num_classes=20)
    assert tuple(head(x).shape) == (2, 7, 7, 30)  # YOLOv1's 7 x 7 x 30
    head = kzoo.layers.YOLOHead(5, 3, layout="anchor", hidden_channels=8)
    y = head(np.zeros((2, 10, 10, 16), "float32"))
    assert tuple(y.shape) == (2, 10, 10, 5, 8)
    half = kzoo.layers.YOLOHead(2, 3, dtype="mixed_float16")
    assert dtype_of(half(x)) == "float32"
    inputs = keras.Input((7, 7, 16))
    assert tuple(kzoo.layers.YOLOHead(2, 3)(inputs).shape) == (None, 7, 7, 13)


def test_objectness_prior_sets_the_objectness_biases_only():
    for layout, channels in (("cell", [0, 5]), ("anchor", [0, 8])):
        head = kzoo.layers.YOLOHead(2, 3, layout=layout, objectness_prior=0.2)
        out = to_numpy(head(np.zeros((1, 3, 3, 4), "float32")))
        flat = out.reshape(1, 3, 3, -1)
        np.testing.assert_allclose(flat[..., channels], math.log(0.25),
                                   rtol=1e-6)
        others = np.delete(flat, channels, axis=-1)
        np.testing.assert_array_equal(others, 0.0)
    head = kzoo.layers.YOLOHead(2, 3, objectness_prior=None)
    np.testing.assert_array_equal(
        to_numpy(head(np.zeros((1, 3, 3, 4), "float32"))), 0)
    # N(0, 0.01) kernel: an untrained head predicts its anchors (t ~ 0).
    features = np.random.default_rng(0).normal(size=(1, 3, 3, 64))
    head = kzoo.layers.YOLOHead(2, 3, objectness_prior=None)
    assert np.abs(to_numpy(head(features.astype("float32")))).max() < 0.5


def test_decode_cell_layout_matches_the_formulas():
    rng = np.random.default_rng(0)
    s, b, c = 3, 2, 4
    raw = rng.normal(size=(2, s, s, 5 * b + c)).astype("float32")
    out = to_numpy(kzoo.layers.decode_yolo_outputs(raw, b, c))
    for n in range(2):
        for row in range(s):
            for col in range(s):
                t = raw[n, row, col]
                e = np.exp(t[5 * b:] - t[5 * b:].max())
                np.testing.assert_allclose(
                    out["class_probs"][n, row, col, 0], e / e.sum(), rtol=1e-5)
                for j in range(b):
                    to, tx, ty, tw, th = t[5 * j:5 * j + 5]
                    box = [(col + _sigmoid(tx)) / s, (row + _sigmoid(ty)) / s,
                           _sigmoid(tw) ** 2, _sigmoid(th) ** 2]
                    np.testing.assert_allclose(out["boxes"][n, row, col, j],
                                               box, rtol=1e-5)
                    np.testing.assert_allclose(
                        out["sqrt_wh"][n, row, col, j],
                        [_sigmoid(tw), _sigmoid(th)], rtol=1e-5)
                    np.testing.assert_allclose(
                        out["objectness"][n, row, col, j], _sigmoid(to),
                        rtol=1e-5)
    assert out["class_probs"].shape == (2, s, s, 1, c)


def test_decode_anchor_layout_matches_the_formulas_and_stays_finite():
    rng = np.random.default_rng(1)
    anchors = np.array([[0.1, 0.2], [0.4, 0.3]])
    raw = rng.normal(size=(1, 2, 3, 2, 7)).astype("float32")  # 2 rows, 3 cols
    raw[0, 0, 0, 1, 3] = 1e4  # exp() would overflow without clipping
    out = to_numpy(kzoo.layers.decode_yolo_outputs(raw, 2, 2, anchors=anchors))
    assert np.all(np.isfinite(out["boxes"]))
    row, col, j = 1, 2, 0
    t = raw[0, row, col, j]
    np.testing.assert_allclose(
        out["boxes"][0, row, col, j],
        [(col + _sigmoid(t[1])) / 3, (row + _sigmoid(t[2])) / 2,
         0.1 * np.exp(t[3]), 0.2 * np.exp(t[4])], rtol=1e-5)
    np.testing.assert_allclose(out["sqrt_wh"] ** 2, out["boxes"][..., 2:],
                               rtol=1e-5)
    assert out["boxes"][0, 0, 0, 1, 2] == pytest.approx(
        0.4 * math.exp(6.0), rel=1e-5)  # clipped at MAX_LOG_SCALE
    np.testing.assert_allclose(out["class_probs"].sum(-1), 1.0, rtol=1e-5)


def test_validation_messages():
    with pytest.raises(ValueError, match="Received: layout='grid'"):
        kzoo.layers.YOLOHead(layout="grid")
    with pytest.raises(ValueError, match="Received: num_boxes=0"):
        kzoo.layers.YOLOHead(num_boxes=0)
    with pytest.raises(ValueError, match="objectness_prior=1.0"):
        kzoo.layers.YOLOHead(objectness_prior=1.0)
    with pytest.raises(ValueError, match="Received: anchors=None"):
        kzoo.layers.decode_yolo_outputs(np.zeros((1, 2, 2, 2, 8)), 2, 3,
                                        layout="anchor")
    with pytest.raises(ValueError, match="Received: anchors="):
        kzoo.layers.decode_yolo_outputs(np.zeros((1, 2, 2, 2, 8)), 2, 3,
                                        anchors=[[0.1, 0.1]])
    with pytest.raises(ValueError, match="Received: outputs.shape"):
        kzoo.layers.decode_yolo_outputs(np.zeros((1, 2, 2, 12)), 2, 3)


def test_saves_in_a_model(tmp_path):
    inputs = keras.Input((4, 4, 3))
    outputs = kzoo.layers.YOLOHead(3, 2, layout="anchor", hidden_channels=4,
                                   objectness_prior=0.1)(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 3)).astype("float32")
    path = str(tmp_path / "head.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)),
                               rtol=1e-5, atol=1e-6)
