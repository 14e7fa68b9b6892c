import keras
import numpy as np
import pytest

import kzoo
from tests.backend_utils import compiled, to_numpy


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def perfect_logits(y_true, num_classes, anchors=None, big=12.0):
    """Raw head outputs whose decoding is exactly `y_true` (the inverse of
    the parameterisation in kzoo.layers.yolo_head)."""
    n, s, _, b, _ = y_true.shape
    col = np.arange(s)[None, None, :, None]
    row = np.arange(s)[None, :, None, None]
    obj = y_true[..., 4] > 0
    t = np.zeros((n, s, s, b, 5 + num_classes))
    t[..., 0] = np.where(obj, big, -big)
    t[..., 1] = _logit(y_true[..., 0] * s - col)
    t[..., 2] = _logit(y_true[..., 1] * s - row)
    wh = np.maximum(y_true[..., 2:4], 1e-6)
    if anchors is None:
        t[..., 3:5] = _logit(np.sqrt(wh))
    else:
        t[..., 3:5] = np.log(wh / np.asarray(anchors))
    onehot = np.eye(num_classes)[y_true[..., 5].astype(int)]
    t[..., 5:] = np.where(obj[..., None], big * (2 * onehot - 1), 0.0)
    if anchors is not None:
        return t.astype("float32")
    cell = t[..., :5].reshape(n, s, s, 5 * b)
    return np.concatenate([cell, t[..., 0, 5:]], -1).astype("float32")


def test_hand_example_cell_layout():
    # S = 2, B = 2, C = 2, 100 px image. Box 1 of cell (row 1, col 0).
    raw = np.zeros((1, 2, 2, 12), "float32")
    raw[0, 1, 0, 5:10] = [np.log(3.0), 0.0, 0.0, 0.0, 0.0]  # p = 0.75
    raw[0, 1, 0, 10:] = [np.log(3.0), 0.0]                 # P = (.75, .25)
    out = kzoo.layers.YOLODecode(2, 2, image_size=100)(raw)
    assert out["boxes"].shape == (1, 8, 4) and out["scores"].shape == (1, 8, 2)
    k = (1 * 2 + 0) * 2 + 1  # ((row * S) + col) * B + j
    # centre (0 + 0.5) / 2, (1 + 0.5) / 2; w = h = 0.5 ** 2.
    np.testing.assert_allclose(out["boxes"][0, k], [12.5, 62.5, 37.5, 87.5],
                               rtol=1e-6)
    np.testing.assert_allclose(out["scores"][0, k], [0.5625, 0.1875],
                               rtol=1e-6)
    # Box 0 of the same cell: p = 0.5, same class probabilities.
    np.testing.assert_allclose(out["scores"][0, k - 1], [0.375, 0.125],
                               rtol=1e-6)
    top = kzoo.layers.YOLODecode(2, 2, image_size=100,
                                 confidence="top_class_x_objectness")(raw)
    np.testing.assert_allclose(top["scores"][0, k], [0.5625, 0.0], rtol=1e-6)
    rel = kzoo.layers.YOLODecode(2, 2)(raw)
    np.testing.assert_allclose(rel["boxes"] * 100, out["boxes"], rtol=1e-6)


def test_anchor_layout_and_clipping():
    anchors = [[0.2, 0.4], [0.9, 0.9]]
    raw = np.zeros((1, 1, 1, 2, 6), "float32")
    raw[0, 0, 0, 1, 3:5] = np.log(2.0)  # 1.8 x 1.8 images: clipped
    raw[0, 0, 0, 0, 5] = 2.0
    out = kzoo.layers.YOLODecode(2, 1, anchors=anchors, image_size=10)(raw)
    np.testing.assert_allclose(out["boxes"][0, 0], [4, 3, 6, 7], rtol=1e-6)
    np.testing.assert_allclose(out["boxes"][0, 1], [0, 0, 10, 10])
    unclipped = kzoo.layers.YOLODecode(2, 1, anchors=anchors, image_size=10,
                                       clip_boxes=False)(raw)
    np.testing.assert_allclose(unclipped["boxes"][0, 1], [-4, -4, 14, 14],
                               rtol=1e-5)
    np.testing.assert_allclose(out["scores"][0, :, 0], 0.5)  # one class


@pytest.mark.parametrize("anchors", [None, [[0.1, 0.1], [0.25, 0.2],
                                            [0.4, 0.5]]])
def test_encoder_decode_nms_round_trip(anchors):
    # Non-overlapping objects of distinct classes: the perfect logits of
    # their targets decode (then survive NMS) to the original boxes.
    size, s = 96, 4
    b = 2 if anchors is None else 3
    boxes = np.array([[[4, 6, 20, 30], [40, 40, 80, 60], [70, 2, 90, 20],
                       [0, 0, 0, 0]]], "float32")
    classes = np.array([[0, 2, 1, -1]])
    enc = kzoo.data.YOLOTargetEncoder(s, b, 3, size, anchors=anchors)
    y_true = np.asarray(enc(boxes, classes))
    raw = perfect_logits(y_true, 3, anchors)
    candidates = kzoo.layers.YOLODecode(b, 3, anchors=anchors,
                                        image_size=size)(raw)
    out = kzoo.layers.NonMaxSuppression(score_threshold=0.5)(
        candidates["boxes"], candidates["scores"])
    n = int(out["num_detections"][0])
    assert n == 3
    got = sorted(zip(np.asarray(out["classes"][0, :n]).tolist(),
                     np.asarray(out["boxes"][0, :n]).tolist()))
    want = sorted(zip(classes[0, :3].tolist(), boxes[0, :3].tolist()))
    for (gc, gb), (wc, wb) in zip(got, want):
        assert gc == wc
        np.testing.assert_allclose(gb, wb, atol=1e-3)


def test_in_a_functional_model_saved_and_compiled(tmp_path):
    inputs = keras.Input((3, 3, 13))
    out = kzoo.layers.YOLODecode(2, 3, image_size=48)(inputs)
    assert tuple(out["boxes"].shape) == (None, 18, 4)
    model = keras.Model(inputs, out)
    raw = np.random.default_rng(0).normal(size=(2, 3, 3, 13)).astype("float32")
    path = str(tmp_path / "decode.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for key in ("boxes", "scores"):
        np.testing.assert_allclose(to_numpy(loaded(raw)[key]),
                                   to_numpy(model(raw)[key]), rtol=1e-6)
    # tf.function, jax.jit, or a whole torch.compile graph.
    graph = compiled(lambda x: model(x))(raw)
    np.testing.assert_allclose(to_numpy(graph["boxes"]),
                               to_numpy(model(raw)["boxes"]), rtol=1e-6)


def test_validation_messages():
    with pytest.raises(ValueError, match="Received: confidence='iou'"):
        kzoo.layers.YOLODecode(confidence="iou")
    with pytest.raises(ValueError, match="Received: image_size=0"):
        kzoo.layers.YOLODecode(image_size=0)
    with pytest.raises(ValueError, match="Received: anchors="):
        kzoo.layers.YOLODecode(2, 3, anchors=[[0.1, 0.1], [0.2, -1]])
