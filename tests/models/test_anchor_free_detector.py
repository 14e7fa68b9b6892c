"""kzoo.models.AnchorFreeDetector: a tiny multi-scale detector learns to
find squares (boxes and classes) and round-trips through .keras."""

import keras
import numpy as np
import pytest

import kzoo


def _squares():
    x = np.zeros((4, 64, 64, 3), "float32")
    boxes = np.zeros((4, 2, 4), "float32")
    classes = -np.ones((4, 2), "int32")  # padding rows: class -1
    for i in range(4):
        x0, y0 = 8 + 4 * i, 10
        x[i, y0:y0 + 24, x0:x0 + 24] = 255.0
        boxes[i, 0] = [x0, y0, x0 + 24, y0 + 24]
        classes[i, 0] = i % 2
    return x, boxes, classes


def _detector():
    keras.utils.set_random_seed(0)
    # a low batch-norm momentum: inference reads the moving statistics
    # after only ~100 steps
    backbone = kzoo.models.tiny_darknet((64, 64, 3), width=8,
                                        bn_momentum=0.5)
    maps = kzoo.models.multiscale_backbone(
        backbone, ["pool2", "pool3", backbone.layers[-1].name])
    return kzoo.models.AnchorFreeDetector(
        maps, num_classes=2, reg_max=8, head_channels=16, top_k=5,
        score_threshold=0.2)


def test_packed_targets():
    _, boxes, classes = _squares()
    packed = np.asarray(keras.ops.convert_to_numpy(
        kzoo.models.pack_detection_targets(boxes, classes)))
    assert packed.shape == (4, 2, 6)
    np.testing.assert_array_equal(packed[:, 0, 5], 1)
    np.testing.assert_array_equal(packed[:, 1, 5], 0)
    np.testing.assert_array_equal(packed[:, 0, 4], [0, 1, 0, 1])


def test_learns_the_squares_and_round_trips(tmp_path):
    x, boxes, classes = _squares()
    det = _detector()
    assert det.strides == [8, 16, 32]
    assert det.feature_sizes == [(8, 8), (4, 4), (2, 2)]
    assert det(x[:1]).shape == (1, 64 + 16 + 4, 4 * 8 + 2)
    y = keras.ops.convert_to_numpy(
        kzoo.models.pack_detection_targets(boxes, classes))
    det.compile(optimizer=keras.optimizers.Adam(3e-3))
    losses = det.fit(x, y, epochs=120, batch_size=4, verbose=0).history[
        "loss"]
    assert losses[-1] < 0.2 * losses[0]
    d = det.predict_detections(x)
    assert d["num_detections"].tolist() == [1, 1, 1, 1]
    np.testing.assert_array_equal(d["classes"][:, 0], [0, 1, 0, 1])
    ious = [float(keras.ops.convert_to_numpy(kzoo.boxes.compute_iou(
        d["boxes"][i, :1], boxes[i, :1])[0, 0])) for i in range(4)]
    assert min(ious) > 0.8, ious
    det.save(tmp_path / "det.keras")
    again = keras.saving.load_model(tmp_path / "det.keras")
    np.testing.assert_allclose(again.predict_detections(x)["boxes"],
                               d["boxes"], atol=1e-3)


def test_needs_a_static_square_input():
    backbone = kzoo.models.tiny_darknet((None, None, 3), width=4)
    with pytest.raises(ValueError, match="static square"):
        kzoo.models.AnchorFreeDetector(kzoo.models.multiscale_backbone(
            backbone, ["pool2", backbone.layers[-1].name]))
