import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from tests.backend_utils import dtype_of, to_numpy


def _inputs(seed, batch=2, n=30, num_classes=3):
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 10, (batch, n, 2))
    wh = rng.integers(1, 8, (batch, n, 2))
    boxes = np.concatenate([xy, xy + wh], -1).astype("float32")
    scores = (np.round(rng.random((batch, n, num_classes)) * 10) / 10)
    return boxes, scores.astype("float32"), rng.integers(-1, 3, (batch, n))


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        assert dtype_of(a[key]) == dtype_of(b[key]), key
        np.testing.assert_array_equal(to_numpy(a[key]), to_numpy(b[key]),
                                      err_msg=key)


def test_layer_is_batched_non_max_suppression_in_every_mode():
    boxes, scores, classes = _inputs(0)
    kwargs = dict(iou_threshold=0.4, score_threshold=0.3, max_detections=9,
                  max_detections_per_class=4)
    layer = kzoo.layers.NonMaxSuppression(**kwargs)
    for args in ((boxes, scores), (boxes, scores[..., 0], classes),
                 (boxes, scores[..., 0])):
        out = layer(*args)
        _assert_same(out, kzoo.boxes.batched_non_max_suppression(*args,
                                                                 **kwargs))
        assert out["boxes"].shape == (2, 9, 4)
        assert int(out["num_detections"][0]) > 0


def test_layer_hand_example_and_format():
    boxes = np.array([[[0, 0, 10, 10], [1, 0, 11, 10]]], "float32")
    scores = np.array([[[0.9, 0.1], [0.8, 0.7]]], "float32")
    out = kzoo.layers.NonMaxSuppression(max_detections=3)(boxes, scores)
    # Class 0: box 1 (0.8) overlaps box 0 by 90/110 > 0.5; class 1: box 1.
    assert keras.ops.convert_to_numpy(out["classes"]).tolist() == [[0, 1, -1]]
    np.testing.assert_allclose(to_numpy(out["scores"]), [[0.9, 0.7, 0.0]])
    np.testing.assert_array_equal(to_numpy(out["boxes"])[0, :2], boxes[0])
    cxcy = kzoo.boxes.convert_format(boxes, "xyxy", "center_xywh")
    out = kzoo.layers.NonMaxSuppression(max_detections=3,
                                        box_format="center_xywh")(cxcy, scores)
    np.testing.assert_array_equal(to_numpy(out["boxes"])[0, :2],
                                  to_numpy(cxcy)[0])


def test_layer_validates_arguments():
    with pytest.raises(ValueError, match="Received: iou_threshold=-0.1"):
        kzoo.layers.NonMaxSuppression(iou_threshold=-0.1)
    with pytest.raises(ValueError, match="Received: box_format='cxcy'"):
        kzoo.layers.NonMaxSuppression(box_format="cxcy")
    with pytest.raises(ValueError, match="Received: max_detections=2.0"):
        kzoo.layers.NonMaxSuppression(max_detections=2.0)


def test_layer_float32_under_mixed_precision():
    boxes, scores, _ = _inputs(1)
    boxes = boxes * 37.123  # not representable in float16
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = kzoo.layers.NonMaxSuppression(score_threshold=0.2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    out = layer(boxes, scores)
    _assert_same(out, kzoo.boxes.batched_non_max_suppression(
        boxes, scores, score_threshold=0.2))


def _tiny_detector(num_classes=3):
    """Functional model: features -> (boxes, scores) -> NonMaxSuppression."""
    inputs = keras.Input((20, 6))
    boxes = keras.layers.Dense(4, name="boxes")(inputs)
    scores = keras.layers.Dense(num_classes, activation="sigmoid",
                                name="scores")(inputs)
    outputs = kzoo.layers.NonMaxSuppression(
        iou_threshold=0.3, score_threshold=0.5, max_detections=7)(boxes, scores)
    return keras.Model(inputs, outputs)


def test_functional_model_equals_the_function_and_saves(tmp_path):
    model = _tiny_detector()
    spec = model.output
    assert tuple(spec["boxes"].shape) == (None, 7, 4)
    assert tuple(spec["num_detections"].shape) == (None,)
    features = np.random.default_rng(2).normal(size=(3, 20, 6)) \
        .astype("float32")
    eager = model(features)
    assert int(np.sum(to_numpy(eager["num_detections"]))) > 0
    # Same as the function on the model's own boxes and scores.
    head = keras.Model(model.input, [model.get_layer("boxes").output,
                                     model.get_layer("scores").output])
    b, s = head(features)
    _assert_same(eager, kzoo.boxes.batched_non_max_suppression(
        b, s, iou_threshold=0.3, score_threshold=0.5, max_detections=7))
    _assert_same(model(features[1:]), kzoo.boxes.batched_non_max_suppression(
        *head(features[1:]), iou_threshold=0.3, score_threshold=0.5,
        max_detections=7))
    # A .keras file round trip.
    path = str(tmp_path / "detector.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    _assert_same(loaded(features), eager)
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()


@pytest.mark.tf_backend  # SavedModel export
def test_functional_model_tf_function_and_saved_model(tmp_path):
    model = _tiny_detector()
    features = np.random.default_rng(2).normal(size=(3, 20, 6)) \
        .astype("float32")
    eager = model(features)
    assert int(np.sum(eager["num_detections"])) > 0

    shapes = []

    @tf.function(input_signature=[tf.TensorSpec([None, 20, 6])])
    def serve(x):
        out = model(x)
        shapes.append({k: v.shape.as_list() for k, v in out.items()})
        return out

    _assert_same(serve(features), eager)
    _assert_same(serve(features[:1]), model(features[:1]))
    assert shapes == [{"boxes": [None, 7, 4], "classes": [None, 7],
                       "scores": [None, 7], "num_detections": [None]}]

    path = str(tmp_path / "detector")
    model.export(path, verbose=False)
    reloaded = tf.saved_model.load(path)
    _assert_same(reloaded.serve(features), eager)
    _assert_same(reloaded.serve(features[1:]), model(features[1:]))
