"""Keras callback reporting detection mAP on a validation set during `fit()`."""

import time

import keras
import numpy as np

from kzoo._api import kzoo_export
from kzoo.eval._detection_inputs import _check_inputs
from kzoo.eval.detection_map import COCO_SUMMARY_KEYS
from kzoo.eval.detection_map import detection_map
from kzoo.eval.knn import _check_positive_int
from kzoo.eval.knn import _to_numpy


def _detector_output(output, batch_size):
    """Numpy arrays of a contract-C detector output, checked."""
    if not isinstance(output, dict):
        raise TypeError(
            "`detector` must return a dict with keys 'boxes', 'classes', "
            "'scores' and 'num_detections' (the output of "
            "`kzoo.layers.NonMaxSuppression`). "
            f"Received: {type(output).__name__}"
        )
    missing = [k for k in ("boxes", "classes", "scores", "num_detections")
               if k not in output]
    if missing:
        raise ValueError(
            f"The `detector` output has no key(s) {missing}. "
            f"Received: keys={sorted(output)}"
        )
    out = {k: np.asarray(_to_numpy(output[k])) for k in
           ("boxes", "classes", "scores", "num_detections")}
    if (out["boxes"].ndim != 3 or out["boxes"].shape[0] != batch_size
            or out["boxes"].shape[2] != 4
            or out["classes"].shape != out["boxes"].shape[:2]
            or out["scores"].shape != out["boxes"].shape[:2]
            or out["num_detections"].shape != (batch_size,)):
        raise ValueError(
            "The `detector` output must hold boxes [B, K, 4], classes [B, K], "
            f"scores [B, K] and num_detections [B] for B={batch_size} "
            "images. Received: "
            + ", ".join(f"{k}.shape={v.shape}" for k, v in out.items())
        )
    return out


@kzoo_export("kzoo.eval.DetectionMAPCallback")
class DetectionMAPCallback(keras.callbacks.Callback):
    """Reports the mAP of a detector on a validation set during `fit()`.

    At the end of every `every`-th epoch, and at the last epoch of `fit()`
    (when the number of epochs is known), runs `detector` on every batch of
    `dataset`, strips the padding of the detections (rows beyond
    `num_detections` or of class `-1`) and of the ground truth (class `-1`),
    scores them with `kzoo.eval.detection_map` and writes the results into
    the epoch `logs`, prefixed with `prefix`:

    - `style="voc"`: `"<prefix>mAP"` (VOC2010+ all-point AP at
      `IoU >= iou_threshold`, mean over the classes with ground truth);
    - `style="coco"`: `"<prefix>AP"` (IoU .50:.95), `"<prefix>AP50"`,
      `"<prefix>AP75"`, `"<prefix>APs"`, `"<prefix>APm"`, `"<prefix>APl"`,
      `"<prefix>AR1"`, `"<prefix>AR10"`, `"<prefix>AR100"`, `"<prefix>ARs"`,
      `"<prefix>ARm"`, `"<prefix>ARl"` (pycocotools' `stats`);
    - with `per_class=True`, also the per-class keys `"<prefix>AP/<name>"`
      (and `"<prefix>AP50/<name>"` for COCO).

    Undefined values (`None`: no ground truth for a class or area range) are
    left out of `logs`. The keys therefore appear in `History.history`, in
    the progress bar and in `keras.callbacks.CSVLogger` /
    `keras.callbacks.TensorBoard` placed **after** this callback in the
    `callbacks` list. As with `fit(validation_freq=...)`, they are absent on
    epochs that are not evaluated: with `every > 1`, `history.history[key]`
    has one entry per evaluation and `CSVLogger` only records them if the
    first epoch is evaluated. To monitor one with `ModelCheckpoint` or
    `EarlyStopping`, pass `mode="max"` (their `"auto"` mode would minimize
    it). Every evaluation is also kept in `self.history` as
    `(epoch, results)` pairs (1-based epochs, the full `detection_map` dict)
    and one line is printed (`verbose=1`), e.g.
    `Epoch 3: val_mAP=0.4123 (voc, IoU>=0.5, 500 images, 2.1 s)`.

    Args:
        detector: Callable mapping a batch of images `float32 [B, S, S, 3]`
            to the padded detection dict of `kzoo.layers.NonMaxSuppression`
            (`"boxes"` `[B, K, 4]` xyxy pixels of the input image,
            `"classes"` `[B, K]`, `"scores"` `[B, K]`, `"num_detections"`
            `[B]`), e.g. an inference model sharing the trained weights.
        dataset: Iterable (e.g. `tf.data.Dataset`) of dicts with `"images"`,
            `"boxes"` (`[B, M, 4]` xyxy pixels) and `"classes"` (`[B, M]`,
            `-1` on padding rows), as yielded by
            `kzoo.data.detection_dataset`, optionally `"difficult"`
            (`[B, M]` bools); or of `(dict, targets)` tuples, whose first
            element is used. It is iterated in full at every evaluation (or
            for `steps` batches), so it must be finite or `steps` set.
        num_classes: Positive integer, number of classes.
        style: `"voc"` or `"coco"`, see `kzoo.eval.detection_map`.
            Defaults to `"voc"`.
        class_names: Optional list of `num_classes` names for the per-class
            keys. Defaults to `None` (class indices).
        every: Positive integer, evaluation period in epochs.
            Defaults to `1`.
        prefix: String prepended to every key. Defaults to `"val_"`.
        iou_threshold: Matching IoU threshold of `style="voc"` (must stay
            `0.5` for `"coco"`). Defaults to `0.5`.
        steps: Optional positive integer, number of batches of `dataset` per
            evaluation; `None` evaluates the whole dataset.
            Defaults to `None`.
        per_class: Boolean, whether the per-class APs are written to `logs`
            too (they are always in `self.history`). Defaults to `False`.
        verbose: Integer, `1` prints one line per evaluation, `0` is silent.
            Defaults to `1`.

    Example:

    ```python
    callback = kzoo.eval.DetectionMAPCallback(
        inference_model, val_dataset, num_classes=20,
        class_names=class_names, every=5,
    )
    model.fit(train_dataset, epochs=50,
              callbacks=[callback, keras.callbacks.CSVLogger("log.csv")])
    print(callback.history[-1])  # (50, {'mAP': 0.61..., 'AP/aeroplane': ...})
    ```

    References:
        - [Everingham et al., 2010](
          http://host.robots.ox.ac.uk/pascal/VOC/pubs/everingham10.pdf)
        - [Lin et al., 2014](https://arxiv.org/abs/1405.0312)
    """

    def __init__(
        self,
        detector,
        dataset,
        num_classes,
        style="voc",
        class_names=None,
        every=1,
        prefix="val_",
        iou_threshold=0.5,
        steps=None,
        per_class=False,
        verbose=1,
    ):
        super().__init__()
        if not callable(detector):
            raise TypeError(
                "`detector` must be a callable mapping images to the "
                "NonMaxSuppression dict. "
                f"Received: detector={detector!r}"
            )
        if dataset is None or not hasattr(dataset, "__iter__"):
            raise TypeError(
                "`dataset` must be an iterable of detection batches (e.g. a "
                f"tf.data.Dataset). Received: dataset={dataset!r}"
            )
        self.num_classes, _ = _check_inputs(
            None, None, num_classes, style, class_names, iou_threshold)
        self.detector = detector
        self.dataset = dataset
        self.style = style
        self.class_names = None if class_names is None else list(class_names)
        self.every = _check_positive_int(every, "every")
        if not isinstance(prefix, str):
            raise TypeError(
                f"`prefix` must be a string. Received: prefix={prefix!r}"
            )
        self.prefix = prefix
        self.iou_threshold = float(iou_threshold)
        self.steps = None if steps is None else _check_positive_int(
            steps, "steps")
        self.per_class = bool(per_class)
        self.verbose = verbose
        self.history = []

    def collect(self):
        """Runs the detector over `dataset`.

        Returns:
            `(ground_truth, detections)`: the per-image lists of
            `kzoo.eval.detection_map`, padding removed.
        """
        ground_truth, detections = [], []
        for step, batch in enumerate(self.dataset):
            if self.steps is not None and step >= self.steps:
                break
            if isinstance(batch, (tuple, list)):
                batch = batch[0]
            for key in ("images", "boxes", "classes"):
                if key not in batch:
                    raise ValueError(
                        f"Each `dataset` batch must be a dict with 'images', "
                        f"'boxes' and 'classes'; key {key!r} is missing. "
                        f"Received: keys={sorted(batch)}"
                    )
            gt_boxes = np.asarray(_to_numpy(batch["boxes"]))
            gt_classes = np.asarray(_to_numpy(batch["classes"]))
            difficult = batch.get("difficult")
            if difficult is not None:
                difficult = np.asarray(_to_numpy(difficult)).astype(bool)
            batch_size = gt_classes.shape[0]
            out = _detector_output(self.detector(batch["images"]), batch_size)
            for b in range(batch_size):
                valid = gt_classes[b] >= 0
                entry = {"boxes": gt_boxes[b][valid],
                         "classes": gt_classes[b][valid]}
                if difficult is not None:
                    entry["difficult"] = difficult[b][valid]
                ground_truth.append(entry)
                n = int(out["num_detections"][b])
                classes = out["classes"][b, :n]
                keep = classes >= 0
                detections.append({"boxes": out["boxes"][b, :n][keep],
                                   "classes": classes[keep],
                                   "scores": out["scores"][b, :n][keep]})
        return ground_truth, detections

    def evaluate(self):
        """Computes the mAP of the detector on `dataset`.

        Returns:
            The dict of `kzoo.eval.detection_map`.
        """
        return self._score(*self.collect())

    def _score(self, ground_truth, detections):
        kwargs = {"iou_threshold": self.iou_threshold} if (
            self.style == "voc") else {}
        return detection_map(
            ground_truth, detections, self.num_classes, style=self.style,
            class_names=self.class_names, **kwargs,
        )

    def _should_evaluate(self, epoch):
        if (epoch + 1) % self.every == 0:
            return True
        total_epochs = (self.params or {}).get("epochs")
        return total_epochs is not None and epoch + 1 == total_epochs

    def _summary_keys(self):
        return COCO_SUMMARY_KEYS if self.style == "coco" else ("mAP",)

    def on_epoch_end(self, epoch, logs=None):
        if not self._should_evaluate(epoch):
            return
        start = time.perf_counter()
        ground_truth, detections = self.collect()
        results = self._score(ground_truth, detections)
        seconds = time.perf_counter() - start
        summary = self._summary_keys()
        if logs is not None:
            for key, value in results.items():
                if value is None or (key not in summary
                                     and not self.per_class):
                    continue
                logs[self.prefix + key] = value
        self.history.append((epoch + 1, results))
        if self.verbose:
            shown = ("AP", "AP50", "AP75") if self.style == "coco" else (
                "mAP",)
            values = " ".join(
                f"{self.prefix}{k}="
                + ("n/a" if results[k] is None else f"{results[k]:.4f}")
                for k in shown)
            detail = ("coco" if self.style == "coco"
                      else f"voc, IoU>={self.iou_threshold:g}")
            print(f"Epoch {epoch + 1}: {values} ({detail}, "
                  f"{len(ground_truth)} images, {seconds:.1f} s)")
