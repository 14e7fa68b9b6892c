"""Bounding-box utilities: formats, IoU family, non-max suppression.

Box formats (the last axis of a box tensor has 4 values):

- `"xyxy"`: `(x_min, y_min, x_max, y_max)`;
- `"yxyx"`: `(y_min, x_min, y_max, x_max)` (`tf.image`'s order);
- `"xywh"`: `(x_min, y_min, width, height)`;
- `"center_xywh"`: `(center_x, center_y, width, height)` (YOLO's);
- `"rel_xyxy"`, `"rel_yxyx"`, `"rel_xywh"`, `"rel_center_xywh"`: the same
  with x values and widths as fractions of the image width and y values and
  heights as fractions of the image height.

Conventions shared by every function here:

- Coordinates are continuous, not pixel indices: the box `(x1, y1, x2, y2)`
  covers `[x1, x2] x [y1, y2]` and its area is `(x2 - x1) * (y2 - y1)`,
  with no `+ 1`. x grows to the right, y downwards (any orientation gives
  the same IoUs).
- A box with `x2 <= x1` or `y2 <= y1` (zero-area or inverted corners) is
  empty: its IoU with any box is 0. `compute_*` are finite, with finite
  gradients, for such boxes and in half precision, and for nearly empty
  ones: a quotient whose denominator (the union, the enclosing box's area
  or squared diagonal, CIoU's `w**2 + h**2`) is positive but below 1e-18
  (squared coordinate units) keeps its value but is a constant for the
  gradient, whose true value would overflow float32 there.
- Non-max suppression follows `tf.image.non_max_suppression` exactly (which
  it calls): a candidate needs `score > score_threshold`, and a box is
  suppressed by a kept box when their `IoU > iou_threshold`. That kernel
  reads a box with inverted corners as the rectangle its two corners span.
"""

import math
import numbers

import keras
from keras import ops

from kzoo._docs import fill_doc

FORMATS = (
    "xyxy",
    "yxyx",
    "xywh",
    "center_xywh",
    "rel_xyxy",
    "rel_yxyx",
    "rel_xywh",
    "rel_center_xywh",
)


# --------------------------------------------------------------- formats


def _check_format(box_format, arg_name="box_format"):
    if not isinstance(box_format, str) or box_format.lower() not in FORMATS:
        raise ValueError(
            f"`{arg_name}` must be one of {FORMATS}. "
            f"Received: {arg_name}={box_format!r}"
        )
    return box_format.lower()


def _check_last_dim(boxes, arg_name):
    if len(boxes.shape) < 1 or boxes.shape[-1] not in (4, None):
        raise ValueError(
            f"`{arg_name}` must have a last dimension of size 4. "
            f"Received: {arg_name}.shape={tuple(boxes.shape)}"
        )


def _corners(boxes, box_format):
    """`(x1, y1, x2, y2)` of boxes in `box_format` (relative stays relative)."""
    a, b, c, d = (boxes[..., i] for i in range(4))
    base = box_format[4:] if box_format.startswith("rel_") else box_format
    if base == "xyxy":
        return a, b, c, d
    if base == "yxyx":
        return b, a, d, c
    if base == "xywh":
        return a, b, a + c, b + d
    half_w, half_h = c * 0.5, d * 0.5  # center_xywh
    return a - half_w, b - half_h, a + half_w, b + half_h


def _from_corners(x1, y1, x2, y2, box_format):
    base = box_format[4:] if box_format.startswith("rel_") else box_format
    if base == "xyxy":
        values = (x1, y1, x2, y2)
    elif base == "yxyx":
        values = (y1, x1, y2, x2)
    elif base == "xywh":
        values = (x1, y1, x2 - x1, y2 - y1)
    else:  # center_xywh
        values = ((x1 + x2) * 0.5, (y1 + y2) * 0.5, x2 - x1, y2 - y1)
    return ops.stack(values, axis=-1)


def convert_format(boxes, source, target, height=None, width=None,
                   dtype="float32"):
    """Converts boxes between formats.

    Converting between `"xyxy"` and `"yxyx"` (or between two relative or two
    absolute formats of the same kind) only reorders values and is exact;
    the other conversions compute corners (`x2 = x + w`, `cx = (x1 + x2) /
    2`, `x1 = cx - w / 2`, ...) in `dtype`. A relative format is scaled by
    the image `width` (x values and widths) and `height` (y values and
    heights), which are only needed when exactly one of `source` and
    `target` is relative.

    Args:
        boxes: `[..., 4]` boxes in the `source` format.
        source: format of `boxes`, one of `kzoo.boxes.FORMATS`.
        target: format of the result, one of `kzoo.boxes.FORMATS`.
        height: image height in pixels: a number or a tensor broadcastable
            against `boxes[..., 0]` (e.g. `[B, 1]` for per-image sizes).
            Defaults to `None`.
        width: image width in pixels, like `height`. Defaults to `None`.
        dtype: dtype of the computation and of the result. Defaults to
            `"float32"`.

    Returns:
        `[..., 4]` boxes in the `target` format.

    Example:

    >>> kzoo.boxes.convert_format(
    ...     np.array([[10.0, 20.0, 30.0, 60.0]]), "xyxy", "center_xywh")
    array([[20., 40., 20., 40.]], dtype=float32)  # as a tensor
    """
    source = _check_format(source, "source")
    target = _check_format(target, "target")
    boxes = ops.convert_to_tensor(boxes, dtype=dtype)
    if keras.backend.standardize_dtype(boxes.dtype) != \
            keras.backend.standardize_dtype(dtype):
        # Keras' PyTorch backend converts a numpy (ml_dtypes) bfloat16 array
        # to a bfloat16 tensor whatever `dtype` asks for.
        boxes = ops.cast(boxes, dtype)
    _check_last_dim(boxes, "boxes")
    if source == target:
        return boxes
    x1, y1, x2, y2 = _corners(boxes, source)
    src_rel, tgt_rel = source.startswith("rel_"), target.startswith("rel_")
    if src_rel != tgt_rel:
        for name, value in (("height", height), ("width", width)):
            if value is None:
                raise ValueError(
                    f"Converting from {source!r} to {target!r} needs the "
                    f"image `height` and `width`. Received: {name}=None"
                )
            if isinstance(value, numbers.Real) and not value > 0:
                raise ValueError(
                    f"`{name}` must be positive. Received: {name}={value!r}"
                )
        h = ops.convert_to_tensor(height, dtype=dtype)
        w = ops.convert_to_tensor(width, dtype=dtype)
        if src_rel:
            x1, x2, y1, y2 = x1 * w, x2 * w, y1 * h, y2 * h
        else:
            x1, x2, y1, y2 = x1 / w, x2 / w, y1 / h, y2 / h
    return _from_corners(x1, y1, x2, y2, target)


# ------------------------------------------------------------ IoU family


# Smallest denominator (an area or a squared length, in squared coordinate
# units) of a quotient that is differentiated. The derivative of `n / d` in
# `d` is `-n / d**2`, with `|n| <= d` here (intersection over union,
# enclosing-box gap over enclosing area, squared centre distance over squared
# diagonal); below about 1e-19, `d**2` underflows float32 and `d**-2` (what
# JAX computes) overflows, which gave inf and NaN gradients for boxes with a
# tiny but positive union, enclosing box or diagonal (e.g. a predicted box
# collapsed onto an empty target). Below this bound the quotient keeps its
# value but is a constant for the gradient.
_MIN_DIFFERENTIABLE_DENOMINATOR = 1e-18


def _safe_divide(numerator, denominator):
    """`numerator / denominator`, 0 where `denominator <= 0`.

    Gradients are finite everywhere: where `denominator <
    _MIN_DIFFERENTIABLE_DENOMINATOR` the quotient is a constant for the
    gradient (its value is unchanged), and every branch of the `where`s
    divides by a denominator that is at least that bound, or by 1.
    """
    positive = denominator > 0
    differentiable = denominator >= _MIN_DIFFERENTIABLE_DENOMINATOR
    one = ops.ones_like(denominator)
    quotient = numerator / ops.where(differentiable, denominator, one)
    tiny = ops.stop_gradient(numerator / ops.where(positive, denominator, one))
    return ops.where(
        differentiable, quotient,
        ops.where(positive, tiny, ops.zeros_like(numerator)))


def _box_pairs(boxes1, boxes2, box_format, aligned):
    """float32 `(x1, y1, x2, y2)` of both sets, broadcast to the output."""
    box_format = _check_format(box_format)
    if not isinstance(aligned, bool):
        raise ValueError(
            f"`aligned` must be a bool. Received: aligned={aligned!r}"
        )
    corners = "rel_xyxy" if box_format.startswith("rel_") else "xyxy"
    pairs = []
    for name, boxes in (("boxes1", boxes1), ("boxes2", boxes2)):
        boxes = ops.convert_to_tensor(boxes)
        _check_last_dim(boxes, name)
        if not aligned and len(boxes.shape) < 2:
            raise ValueError(
                f"`{name}` must have shape `[..., N, 4]` (use aligned=True "
                f"for single boxes). Received: {name}.shape="
                f"{tuple(boxes.shape)}"
            )
        pairs.append(convert_format(boxes, box_format, corners))
    b1, b2 = pairs
    if not aligned:
        b1 = ops.expand_dims(b1, -2)  # [..., N, 1, 4]
        b2 = ops.expand_dims(b2, -3)  # [..., 1, M, 4]
    return [b1[..., i] for i in range(4)], [b2[..., i] for i in range(4)]


def _overlap_terms(boxes1, boxes2, box_format, aligned):
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = _box_pairs(
        boxes1, boxes2, box_format, aligned
    )
    aw, ah = ops.relu(ax2 - ax1), ops.relu(ay2 - ay1)
    bw, bh = ops.relu(bx2 - bx1), ops.relu(by2 - by1)
    inter = ops.relu(ops.minimum(ax2, bx2) - ops.maximum(ax1, bx1)) * ops.relu(
        ops.minimum(ay2, by2) - ops.maximum(ay1, by1)
    )
    union = aw * ah + bw * bh - inter
    # Smallest box enclosing both.
    cw = ops.relu(ops.maximum(ax2, bx2) - ops.minimum(ax1, bx1))
    ch = ops.relu(ops.maximum(ay2, by2) - ops.minimum(ay1, by1))
    return {
        "iou": _safe_divide(inter, union),
        "union": union,
        "cw": cw,
        "ch": ch,
        # Squared distance between the centres.
        "rho2": ops.square((ax1 + ax2 - bx1 - bx2) * 0.5)
        + ops.square((ay1 + ay2 - by1 - by2) * 0.5),
        "wh": (aw, ah, bw, bh),
    }


# The Args of the four IoU functions, written once (`{pair_args}`).
_PAIR_ARGS = """boxes1: `[..., N, 4]` boxes (`[..., N, 4]` or any `[..., 4]` with
    `aligned=True`).
boxes2: `[..., M, 4]` boxes; leading dimensions broadcast against
    those of `boxes1` (with `aligned=True`, the same shape as
    `boxes1`, or broadcastable to it).
box_format: format of both sets, one of `kzoo.boxes.FORMATS`.
    Relative boxes are compared in relative coordinates. Defaults to
    `"xyxy"`.
aligned: compare `boxes1[..., i]` with `boxes2[..., i]` only
    (`[..., N]` result) instead of every pair (`[..., N, M]`).
    Defaults to `False`."""
# Their Returns (but the IoU's range) and the start of the example.
_PAIR_RETURNS = """Returns:
    float32 `[..., N, M]` (`[..., N]` with `aligned=True`).

Example:
"""


@fill_doc(pair_args=_PAIR_ARGS)
def compute_iou(boxes1, boxes2, box_format="xyxy", aligned=False):
    """Intersection over union of boxes, pairwise or aligned.

    Formula:

    ```python
    iou = area(A & B) / (area(A) + area(B) - area(A & B))
    ```

    0 when the union is empty (both boxes empty); an empty box (zero area
    or inverted corners) has IoU 0 with every box. Computed in float32
    whatever the input dtype; no epsilon (unlike
    `keras.utils.bounding_boxes.compute_iou`, which adds one to the union
    and has no empty-box rule for inverted corners).

    Args:
        {pair_args}

    Returns:
        float32 `[..., N, M]` (`[..., N]` with `aligned=True`), in `[0, 1]`.

    Example:

    >>> a = np.array([[0.0, 0.0, 2.0, 2.0]])
    >>> b = np.array([[1.0, 1.0, 3.0, 3.0], [5.0, 5.0, 6.0, 6.0]])
    >>> kzoo.boxes.compute_iou(a, b)  # 1 / (4 + 4 - 1), 0
    [[0.14285715, 0.]]
    """
    return _overlap_terms(boxes1, boxes2, box_format, aligned)["iou"]


@fill_doc(pair_args=_PAIR_ARGS, pair_returns=_PAIR_RETURNS)
def compute_giou(boxes1, boxes2, box_format="xyxy", aligned=False):
    """Generalized IoU, pairwise or aligned.

    Formula:

    ```python
    giou = iou - (area(C) - area(A | B)) / area(C)
    ```

    where `C` is the smallest box enclosing `A` and `B`; the penalty is 0
    when `area(C) = 0` (two empty boxes on a line or a point). In
    `[-1, 1]`; `1 - giou` is the GIoU loss. Computed in float32.

    Args:
        {pair_args}

    {pair_returns}
    >>> a = np.array([[0.0, 0.0, 1.0, 1.0]])
    >>> b = np.array([[2.0, 0.0, 3.0, 1.0]])
    >>> kzoo.boxes.compute_giou(a, b)  # 0 - (3 - 2) / 3
    [[-0.33333334]]

    Reference:
        - [Rezatofighi et al., 2019](https://arxiv.org/abs/1902.09630).
    """
    t = _overlap_terms(boxes1, boxes2, box_format, aligned)
    enclosing = t["cw"] * t["ch"]
    return t["iou"] - _safe_divide(enclosing - t["union"], enclosing)


@fill_doc(pair_args=_PAIR_ARGS, pair_returns=_PAIR_RETURNS)
def compute_diou(boxes1, boxes2, box_format="xyxy", aligned=False):
    """Distance IoU, pairwise or aligned.

    Formula:

    ```python
    diou = iou - rho**2 / c**2
    ```

    where `rho` is the distance between the two box centres and `c` the
    diagonal of the smallest box enclosing both (penalty 0 when `c = 0`). In
    `[-1, 1]`. Computed in float32.

    Args:
        {pair_args}

    {pair_returns}
    >>> a = np.array([[0.0, 0.0, 1.0, 1.0]])
    >>> b = np.array([[2.0, 0.0, 3.0, 1.0]])
    >>> kzoo.boxes.compute_diou(a, b)  # 0 - 2**2 / (3**2 + 1**2)
    [[-0.4]]

    Reference:
        - [Zheng et al., 2020](https://arxiv.org/abs/1911.08287).
    """
    t = _overlap_terms(boxes1, boxes2, box_format, aligned)
    diagonal2 = ops.square(t["cw"]) + ops.square(t["ch"])
    return t["iou"] - _safe_divide(t["rho2"], diagonal2)


def _angle(w, h):
    """`arctan(w / h)` with `arctan2`, 0 for an empty `w = h = 0` box.

    A constant for the gradient where `w**2 + h**2 <
    _MIN_DIFFERENTIABLE_DENOMINATOR` (its derivatives `h / (w**2 + h**2)`
    and `-w / (w**2 + h**2)` overflow float32 for tiny boxes).
    """
    nonempty = (w + h) > 0
    differentiable = (ops.square(w) + ops.square(h)
                      >= _MIN_DIFFERENTIABLE_DENOMINATOR)
    one = ops.ones_like(w)
    angle = ops.arctan2(ops.where(differentiable, w, one),
                        ops.where(differentiable, h, one))
    tiny = ops.stop_gradient(ops.arctan2(ops.where(nonempty, w, one),
                                         ops.where(nonempty, h, one)))
    return ops.where(differentiable, angle,
                     ops.where(nonempty, tiny, ops.zeros_like(w)))


@fill_doc(pair_args=_PAIR_ARGS, pair_returns=_PAIR_RETURNS)
def compute_ciou(boxes1, boxes2, box_format="xyxy", aligned=False):
    """Complete IoU, pairwise or aligned.

    Formula:

    ```python
    v = 4 / pi**2 * (arctan(w2 / h2) - arctan(w1 / h1))**2
    alpha = stop_gradient(v / (1 - iou + v))
    ciou = diou - alpha * v
    ```

    with `diou` of `kzoo.boxes.compute_diou`. `alpha` is a constant for the
    gradient, as in the authors' code, torchvision's `complete_box_iou_loss`
    and Ultralytics (Keras' `compute_ciou` differentiates it); it is 0 when
    `1 - iou + v = 0` (identical aspect ratios and IoU 1) rather than adding
    an epsilon. `arctan(w / h)` is `arctan2(w, h)` (`pi / 2` for `h = 0`, 0
    for an empty `w = h = 0` box). Symmetric in `boxes1` and `boxes2`.
    Computed in float32; `1 - ciou` is the CIoU loss.

    Args:
        {pair_args}

    {pair_returns}
    >>> a = np.array([[0.0, 0.0, 2.0, 2.0]])
    >>> b = np.array([[0.0, 0.0, 2.0, 1.0]])
    >>> kzoo.boxes.compute_ciou(a, b)  # 0.5 - 0.25 / 8 - 0.0775 * 0.0420
    [[0.4655019]]

    Reference:
        - [Zheng et al., 2020](https://arxiv.org/abs/1911.08287).
    """
    t = _overlap_terms(boxes1, boxes2, box_format, aligned)
    diagonal2 = ops.square(t["cw"]) + ops.square(t["ch"])
    aw, ah, bw, bh = t["wh"]
    v = (4.0 / math.pi**2) * ops.square(_angle(bw, bh) - _angle(aw, ah))
    alpha = ops.stop_gradient(_safe_divide(v, 1.0 - t["iou"] + v))
    return t["iou"] - _safe_divide(t["rho2"], diagonal2) - alpha * v


# ------------------------------------------------------ non-max suppression


def _check_nms_args(iou_threshold, score_threshold, max_detections,
                    box_format, max_detections_per_class=None):
    ok = isinstance(iou_threshold, numbers.Real) and not isinstance(
        iou_threshold, bool)
    if not ok or not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(
            "`iou_threshold` must be a number in [0, 1]. "
            f"Received: iou_threshold={iou_threshold!r}"
        )
    ok = isinstance(score_threshold, numbers.Real) and not isinstance(
        score_threshold, bool)
    if not ok or math.isnan(score_threshold):
        raise ValueError(
            "`score_threshold` must be a number. "
            f"Received: score_threshold={score_threshold!r}"
        )
    for name, value in (("max_detections", max_detections),
                        ("max_detections_per_class", max_detections_per_class)):
        if name == "max_detections_per_class" and value is None:
            continue
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) \
                or value < 0:
            raise ValueError(
                f"`{name}` must be a non-negative integer. "
                f"Received: {name}={value!r}"
            )
    return _check_format(box_format)


def _nms_boxes(boxes, box_format):
    """float32 boxes in `tf.image`'s (relative or absolute) yxyx order."""
    target = "rel_yxyx" if box_format.startswith("rel_") else "yxyx"
    return convert_format(boxes, box_format, target)


def non_max_suppression(boxes, scores, iou_threshold=0.5, score_threshold=0.6,
                        max_detections=100, box_format="xyxy"):
    """Greedy non-max suppression of one image's boxes (class-agnostic).

    The course's procedure: discard every box with score `p_c <=
    score_threshold`; while boxes remain, take the one with the highest
    score as a detection and discard the remaining boxes that overlap it by
    `IoU > iou_threshold`; stop after `max_detections` detections. Equal
    scores are taken in order of increasing index.

    It keeps exactly what `tf.image.non_max_suppression(convert_format(boxes,
    box_format, "yxyx"), scores, max_detections, iou_threshold,
    score_threshold)` keeps, in the same order: that kernel does the work.
    Note the strict inequality: the course discards boxes with `IoU >= 0.5`,
    TensorFlow (and so kzoo) those with `IoU > 0.5`; the two differ only
    when an IoU equals the threshold exactly. Inputs are computed in float32
    (half-precision boxes and scores are upcast, exactly); relative formats
    are suppressed in relative coordinates.

    Args:
        boxes: `[N, 4]` boxes in `box_format`.
        scores: `[N]` scores (e.g. `p_c`, or `p_c` times a class probability).
        iou_threshold: a box is suppressed when its IoU with a kept box is
            greater than this, in `[0, 1]`. Defaults to `0.5`.
        score_threshold: only boxes with a score greater than this are
            candidates. Defaults to `0.6`.
        max_detections: maximum number of kept boxes. Defaults to `100`.
        box_format: format of `boxes`, one of `kzoo.boxes.FORMATS`.
            Defaults to `"xyxy"`.

    Returns:
        int32 `[K]` indices into `boxes` of the kept boxes, `K <=
        max_detections`, by descending score.

    Example:

    >>> boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]],
    ...                  "float32")
    >>> kzoo.boxes.non_max_suppression(boxes, np.array([0.9, 0.8, 0.7]))
    [0, 2]  # box 1 overlaps box 0 by IoU 90 / 110 > 0.5

    Reference:
        - [`tf.image.non_max_suppression`](
          https://www.tensorflow.org/api_docs/python/tf/image/non_max_suppression).
    """
    box_format = _check_nms_args(iou_threshold, score_threshold,
                                 max_detections, box_format)
    boxes = ops.convert_to_tensor(boxes)
    scores = ops.convert_to_tensor(scores)
    if len(boxes.shape) != 2 or len(scores.shape) != 1:
        raise ValueError(
            "`boxes` must have shape `[N, 4]` and `scores` shape `[N]`. "
            f"Received: boxes.shape={tuple(boxes.shape)}, "
            f"scores.shape={tuple(scores.shape)}"
        )
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.image.non_max_suppression(
            _nms_boxes(boxes, box_format), tf.cast(scores, tf.float32),
            max_detections, iou_threshold=iou_threshold,
            score_threshold=score_threshold,
        )
    out = _batched(boxes[None], scores[None], None, iou_threshold,
                   score_threshold, max_detections, None, box_format)
    return _first_detections(out)


def _first_detections(out):
    """Image 0's kept indices, `[K]` (a size known only from the values:
    eager execution, or TensorFlow graphs)."""
    if keras.backend.backend() == "tensorflow":
        return out["indices"][0, :out["num_detections"][0]]
    count = int(ops.convert_to_numpy(out["num_detections"][0]))
    return out["indices"][0, :count]


def _batched(boxes, scores, classes, iou_threshold, score_threshold,
             max_detections, max_detections_per_class, box_format):
    """Checked inputs of `batched_non_max_suppression` to its graph."""
    box_format = _check_nms_args(iou_threshold, score_threshold,
                                 max_detections, box_format,
                                 max_detections_per_class)
    boxes = ops.convert_to_tensor(boxes)
    scores = ops.convert_to_tensor(scores)
    if len(boxes.shape) != 3 or boxes.shape[-1] not in (4, None):
        raise ValueError(
            "`boxes` must have shape `[B, N, 4]`. "
            f"Received: boxes.shape={tuple(boxes.shape)}"
        )
    if len(scores.shape) not in (2, 3):
        raise ValueError(
            "`scores` must have shape `[B, N]` or `[B, N, C]`. "
            f"Received: scores.shape={tuple(scores.shape)}"
        )
    if classes is not None:
        classes = ops.convert_to_tensor(classes)
        if len(scores.shape) == 3:
            raise ValueError(
                "`classes` must be None when `scores` has shape `[B, N, C]` "
                f"(each class has its own score). Received: classes with "
                f"shape {tuple(classes.shape)}"
            )
        if len(classes.shape) != 2:
            raise ValueError(
                "`classes` must have shape `[B, N]`. "
                f"Received: classes.shape={tuple(classes.shape)}"
            )
    per_class = max_detections if max_detections_per_class is None else min(
        max_detections_per_class, max_detections)
    if classes is None and len(scores.shape) == 2:  # class-agnostic
        scores = scores[..., None]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        from kzoo import _nms_tf

        mode = "per_class_scores" if classes is None else "class_aware"
        boxes = tf.cast(boxes, tf.float32)
        return _nms_tf.BATCHED_NMS_GRAPHS[mode](
            boxes, _nms_boxes(boxes, box_format), scores, classes,
            tf.constant(iou_threshold, tf.float32),
            tf.constant(score_threshold, tf.float32),
            int(max_detections), int(per_class))
    from kzoo import _nms_ops

    boxes = ops.cast(boxes, "float32")
    return _nms_ops.batched_nms(
        boxes, _nms_boxes(boxes, box_format), ops.cast(scores, "float32"),
        classes, float(iou_threshold), float(score_threshold),
        int(max_detections), int(per_class))


def batched_non_max_suppression(boxes, scores, classes=None, iou_threshold=0.5,
                                score_threshold=0.6, max_detections=100,
                                max_detections_per_class=None,
                                box_format="xyxy"):
    """Per-image (and per-class) non-max suppression, padded to a fixed size.

    Three modes, by the shapes of `scores` and `classes`:

    - `scores` `[B, N, C]` (e.g. YOLO's `p_c` times class probabilities):
      every (box, class) pair is a candidate and NMS runs per class, like
      `tf.image.combined_non_max_suppression` (without its clipping, and
      with `tf.image.non_max_suppression`'s tie rule);
    - `scores` `[B, N]` with int `classes` `[B, N]`: class-aware, each box
      competes only with boxes of its class; boxes of a negative class
      (e.g. the -1 of padding rows) are never kept;
    - `scores` `[B, N]` with `classes=None`: class-agnostic (output class 0).

    For every image and class, the kept pairs are exactly those
    `kzoo.boxes.non_max_suppression` (i.e. `tf.image.non_max_suppression`)
    keeps on that class's scores with `max_detections_per_class` as its
    maximum; they are merged by descending score (ties: lower box index,
    then lower class first) and the first `max_detections` returned. The
    thresholds follow `tf.image.non_max_suppression`: candidates need
    `score > score_threshold`, suppression needs `IoU > iou_threshold` (the
    course's rule is `IoU >= 0.5`; see `kzoo.boxes.non_max_suppression`).
    Implementation: one NMS kernel call per image and class (with `[B, N]`
    scores, per image and class present among the candidates) inside a
    `tf.map_fn`, so the batch size may be unknown at trace time; the merge
    is a stable sort. Eager calls run a cached `tf.function`. Computed in
    float32 (half-precision inputs are upcast exactly).

    Args:
        boxes: `[B, N, 4]` boxes in `box_format`.
        scores: `[B, N, C]` or `[B, N]` scores.
        classes: `[B, N]` int classes with `[B, N]` scores, else `None`.
            Defaults to `None`.
        iou_threshold: IoU above which a box is suppressed, in `[0, 1]`.
            Defaults to `0.5`.
        score_threshold: score a candidate must exceed. Defaults to `0.6`.
        max_detections: `K`, the number of output rows per image. Defaults
            to `100`.
        max_detections_per_class: maximum kept per image and class; `None`
            means no limit other than `max_detections`. Defaults to `None`.
        box_format: format of `boxes` (and of the output boxes), one of
            `kzoo.boxes.FORMATS`. Defaults to `"xyxy"`.

    Returns:
        A dict: `"boxes"` float32 `[B, K, 4]` (input format), `"classes"`
        int32 `[B, K]`, `"scores"` float32 `[B, K]`, `"num_detections"`
        int32 `[B]`. Rows are by descending score; rows past
        `num_detections` are padding: boxes 0, classes -1, scores 0.

    Example:

    >>> boxes = np.array([[[0, 0, 10, 10], [1, 0, 11, 10]]], "float32")
    >>> scores = np.array([[[0.9, 0.1], [0.8, 0.7]]], "float32")
    >>> out = kzoo.boxes.batched_non_max_suppression(boxes, scores,
    ...                                              max_detections=3)
    >>> out["classes"], out["num_detections"]  # box 1 kept as class 1 only
    [[0, 1, -1]], [2]
    """
    out = _batched(boxes, scores, classes, iou_threshold=iou_threshold,
                   score_threshold=score_threshold,
                   max_detections=max_detections,
                   max_detections_per_class=max_detections_per_class,
                   box_format=box_format)
    out.pop("indices")
    return out


def class_aware_non_max_suppression(boxes, scores, classes, iou_threshold=0.5,
                                    score_threshold=0.6, max_detections=100,
                                    box_format="xyxy",
                                    max_detections_per_class=None):
    """Non-max suppression run independently per class, for one image.

    Each class's boxes go through `kzoo.boxes.non_max_suppression` (exactly
    `tf.image.non_max_suppression`, `max_detections_per_class` kept at
    most); the kept boxes of all classes are merged by descending score
    (ties: lower index first) and the first `max_detections` returned.
    Boxes of a negative class (e.g. -1 padding) are never kept. The
    thresholds are TensorFlow's: `score > score_threshold`, suppressed when
    `IoU > iou_threshold` (the course writes `>=`; they differ only at
    exact equality).

    Args:
        boxes: `[N, 4]` boxes in `box_format`.
        scores: `[N]` scores.
        classes: `[N]` int classes.
        iou_threshold: IoU above which a box is suppressed, in `[0, 1]`.
            Defaults to `0.5`.
        score_threshold: score a candidate must exceed. Defaults to `0.6`.
        max_detections: maximum number of kept boxes. Defaults to `100`.
        box_format: format of `boxes`, one of `kzoo.boxes.FORMATS`.
            Defaults to `"xyxy"`.
        max_detections_per_class: maximum kept per class; `None` means no
            limit other than `max_detections`. Defaults to `None`.

    Returns:
        int32 `[K]` indices into `boxes`, by descending score.

    Example:

    >>> boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10]], "float32")
    >>> kzoo.boxes.class_aware_non_max_suppression(
    ...     boxes, np.array([0.9, 0.8]), np.array([0, 1]))
    [0, 1]  # different classes never suppress each other
    """
    boxes = ops.convert_to_tensor(boxes)
    scores = ops.convert_to_tensor(scores)
    classes = ops.convert_to_tensor(classes)
    if len(boxes.shape) != 2 or len(scores.shape) != 1 \
            or len(classes.shape) != 1:
        raise ValueError(
            "`boxes` must have shape `[N, 4]`, `scores` and `classes` shape "
            f"`[N]`. Received: boxes.shape={tuple(boxes.shape)}, "
            f"scores.shape={tuple(scores.shape)}, "
            f"classes.shape={tuple(classes.shape)}"
        )
    out = _batched(
        boxes[None], scores[None], classes[None], iou_threshold=iou_threshold,
        score_threshold=score_threshold, max_detections=max_detections,
        max_detections_per_class=max_detections_per_class,
        box_format=box_format)
    return _first_detections(out)
