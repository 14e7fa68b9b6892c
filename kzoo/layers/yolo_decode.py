"""Decodes a YOLO head's grid into candidate boxes and class confidences."""

import numbers

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo._docs import fill_doc
from kzoo.layers.yolo_head import LAYOUT_ARGS
from kzoo.layers.yolo_head import check_yolo_config
from kzoo.layers.yolo_head import decode_yolo_outputs

CONFIDENCES = ("class_x_objectness", "top_class_x_objectness")


@kzoo_export("kzoo.layers.YOLODecode")
@fill_doc(layout_args=LAYOUT_ARGS)
class YOLODecode(keras.layers.Layer):
    """Turns a YOLO head's output into boxes and per-class confidences.

    Every predicted box of the `S x S` grid is a candidate. Its box is read
    with `kzoo.layers.decode_yolo_outputs` (the parameterisation shared with
    `kzoo.losses.YOLOLoss`) and converted to `xyxy`; its confidence for
    class `c` is the course's

    Formula:

    ```python
    score[c] = P(class = c | object) * objectness
    ```

    YOLOv1 trains the objectness towards the IoU of the box with its object
    (`Pr(object) * IoU`), so this is its "class-specific confidence score"
    `Pr(class_c) * IoU`. With `layout="cell"` the `B` boxes of a cell share
    the cell's class probabilities. `confidence="top_class_x_objectness"`
    keeps the score of each box's most probable class only (the others 0):
    one NMS candidate per box instead of `C`.

    Candidates are flattened row-major: index `((row * S) + col) * B + j`
    for box slot `j` of the cell in row `row`, column `col`. Feed the output
    to `kzoo.layers.NonMaxSuppression` (`nms(out["boxes"], out["scores"])`).
    Computes and returns float32 (the dtype policy defaults to `"float32"`).

    Args:
        {layout_args}
        image_size: side in pixels of the square model input: boxes are in
            its pixels; `None` gives fractions of the image. Defaults to
            `None`.
        confidence: `"class_x_objectness"` or `"top_class_x_objectness"`.
            Defaults to `"class_x_objectness"`.
        clip_boxes: clip boxes to the image. Defaults to `True`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Returns (from `call(outputs)`):
        A dict: `"boxes"` float32 `[N, S*S*B, 4]` `(x_min, y_min, x_max,
        y_max)`, `"scores"` float32 `[N, S*S*B, C]`.

    Example:

    >>> decode = kzoo.layers.YOLODecode(2, 20, image_size=448)
    >>> out = decode(np.zeros((1, 7, 7, 30), "float32"))
    >>> out["boxes"].shape, out["scores"].shape
    ((1, 98, 4), (1, 98, 20))
    >>> nms = kzoo.layers.NonMaxSuppression(score_threshold=0.01)
    >>> detections = nms(out["boxes"], out["scores"])

    Reference:
        - [Redmon et al., 2016, "You Only Look Once"](
          https://arxiv.org/abs/1506.02640), section 2 (test time).
    """

    def __init__(self, num_boxes=2, num_classes=20, anchors=None, layout=None,
                 image_size=None, confidence="class_x_objectness",
                 clip_boxes=True, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_boxes, self.num_classes, self.layout, self.anchors = (
            check_yolo_config(num_boxes, num_classes, layout, anchors))
        if image_size is not None:
            if (isinstance(image_size, bool)
                    or not isinstance(image_size, numbers.Integral)
                    or image_size < 1):
                raise ValueError(
                    "`image_size` must be a positive integer or None. "
                    f"Received: image_size={image_size!r}")
            image_size = int(image_size)
        self.image_size = image_size
        if confidence not in CONFIDENCES:
            raise ValueError(f"`confidence` must be one of {CONFIDENCES}. "
                             f"Received: confidence={confidence!r}")
        self.confidence = confidence
        if not isinstance(clip_boxes, bool):
            raise ValueError("`clip_boxes` must be a bool. "
                             f"Received: clip_boxes={clip_boxes!r}")
        self.clip_boxes = clip_boxes

    def call(self, outputs):
        pred = decode_yolo_outputs(outputs, self.num_boxes, self.num_classes,
                                   self.anchors, self.layout)
        boxes = pred["boxes"]
        cx, cy, w, h = (boxes[..., i] for i in range(4))
        xyxy = ops.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w,
                          cy + 0.5 * h], axis=-1)
        scale = 1.0 if self.image_size is None else float(self.image_size)
        if self.clip_boxes:
            xyxy = ops.clip(xyxy, 0.0, 1.0)
        xyxy = xyxy * scale
        probs = pred["class_probs"]
        if self.confidence == "top_class_x_objectness":
            top = ops.argmax(probs, axis=-1)
            probs = probs * ops.one_hot(top, self.num_classes)
        scores = probs * pred["objectness"][..., None]
        n = ops.shape(xyxy)[0]
        return {
            "boxes": ops.reshape(xyxy, (n, -1, 4)),
            "scores": ops.reshape(scores, (n, -1, self.num_classes)),
        }

    def compute_output_spec(self, outputs):
        shape = outputs.shape
        grid = None if None in shape[1:3] else shape[1] * shape[2]
        count = None if grid is None else grid * self.num_boxes
        return {
            "boxes": keras.KerasTensor((shape[0], count, 4), dtype="float32"),
            "scores": keras.KerasTensor((shape[0], count, self.num_classes),
                                        dtype="float32"),
        }

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_boxes": self.num_boxes,
            "num_classes": self.num_classes,
            "anchors": self.anchors,
            "layout": self.layout,
            "image_size": self.image_size,
            "confidence": self.confidence,
            "clip_boxes": self.clip_boxes,
        })
        return config
