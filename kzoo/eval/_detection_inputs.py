"""Checking and parsing the inputs of `kzoo.eval.detection_map`.

Ground truth and detections arrive as one dict per image (NumPy arrays,
lists or backend tensors); they are validated with errors naming the image
and key, and concatenated into `_Set`s with each box's image index.
"""

import collections.abc
import numbers

import numpy as np
from keras import ops

from kzoo.eval.knn import _check_positive_int

_STYLES = ("coco", "voc")


class _Set:
    """Boxes of every image concatenated, with their image index."""

    def __init__(self, image, classes, boxes, scores=None, difficult=None):
        self.image = image
        self.classes = classes
        self.boxes = boxes  # float64 [N, 4] xyxy
        self.scores = scores
        self.difficult = difficult

    def __len__(self):
        return self.image.shape[0]


def _array(value, name, index, key):
    try:
        if isinstance(value, (np.ndarray, list, tuple, numbers.Number)):
            return np.asarray(value)
        # Tensors of any backend: on PyTorch a model output requires
        # gradients and `np.asarray` refuses it.
        return ops.convert_to_numpy(value)
    except Exception as error:  # pragma: no cover - exotic inputs
        raise TypeError(
            f"`{name}[{index}][{key!r}]` must be array-like. "
            f"Received: {type(value).__name__} ({error})"
        ) from None


def _parse_entry(entry, name, index, num_classes, with_scores):
    if not isinstance(entry, collections.abc.Mapping):
        raise TypeError(
            f"`{name}[{index}]` must be a dict with keys 'boxes' and "
            f"'classes'{' and scores' if with_scores else ''}. "
            f"Received: {name}[{index}]={type(entry).__name__}"
        )
    required = ("boxes", "classes", "scores") if with_scores else (
        "boxes", "classes")
    for key in required:
        if key not in entry:
            raise ValueError(
                f"`{name}[{index}]` has no key {key!r}. "
                f"Received: keys={sorted(map(str, entry.keys()))}"
            )
    boxes = _array(entry["boxes"], name, index, "boxes")
    if boxes.size == 0:
        boxes = np.zeros((0, 4))
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(
            f"`{name}[{index}]['boxes']` must have shape [N, 4] (xyxy). "
            f"Received: shape={boxes.shape}"
        )
    if boxes.dtype == bool or not np.issubdtype(boxes.dtype, np.number):
        raise TypeError(
            f"`{name}[{index}]['boxes']` must be numeric. "
            f"Received: dtype={boxes.dtype}"
        )
    boxes = boxes.astype(np.float64)
    num = boxes.shape[0]
    if not np.all(np.isfinite(boxes)):
        raise ValueError(
            f"`{name}[{index}]['boxes']` must be finite. Received: "
            f"{int(np.sum(~np.isfinite(boxes).all(axis=1)))} box(es) with "
            "NaN or infinite coordinates"
        )
    inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if np.any(inverted):
        row = int(np.flatnonzero(inverted)[0])
        raise ValueError(
            f"`{name}[{index}]['boxes']` must be xyxy with x2 >= x1 and "
            f"y2 >= y1. Received: boxes[{row}]={boxes[row].tolist()}"
        )

    def vector(key, kind):
        value = _array(entry[key], name, index, key)
        if value.size == 0:
            value = value.reshape(0)
        if value.ndim != 1 or value.shape[0] != num:
            raise ValueError(
                f"`{name}[{index}][{key!r}]` must have shape [{num}] (one "
                "value per box). "
                f"Received: shape={value.shape}"
            )
        if kind == "int":
            if value.dtype == bool or not np.issubdtype(value.dtype, np.number):
                raise TypeError(
                    f"`{name}[{index}][{key!r}]` must hold integer class "
                    f"ids. Received: dtype={value.dtype}"
                )
            if not np.issubdtype(value.dtype, np.integer):
                if not np.all(np.isfinite(value)) or np.any(
                        value != np.round(value)):
                    raise ValueError(
                        f"`{name}[{index}][{key!r}]` must hold integer "
                        f"class ids. Received: {value.tolist()}"
                    )
            value = value.astype(np.int64)
            bad = (value < 0) | (value >= num_classes)
            if np.any(bad):
                raise ValueError(
                    f"`{name}[{index}][{key!r}]` must be class ids in "
                    f"[0, num_classes={num_classes}) (remove padding rows "
                    "of class -1 first). "
                    f"Received: {key}={value[bad][:5].tolist()}"
                )
        elif kind == "float":
            if value.dtype == bool or not np.issubdtype(value.dtype, np.number):
                raise TypeError(
                    f"`{name}[{index}][{key!r}]` must be numeric. "
                    f"Received: dtype={value.dtype}"
                )
            value = value.astype(np.float64)
            if not np.all(np.isfinite(value)):
                raise ValueError(
                    f"`{name}[{index}][{key!r}]` must be finite. Received: "
                    f"{int(np.sum(~np.isfinite(value)))} NaN or infinite "
                    "value(s)"
                )
        else:  # bool
            if value.dtype != bool:
                if not np.issubdtype(value.dtype, np.number) or np.any(
                        (value != 0) & (value != 1)):
                    raise ValueError(
                        f"`{name}[{index}][{key!r}]` must be booleans (or "
                        f"0/1). Received: {value.tolist()}"
                    )
                value = value != 0
        return value

    classes = vector("classes", "int")
    scores = vector("scores", "float") if with_scores else None
    difficult = None
    if not with_scores:
        difficult = (vector("difficult", "bool")
                     if entry.get("difficult") is not None
                     else np.zeros(num, dtype=bool))
    return boxes, classes, scores, difficult


def _parse(entries, name, num_classes, with_scores):
    boxes, classes, scores, difficult, image = [], [], [], [], []
    for index, entry in enumerate(entries):
        b, c, s, d = _parse_entry(entry, name, index, num_classes, with_scores)
        boxes.append(b)
        classes.append(c)
        scores.append(s)
        difficult.append(d)
        image.append(np.full(c.shape[0], index, dtype=np.int64))
    return _Set(
        image=np.concatenate(image),
        classes=np.concatenate(classes),
        boxes=np.concatenate(boxes).reshape(-1, 4),
        scores=np.concatenate(scores) if with_scores else None,
        difficult=None if with_scores else np.concatenate(difficult),
    )


def _check_inputs(ground_truth, detections, num_classes, style, class_names,
                  iou_threshold):
    """Validates the arguments of `detection_map` (not the per-image data)."""
    num_classes = _check_positive_int(num_classes, "num_classes")
    if style not in _STYLES:
        raise ValueError(
            f"`style` must be one of {_STYLES}. Received: style={style!r}"
        )
    if (isinstance(iou_threshold, bool)
            or not isinstance(iou_threshold, numbers.Real)
            or not 0.0 < iou_threshold <= 1.0):
        raise ValueError(
            "`iou_threshold` must be a number in (0, 1]. "
            f"Received: iou_threshold={iou_threshold!r}"
        )
    if style == "coco" and iou_threshold != 0.5:
        raise ValueError(
            "`iou_threshold` is the matching threshold of style='voc'; "
            "style='coco' always averages IoU .50:.05:.95 (and reports AP50 "
            "and AP75). Received: "
            f"style='coco', iou_threshold={iou_threshold!r}"
        )
    if class_names is None:
        names = [str(k) for k in range(num_classes)]
    else:
        if isinstance(class_names, str) or not isinstance(
                class_names, collections.abc.Sequence):
            raise TypeError(
                "`class_names` must be a list of strings or `None`. "
                f"Received: class_names={class_names!r}"
            )
        names = [str(n) for n in class_names]
        if len(names) != num_classes or len(set(names)) != num_classes:
            raise ValueError(
                f"`class_names` must hold {num_classes} distinct names (one "
                "per class). "
                f"Received: class_names={list(class_names)!r}"
            )
    if ground_truth is not None:
        for value, arg in ((ground_truth, "ground_truth"),
                           (detections, "detections")):
            if not isinstance(value, (list, tuple)):
                raise TypeError(
                    f"`{arg}` must be a list with one dict per image. "
                    f"Received: {arg}={type(value).__name__}"
                )
        if len(ground_truth) != len(detections):
            raise ValueError(
                "`ground_truth` and `detections` must have one entry per "
                "image each, in the same order. Received: "
                f"len(ground_truth)={len(ground_truth)}, "
                f"len(detections)={len(detections)}"
            )
        if len(ground_truth) == 0:
            raise ValueError(
                "`ground_truth` must contain at least one image. "
                "Received: len(ground_truth)=0"
            )
    return num_classes, names
