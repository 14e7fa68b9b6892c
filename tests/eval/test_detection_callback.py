import csv
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from kzoo.eval import DetectionMAPCallback  # noqa: E402

NUM_IMAGES = 4
MAX_BOXES = 3
MAX_DETECTIONS = 5
# One 30 x 20 box of class 0 per image, plus one class-1 box on image 0.
BOX = np.array([4.0, 4.0, 34.0, 24.0])


def contract_b_arrays():
    """Contract-B arrays; pixel [0, 0, 0] of image i holds i (its id)."""
    images = np.zeros((NUM_IMAGES, 8, 8, 3), np.float32)
    images[:, 0, 0, 0] = np.arange(NUM_IMAGES)
    boxes = np.zeros((NUM_IMAGES, MAX_BOXES, 4), np.float32)
    classes = np.full((NUM_IMAGES, MAX_BOXES), -1, np.int32)
    boxes[:, 0] = BOX
    classes[:, 0] = 0
    boxes[0, 1] = [40, 40, 60, 60]
    classes[0, 1] = 1
    return {"images": images, "boxes": boxes, "classes": classes}


def make_detector(shift, scores):
    """Fake contract-C detector: the ground truth, class-0 boxes moved by
    `shift[i]` pixels along x on image i, with score `scores[i]`; padded to
    MAX_DETECTIONS rows (boxes 0, classes -1, scores 0), plus junk rows past
    `num_detections` that must be ignored."""
    data = contract_b_arrays()
    calls = []
    one = keras.Variable(1.0)

    def detector(images):
        calls.append(1)
        ids = np.asarray(images)[:, 0, 0, 0].astype(int)
        batch = len(ids)
        boxes = np.zeros((batch, MAX_DETECTIONS, 4), np.float32)
        classes = np.full((batch, MAX_DETECTIONS), -1, np.int32)
        out_scores = np.zeros((batch, MAX_DETECTIONS), np.float32)
        num = np.zeros(batch, np.int32)
        for b, i in enumerate(ids):
            valid = data["classes"][i] >= 0
            n = int(valid.sum())
            boxes[b, :n] = data["boxes"][i][valid]
            boxes[b, :n][data["classes"][i][valid] == 0] += [
                shift[i], 0, shift[i], 0]
            classes[b, :n] = data["classes"][i][valid]
            out_scores[b, :n] = scores[i]
            num[b] = n
            # A confident row past num_detections: padding, never counted.
            boxes[b, n] = [100, 100, 120, 120]
            out_scores[b, n] = 0.99
            classes[b, n] = 0
        # Tensors of the current backend, the float ones attached to a graph
        # as a model's outputs are (on PyTorch they require gradients).
        return {"boxes": keras.ops.convert_to_tensor(boxes) * one,
                "classes": keras.ops.convert_to_tensor(classes),
                "scores": keras.ops.convert_to_tensor(out_scores) * one,
                "num_detections": keras.ops.convert_to_tensor(num)}

    detector.calls = calls
    return detector


def dataset(batch_size=2, with_targets=False):
    ds = tf.data.Dataset.from_tensor_slices(contract_b_arrays())
    if with_targets:
        ds = ds.map(lambda d: (d, d["classes"]))
    return ds.batch(batch_size)


def fit(callbacks, epochs=2):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    return model.fit(rng.normal(size=(8, 3)), rng.normal(size=(8, 1)),
                     epochs=epochs, batch_size=4, verbose=0,
                     callbacks=callbacks)


def test_perfect_detector_voc_logs_history_csv(tmp_path, capsys):
    callback = DetectionMAPCallback(
        make_detector([0] * 4, [0.9, 0.8, 0.7, 0.6]), dataset(), 2,
        class_names=["cell", "other"])
    csv_path = str(tmp_path / "log.csv")
    history = fit([callback, keras.callbacks.CSVLogger(csv_path)])
    assert history.history["val_mAP"] == [1.0, 1.0]
    assert "val_AP/cell" not in history.history  # per_class=False
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [float(row["val_mAP"]) for row in rows] == [1.0, 1.0]
    assert [epoch for epoch, _ in callback.history] == [1, 2]
    assert callback.history[-1][1] == {"mAP": 1.0, "AP/cell": 1.0,
                                       "AP/other": 1.0}
    out = capsys.readouterr().out
    assert out.count("val_mAP=1.0000 (voc, IoU>=0.5, 4 images") == 2


def test_shifted_detector_hand_computed_voc():
    # Images 0, 1 exact (scores .9, .8); images 2, 3 moved by 15 px: IoU
    # 15 * 20 / (600 + 600 - 300) = 1/3 < 0.5 (scores .7, .6). Class 0:
    # TP TP FP FP, npos 4: recall .25 .5 .5 .5, precision 1 1 2/3 1/2 ->
    # AP = .5 * 1 = 0.5. Class 1 (one exact box): AP 1. mAP = 0.75.
    callback = DetectionMAPCallback(
        make_detector([0, 0, 15, 15], [0.9, 0.8, 0.7, 0.6]), dataset(), 2,
        per_class=True, prefix="v_", verbose=0)
    history = fit([callback], epochs=1)
    assert history.history["v_mAP"] == [pytest.approx(0.75)]
    assert history.history["v_AP/0"] == [pytest.approx(0.5)]
    assert history.history["v_AP/1"] == [1.0]
    # Misses ranked first: FP FP TP TP: recall 0 0 .25 .5, precision
    # 0 0 1/3 1/2, monotone 1/2 up to recall .5 -> AP = .5 * .5 = 0.25.
    callback = DetectionMAPCallback(
        make_detector([0, 0, 15, 15], [0.6, 0.7, 0.8, 0.9]), dataset(), 2,
        per_class=True, verbose=0)
    fit([callback], epochs=1)
    assert callback.history[0][1]["AP/0"] == pytest.approx(0.25)


def test_shifted_detector_hand_computed_coco():
    # Every class-0 box moved by 6 px: IoU 24 * 20 / (1200 - 480) = 2/3: a
    # match at the thresholds .50 .55 .60 .65 (4 of 10) -> AP 0.4 for class
    # 0, AP50 1, AP75 0; class 1 exact: AP 1. Means over the two classes.
    callback = DetectionMAPCallback(
        make_detector([6] * 4, [0.9, 0.8, 0.7, 0.6]),
        dataset(with_targets=True), 2, style="coco", verbose=0)
    history = fit([callback], epochs=1)
    assert history.history["val_AP"] == [pytest.approx((0.4 + 1.0) / 2)]
    assert history.history["val_AP50"] == [pytest.approx(1.0)]
    assert history.history["val_AP75"] == [pytest.approx(0.5)]
    # Areas 600 (class 0) and 400 (class 1) are small: medium and large
    # have no ground truth and are left out of the logs.
    assert history.history["val_APs"] == [pytest.approx(0.7)]
    assert "val_APm" not in history.history
    assert "val_APl" not in history.history
    for key in ("AR1", "AR10", "AR100", "ARs"):
        assert f"val_{key}" in history.history
    assert "val_AP/0" not in history.history
    assert callback.history[0][1]["AP/0"] == pytest.approx(0.4)


def test_every_and_last_epoch_and_steps():
    detector = make_detector([0] * 4, [0.9, 0.8, 0.7, 0.6])
    callback = DetectionMAPCallback(detector, dataset(batch_size=1), 2,
                                    every=2, steps=3, verbose=0)
    history = fit([callback], epochs=3)
    assert [epoch for epoch, _ in callback.history] == [2, 3]
    assert len(history.history["val_mAP"]) == 2
    assert len(history.history["loss"]) == 3
    # steps=3 batches of one image per evaluation.
    assert len(detector.calls) == 6
    ground_truth, detections = callback.collect()
    assert len(ground_truth) == 3
    # Padding stripped: 2 boxes on image 0, the junk row dropped.
    assert len(ground_truth[0]["classes"]) == 2
    assert len(detections[0]["classes"]) == 2


def test_plain_iterable_and_difficult():
    # A Python list of batches with a "difficult" flag: the shifted images
    # 2 and 3 hold difficult boxes, so their misses cost nothing: AP 1.
    batch = contract_b_arrays()
    batch["difficult"] = np.zeros((NUM_IMAGES, MAX_BOXES), bool)
    batch["difficult"][2:, 0] = True
    callback = DetectionMAPCallback(
        make_detector([0, 0, 15, 15], [0.9, 0.8, 0.7, 0.6]), [batch], 2,
        verbose=0)
    assert callback.evaluate() == {"mAP": 1.0, "AP/0": 1.0, "AP/1": 1.0}


def test_invalid_arguments():
    detector = make_detector([0] * 4, [0.9] * 4)
    with pytest.raises(TypeError, match="detector"):
        DetectionMAPCallback(None, dataset(), 2)
    with pytest.raises(TypeError, match="dataset"):
        DetectionMAPCallback(detector, None, 2)
    with pytest.raises(ValueError, match="style"):
        DetectionMAPCallback(detector, dataset(), 2, style="map")
    with pytest.raises(ValueError, match="iou_threshold"):
        DetectionMAPCallback(detector, dataset(), 2, style="coco",
                             iou_threshold=0.7)
    with pytest.raises(ValueError, match="every"):
        DetectionMAPCallback(detector, dataset(), 2, every=0)
    with pytest.raises(ValueError, match="distinct names"):
        DetectionMAPCallback(detector, dataset(), 2, class_names=["a"])
    bad = DetectionMAPCallback(lambda images: images, dataset(), 2)
    with pytest.raises(TypeError, match="must return a dict"):
        bad.evaluate()
    bad = DetectionMAPCallback(
        lambda images: {"boxes": np.zeros((2, 4))}, dataset(), 2)
    with pytest.raises(ValueError, match="no key"):
        bad.evaluate()
    bad = DetectionMAPCallback(detector, [{"images": np.zeros((1, 8, 8, 3))}],
                               2)
    with pytest.raises(ValueError, match="'boxes' is missing"):
        bad.evaluate()


def test_keras_model_with_non_max_suppression_as_detector():
    # Contract C from a real functional model ending in
    # kzoo.layers.NonMaxSuppression. Its candidates: BOX (class-0 score .9)
    # and the class-1 box (class-1 score .8) on every image. Class 0: 4 hits.
    # Class 1 exists on image 0 only: at equal scores image 0 ranks first,
    # TP then 3 FP: recall 1 at precision 1 -> AP 1. mAP = 1.
    from kzoo.layers import NonMaxSuppression

    candidates = np.array([BOX, [40, 40, 60, 60]], np.float32)
    class_scores = np.array([[0.9, 0.0], [0.0, 0.8]], np.float32)
    images = keras.Input((8, 8, 3))
    zero = keras.layers.Lambda(
        lambda x: keras.ops.sum(x, axis=(1, 2, 3))[:, None, None] * 0.0)(
            images)
    boxes = keras.layers.Lambda(lambda z: z + candidates)(zero)
    scores = keras.layers.Lambda(lambda z: z + class_scores)(zero)
    outputs = NonMaxSuppression(max_detections=MAX_DETECTIONS)(boxes, scores)
    detector = keras.Model(images, outputs)
    callback = DetectionMAPCallback(detector, dataset(), 2, verbose=0)
    history = fit([callback], epochs=1)
    assert history.history["val_mAP"] == [1.0]
    ground_truth, detections = callback.collect()
    assert [len(d["classes"]) for d in detections] == [2, 2, 2, 2]
