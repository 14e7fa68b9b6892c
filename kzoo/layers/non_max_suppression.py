"""Batched, class-aware non-max suppression as a Keras layer."""

import keras

from kzoo import boxes as boxes_lib
from kzoo._api import kzoo_export


@kzoo_export("kzoo.layers.NonMaxSuppression")
class NonMaxSuppression(keras.layers.Layer):
    """Per-image, per-class non-max suppression with a fixed-size output.

    The last layer of a detector's inference model: called on `boxes`
    `[B, N, 4]` and `scores` `[B, N, C]` (every (box, class) pair a
    candidate), or `scores` `[B, N]` with int `classes` `[B, N]`
    (class-aware) or without them (class-agnostic), it returns
    `kzoo.boxes.batched_non_max_suppression`'s dict:

    - `"boxes"`: float32 `[B, K, 4]`, in `box_format`;
    - `"classes"`: int32 `[B, K]`;
    - `"scores"`: float32 `[B, K]`;
    - `"num_detections"`: int32 `[B]`;

    with `K = max_detections`, rows by descending score and padding rows
    (boxes 0, classes -1, scores 0) after the `num_detections` detections.
    Per image and class, the kept boxes are exactly those
    `tf.image.non_max_suppression` keeps: candidates need `score >
    score_threshold`, a box is suppressed when `IoU > iou_threshold` with a
    kept box (the course discards at `IoU >= 0.5`; the rules differ only at
    exact equality). Output shapes are static (`[None, K, 4]` for an unknown
    batch size), so the layer works in a functional model, in a
    `tf.function` and in an exported SavedModel.

    The layer has no weights and computes in float32: its dtype policy
    defaults to `"float32"` whatever the global policy, so that
    `mixed_float16` does not round pixel coordinates to half precision.

    Args:
        iou_threshold: IoU above which a box is suppressed, in `[0, 1]`.
            Defaults to `0.5`.
        score_threshold: score a candidate must exceed. Defaults to `0.6`.
        max_detections: `K`, output rows per image. Defaults to `100`.
        max_detections_per_class: maximum kept per image and class; `None`
            means no limit other than `max_detections`. Defaults to `None`.
        box_format: format of the input and output boxes, one of
            `kzoo.boxes.FORMATS`. Defaults to `"xyxy"`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> nms = kzoo.layers.NonMaxSuppression(max_detections=3)
    >>> boxes = np.array([[[0, 0, 10, 10], [1, 0, 11, 10]]], "float32")
    >>> scores = np.array([[[0.9, 0.1], [0.8, 0.7]]], "float32")
    >>> out = nms(boxes, scores)
    >>> out["classes"], out["scores"]
    [[0, 1, -1]], [[0.9, 0.7, 0.0]]

    Reference:
        - [`tf.image.non_max_suppression`](
          https://www.tensorflow.org/api_docs/python/tf/image/non_max_suppression).
    """

    def __init__(
        self,
        iou_threshold=0.5,
        score_threshold=0.6,
        max_detections=100,
        max_detections_per_class=None,
        box_format="xyxy",
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.box_format = boxes_lib._check_nms_args(
            iou_threshold, score_threshold, max_detections, box_format,
            max_detections_per_class,
        )
        self.iou_threshold = float(iou_threshold)
        self.score_threshold = float(score_threshold)
        self.max_detections = int(max_detections)
        self.max_detections_per_class = (
            None if max_detections_per_class is None
            else int(max_detections_per_class)
        )

    def call(self, boxes, scores, classes=None):
        return boxes_lib.batched_non_max_suppression(
            boxes, scores, classes,
            iou_threshold=self.iou_threshold,
            score_threshold=self.score_threshold,
            max_detections=self.max_detections,
            max_detections_per_class=self.max_detections_per_class,
            box_format=self.box_format,
        )

    def compute_output_spec(self, boxes, scores, classes=None):
        batch, k = boxes.shape[0], self.max_detections
        return {
            "boxes": keras.KerasTensor((batch, k, 4), dtype="float32"),
            "classes": keras.KerasTensor((batch, k), dtype="int32"),
            "scores": keras.KerasTensor((batch, k), dtype="float32"),
            "num_detections": keras.KerasTensor((batch,), dtype="int32"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "iou_threshold": self.iou_threshold,
                "score_threshold": self.score_threshold,
                "max_detections": self.max_detections,
                "max_detections_per_class": self.max_detections_per_class,
                "box_format": self.box_format,
            }
        )
        return config
