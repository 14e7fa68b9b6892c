import os
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from tests.backend_utils import dtype_of, to_numpy

COLOURS = np.array([[230, 40, 40], [40, 200, 60], [50, 80, 230]], "float32")


def _rectangles(size=64):
    """Two images with coloured rectangles on grey: colour = class."""
    boxes = np.array([[[6, 8, 30, 36], [38, 34, 60, 58]],
                      [[34, 4, 58, 26], [0, 0, 0, 0]]], "float32")
    classes = np.array([[0, 2], [1, -1]], "int32")
    images = np.full((2, size, size, 3), 120.0, "float32")
    for n in range(2):
        for box, c in zip(boxes[n], classes[n]):
            if c >= 0:
                x1, y1, x2, y2 = box.astype(int)
                images[n, y1:y2, x1:x2] = COLOURS[c]
    return images, boxes, classes


def _detector(layout="cell", size=64, **kwargs):
    backbone = kzoo.models.tiny_darknet((size, size, 3), width=8,
                                        output_stride=16, bn_momentum=0.9)
    anchors = None
    if layout == "anchor":
        anchors = [[0.3, 0.3], [0.4, 0.45]]
    return kzoo.models.YOLODetector(backbone, num_classes=3, num_boxes=2,
                                    anchors=anchors, layout=layout, **kwargs)


def test_tiny_darknet_shapes_and_errors():
    backbone = kzoo.models.tiny_darknet()
    assert backbone.output_shape == (None, 10, 10, 512)
    assert 1.5e6 < backbone.count_params() < 1.7e6
    small = kzoo.models.tiny_darknet((64, 96, 3), width=4, output_stride=16)
    assert small.output_shape == (None, 4, 6, 128)
    assert kzoo.models.tiny_darknet((None, None, 3)).output_shape == (
        None, None, None, 512)
    with pytest.raises(ValueError, match="Received: output_stride=8"):
        kzoo.models.tiny_darknet(output_stride=8)
    with pytest.raises(ValueError, match=r"Received: input_shape=\(300"):
        kzoo.models.tiny_darknet((300, 300, 3))


def test_outputs_encoder_and_inference_contract():
    det = _detector("anchor")
    images, boxes, classes = _rectangles()
    assert tuple(det(images).shape) == (2, 4, 4, 2, 8)
    enc = det.target_encoder()
    assert (enc.grid_size, enc.image_size, enc.anchors) == (4, 64, det.anchors)
    inference = det.inference_model(score_threshold=0.0, max_detections=7)
    out = inference(images)
    assert out["boxes"].shape == (2, 7, 4) and dtype_of(out["boxes"]) == "float32"
    assert dtype_of(out["classes"]) == "int32"
    assert out["scores"].shape == (2, 7)
    assert out["num_detections"].shape == (2,)
    assert inference.num_classes == 3
    assert np.all(to_numpy(out["boxes"]) >= 0)
    assert np.all(to_numpy(out["boxes"]) <= 64)
    numpy_out = det.predict_detections(images, batch_size=1, max_detections=7,
                                       score_threshold=0.0)
    for key in ("boxes", "classes", "scores", "num_detections"):
        assert isinstance(numpy_out[key], np.ndarray)
    np.testing.assert_allclose(numpy_out["scores"], to_numpy(out["scores"]),
                               rtol=1e-5)
    # The inference model shares the detector's weights.
    head = det.head._output_conv
    head.bias.assign(head.bias + 1.0)
    assert not np.allclose(to_numpy(inference(images)["scores"]),
                           to_numpy(out["scores"]))


@pytest.mark.tf_backend  # SavedModel export
def test_inference_model_exports_final_detections(tmp_path):
    det = _detector("anchor", score_threshold=0.0, max_detections=5)
    version_dir = kzoo.export.export_detection_model(
        det.inference_model(), str(tmp_path), "yolo", image_size=64,
        class_names=["r", "g", "b"])
    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    images = np.random.default_rng(0).integers(0, 255, (2, 48, 80, 3))
    out = serve(images=tf.constant(images, tf.uint8))
    assert out["boxes"].shape == (2, 5, 4)
    assert out["num_detections"].numpy().tolist() == [5, 5]
    # Boxes come back in the pixels of the 80 x 48 input images.
    assert float(tf.reduce_max(out["boxes"][..., 2])) <= 80
    assert float(tf.reduce_max(out["boxes"][..., 3])) <= 48


def test_loss_is_the_yolo_loss_plus_regularisation():
    det = _detector("cell", lambda_noobj=0.25)
    images, boxes, classes = _rectangles()
    y = det.target_encoder()(boxes, classes)
    y_pred = det(images)
    loss = float(to_numpy(det.compute_loss(x=images, y=y, y_pred=y_pred)))
    ref = float(to_numpy(kzoo.losses.YOLOLoss(2, 3, lambda_noobj=0.25)(y, y_pred)))
    assert loss == pytest.approx(ref, rel=1e-5)
    reg = kzoo.models.YOLODetector(
        keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Conv2D(
            4, 16, strides=16,
            kernel_regularizer=keras.regularizers.L2(1.0))]),
        num_classes=3)
    y_pred = reg(images)
    pure = float(to_numpy(kzoo.losses.YOLOLoss(2, 3)(y, y_pred)))
    assert float(to_numpy(reg.compute_loss(x=images, y=y, y_pred=y_pred))) > pure + 1e-3


def _fit(det, steps, lr=3e-3, compile_loss=None):
    images, boxes, classes = _rectangles()
    y = det.target_encoder()(boxes, classes)
    ds = tf.data.Dataset.from_tensors((images, y)).repeat(steps)
    det.compile(optimizer=keras.optimizers.Adam(lr), loss=compile_loss)
    return det.fit(ds, epochs=1, verbose=0), images, boxes, classes


@pytest.mark.parametrize("layout,options", [
    ("cell", {}),  # YOLOv1's loss
    ("anchor", dict(box_loss="ciou", objectness_loss="bce",
                    class_loss="crossentropy")),
])
def test_overfits_two_images_and_detects_the_rectangles(layout, options):
    # head, targets, loss and decode agree: after 160 steps of training
    # on two synthetic images, the final detections hit every rectangle.
    keras.utils.set_random_seed(0)
    det = _detector(layout, score_threshold=0.3, **options)
    history, images, boxes, classes = _fit(det, steps=160)
    logs = history.history
    assert {"coord_loss", "objectness_loss", "no_object_loss",
            "class_loss"} <= set(logs)
    out = det.predict_detections(images)
    for n in range(2):
        k = int(out["num_detections"][n])
        found = out["boxes"][n, :k]
        for box, c in zip(boxes[n], classes[n]):
            if c < 0:
                continue
            ious = to_numpy(kzoo.boxes.compute_iou(box[None], found))[0]
            hits = (ious > 0.5) & (out["classes"][n, :k] == c)
            assert hits.any(), (layout, n, box, found, out["classes"][n, :k])
        # No confident false positive.
        assert k <= 3


def test_compiled_loss_replaces_its_own_and_saves_as_keras_file(tmp_path):
    keras.utils.set_random_seed(2)
    det = _detector("anchor", box_loss="ciou", iou_threshold=0.4,
                    hidden_channels=4)
    history, images, *_ = _fit(
        det, steps=2, compile_loss=kzoo.losses.YOLOLoss(
            2, 3, anchors=det.anchors, box_loss="giou"))
    assert "coord_loss" not in history.history
    assert np.isfinite(history.history["loss"][0])
    path = str(tmp_path / "yolo.keras")
    det.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(images, verbose=0),
                               det.predict(images, verbose=0), rtol=1e-4,
                               atol=1e-5)
    assert loaded.get_config()["box_loss"] == "ciou"
    assert loaded.anchors == det.anchors and loaded.iou_threshold == 0.4
    assert loaded.loss.box_loss == "giou"  # the compiled loss
    a = loaded.predict_detections(images, score_threshold=0.0)
    b = det.predict_detections(images, score_threshold=0.0)
    np.testing.assert_allclose(a["scores"], b["scores"], rtol=1e-4, atol=1e-6)


def test_validation_messages():
    with pytest.raises(TypeError, match="Received: backbone=function"):
        kzoo.models.YOLODetector(kzoo.models.tiny_darknet, num_classes=3)
    with pytest.raises(ValueError, match="Received: score_threshold"):
        _detector(score_threshold=float("nan"))
    det = kzoo.models.YOLODetector(
        kzoo.models.tiny_darknet((None, None, 3), width=4), num_classes=3)
    with pytest.raises(ValueError, match="static square input"):
        det.inference_model()


@pytest.mark.slow
def test_train_step_throughput_at_320():
    """Images per second of a train step, 320 x 320, batch 8 (report)."""
    det = kzoo.models.YOLODetector(
        kzoo.models.tiny_darknet((320, 320, 3)), num_classes=3, num_boxes=5,
        anchors=[[0.06, 0.06], [0.15, 0.13], [0.15, 0.16], [0.19, 0.17],
                 [0.33, 0.3]])
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (8, 320, 320, 3)).astype("float32")
    xy = rng.uniform(0, 250, (8, 20, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(15, 70, (8, 20, 2))], -1)
    y = det.target_encoder()(boxes.astype("float32"),
                             rng.integers(0, 3, (8, 20)))
    det.compile(optimizer="adam")
    ds = tf.data.Dataset.from_tensors((images, y)).repeat()
    det.fit(ds, steps_per_epoch=3, epochs=1, verbose=0)  # trace + warm-up
    steps = int(os.environ.get("KZOO_BENCH_STEPS", 10))
    start = time.time()
    det.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    rate = steps * 8 / (time.time() - start)
    print(f"\nYOLODetector train step, 320x320, batch 8: {rate:.1f} images/s")
    assert rate > 0
