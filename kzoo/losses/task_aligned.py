"""Pieces of an anchor-free (YOLOv8-style) detector: anchor points, the
distribution focal loss and its decoding, and the task-aligned assigner.

An anchor-free head predicts, at every point of every feature map (the
centre of a cell, in pixels), class scores and the distances from the
point to the box's four sides, each distance as a distribution over
`reg_max` bins of one stride each (Li et al. 2020, Generalized Focal
Loss): the distance is the distribution's expectation, and the
distribution focal loss (DFL) teaches it to put its mass on the two bins
around the target. Which points learn which box is decided per image by
the task-aligned assigner (Feng et al. 2021, TOOD), as in YOLOv8: among
the points inside a box, the `top_k` with the highest
`score ** alpha * IoU ** beta` (the predicted score of the box's class and
the IoU of the predicted box), a point claimed by several boxes going to
the one it overlaps most; the class target is the alignment, rescaled so
that each box's best point gets its best IoU.

Conventions: boxes are `xyxy` in pixels; distances `ltrb` in strides;
everything is `keras.ops` (every backend).
"""

import keras
from keras import ops

from kzoo._api import kzoo_export
from kzoo.boxes import compute_iou
from kzoo.losses._docs import shared_loss_args


@kzoo_export("kzoo.losses.anchor_points")
def anchor_points(feature_sizes, strides):
    """The cell centres of feature maps, in pixels, and their strides.

    Args:
        feature_sizes: list of `(height, width)` of each map.
        strides: list of each map's stride in pixels.

    Returns:
        `(points [A, 2] as (x, y), strides [A, 1])`, maps in order, each
        row by row: the order of the head's flattened outputs.
    """
    if len(feature_sizes) != len(strides) or not strides:
        raise ValueError("one stride per feature map. Received: "
                         f"feature_sizes={feature_sizes}, strides={strides}")
    points, point_strides = [], []
    for (h, w), s in zip(feature_sizes, strides):
        ys, xs = ops.meshgrid(ops.arange(h, dtype="float32"),
                              ops.arange(w, dtype="float32"), indexing="ij")
        grid = ops.stack([ops.reshape(xs, (-1,)), ops.reshape(ys, (-1,))], 1)
        points.append((grid + 0.5) * float(s))
        point_strides.append(ops.full((h * w, 1), float(s), "float32"))
    return ops.concatenate(points, 0), ops.concatenate(point_strides, 0)


def _sides(logits, reg_max):
    """The shape `[..., 4, reg_max]` of `[..., 4 * reg_max]` logits, with
    `-1` for the one unknown (batch) dimension of a symbolic tensor."""
    static = tuple(logits.shape[:-1])
    if sum(d is None for d in static) <= 1:
        return tuple(-1 if d is None else d for d in static) + (4, reg_max)
    return tuple(ops.shape(logits)[:-1]) + (4, reg_max)


@kzoo_export("kzoo.losses.dfl_distances")
def dfl_distances(logits, reg_max=16):
    """Expected side distances (in strides) of DFL logits.

    Args:
        logits: `[..., 4 * reg_max]`, the four sides `l, t, r, b` in turn.
        reg_max: bins per side (distances `0 .. reg_max - 1`). Defaults to
            `16`.

    Returns:
        `[..., 4]` distances.
    """
    x = ops.reshape(ops.cast(logits, "float32"), _sides(logits, reg_max))
    bins = ops.arange(reg_max, dtype="float32")
    return ops.sum(ops.softmax(x, axis=-1) * bins, axis=-1)


@kzoo_export("kzoo.losses.distances_to_boxes")
def distances_to_boxes(distances, points, strides):
    """`xyxy` boxes from `ltrb` distances (in strides) at anchor points."""
    d = distances * strides
    return ops.concatenate([points - d[..., :2], points + d[..., 2:]], -1)


@kzoo_export("kzoo.losses.boxes_to_distances")
def boxes_to_distances(boxes, points, strides, reg_max=16):
    """`ltrb` distances (in strides) from points to `xyxy` boxes, clipped to
    `[0, reg_max - 1.01]` (the largest distance the bins can express)."""
    d = ops.concatenate([points - boxes[..., :2], boxes[..., 2:] - points],
                        -1) / strides
    return ops.clip(d, 0.0, reg_max - 1.01)


@kzoo_export("kzoo.losses.distribution_focal_loss")
def distribution_focal_loss(logits, target, reg_max=16):
    """DFL (Li et al. 2020): cross-entropy to the two bins around each
    target distance, weighted by closeness.

    Formula:

    ```python
    i = floor(y); w_left = i + 1 - y; w_right = y - i
    dfl = w_left * CE(logits, i) + w_right * CE(logits, i + 1)
    ```
    averaged over the four sides.

    Args:
        logits: `[..., 4 * reg_max]`.
        target: `[..., 4]` distances in `[0, reg_max - 1)`.
        reg_max: bins per side. Defaults to `16`.

    Returns:
        `[...]` loss per box.

    Reference:
        - [Li et al., 2020, "Generalized Focal Loss"](
          https://arxiv.org/abs/2006.04388).
    """
    x = ops.reshape(ops.cast(logits, "float32"), _sides(logits, reg_max))
    log_p = ops.log_softmax(x, axis=-1)
    target = ops.cast(target, "float32")
    left = ops.floor(target)
    w_left = left + 1.0 - target
    w_right = target - left
    left_i = ops.cast(left, "int32")
    pick_left = ops.take_along_axis(log_p, left_i[..., None], axis=-1)[..., 0]
    pick_right = ops.take_along_axis(
        log_p, ops.minimum(left_i + 1, reg_max - 1)[..., None], axis=-1)[..., 0]
    return ops.mean(-(w_left * pick_left + w_right * pick_right), axis=-1)


@kzoo_export("kzoo.losses.task_aligned_assign")
def task_aligned_assign(scores, pred_boxes, points, gt_boxes, gt_classes,
                        gt_mask, top_k=10, alpha=0.5, beta=6.0, eps=1e-9):
    """The task-aligned assignment of YOLOv8 (TOOD), per image of a batch.

    Args:
        scores: `[B, A, C]` predicted class probabilities (after sigmoid).
        pred_boxes: `[B, A, 4]` predicted `xyxy` boxes.
        points: `[A, 2]` anchor points.
        gt_boxes: `[B, M, 4]` true `xyxy` boxes (padded).
        gt_classes: `[B, M]` integer classes.
        gt_mask: `[B, M]`, 1 for a real box, 0 for padding.
        top_k: points kept per box. Defaults to `10`.
        alpha: power of the score. Defaults to `0.5`.
        beta: power of the IoU. Defaults to `6.0`.
        eps: small constant. Defaults to `1e-9`.

    Returns:
        A dict: `"foreground"` `[B, A]` (1 where a point has a box),
        `"boxes"` `[B, A, 4]` (its box, zeros elsewhere), `"classes"`
        `[B, A]` (its class, 0 elsewhere), `"scores"` `[B, A, C]` (the
        soft class targets: the one-hot class times the normalised
        alignment), `"gt_index"` `[B, A]`.
    """
    scores = ops.cast(scores, "float32")
    pred_boxes = ops.cast(pred_boxes, "float32")
    gt_boxes = ops.cast(gt_boxes, "float32")
    gt_mask = ops.cast(gt_mask, "float32")
    num_classes = ops.shape(scores)[-1]
    num_points = ops.shape(points)[0]
    # [B, M, A]: is the point inside the box (strictly), for real boxes
    px, py = points[:, 0][None, None], points[:, 1][None, None]
    inside = ((px > gt_boxes[..., 0:1]) & (py > gt_boxes[..., 1:2])
              & (px < gt_boxes[..., 2:3]) & (py < gt_boxes[..., 3:4]))
    inside = ops.cast(inside, "float32") * gt_mask[..., None]
    # [B, M, A] IoU of each box with each point's predicted box
    iou = ops.clip(compute_iou(gt_boxes, pred_boxes), 0.0, 1.0)
    onehot = ops.one_hot(ops.cast(gt_classes, "int32"), num_classes)  # B,M,C
    score = ops.einsum("bmc,bac->bma", onehot, scores)
    align = ops.power(score, alpha) * ops.power(iou, beta) * inside
    # top-k points per box by alignment
    k = min(int(top_k), int(num_points)) if isinstance(
        num_points, int) else int(top_k)
    kth = ops.top_k(align, k)[0][..., -1:]  # [B, M, 1]
    candidate = ops.cast(align >= ops.maximum(kth, eps), "float32") * inside
    # a point claimed by several boxes: the box it overlaps most
    claimed = ops.sum(candidate, axis=1)  # [B, A]
    best_box = ops.argmax(iou * candidate - (1.0 - candidate), axis=1)
    only_best = ops.one_hot(best_box, ops.shape(gt_boxes)[1], axis=1)
    candidate = ops.where((claimed > 1.0)[:, None, :], only_best * candidate,
                          candidate)
    foreground = ops.cast(ops.sum(candidate, axis=1) > 0, "float32")  # B, A
    gt_index = ops.argmax(candidate, axis=1)  # [B, A]
    boxes = ops.take_along_axis(gt_boxes, gt_index[..., None], axis=1)
    classes = ops.take_along_axis(ops.cast(gt_classes, "int32"), gt_index,
                                  axis=1)
    # soft targets: alignment / the box's best alignment * its best IoU
    align = align * candidate
    max_align = ops.max(align, axis=2, keepdims=True)  # [B, M, 1]
    max_iou = ops.max(iou * candidate, axis=2, keepdims=True)
    norm = ops.max(align / (max_align + eps) * max_iou, axis=1)  # [B, A]
    target_scores = (ops.one_hot(classes, num_classes)
                     * (norm * foreground)[..., None])
    return {"foreground": foreground,
            "boxes": boxes * foreground[..., None],
            "classes": classes * ops.cast(foreground, "int32"),
            "scores": target_scores, "gt_index": gt_index}


def _bce_logits(logits, targets):
    return (ops.maximum(logits, 0.0) - logits * targets
            + ops.log1p(ops.exp(-ops.abs(logits))))


@kzoo_export("kzoo.losses.AnchorFreeDetectionLoss")
@shared_loss_args
class AnchorFreeDetectionLoss(keras.losses.Loss):
    """YOLOv8's loss of an anchor-free head: task-aligned targets, BCE on
    the classes, CIoU and DFL on the boxes.

    `y_pred` is the head's `[B, A, 4 * reg_max + C]` output
    (`kzoo.layers.AnchorFreeHead`); `y_true` a dict `{"boxes": [B, M, 4]
    xyxy pixels, "classes": [B, M], "mask": [B, M]}` (padded boxes have
    mask 0), or the same packed as one `[B, M, 6]` tensor `(x1, y1, x2,
    y2, class, mask)` (what `fit` with a compiled loss takes). Per batch: points are assigned by `task_aligned_assign` on the
    detached predictions; with `T` the sum of the soft class targets
    (at least 1),

    ```python
    cls = sum(BCE(class_logits, target_scores)) / T
    box = sum((1 - CIoU(pred_box, target_box)) * w) / T   # w: the point's
    dfl = sum(DFL(box_logits, target_distances) * w) / T  # target score
    loss = box_weight * box + class_weight * cls + dfl_weight * dfl
    ```

    returned as `[B]` values whose mean is that loss (the default
    reduction). Under `tf.distribute`, `T` is the replica's (not yet the
    global batch's).

    Args:
        num_classes: classes.
        feature_sizes: `(height, width)` of each map of the head.
        strides: each map's stride in pixels.
        reg_max: bins per side. Defaults to `16`.
        top_k: the assigner's points per box. Defaults to `10`.
        alpha: the assigner's score power. Defaults to `0.5`.
        beta: the assigner's IoU power. Defaults to `6.0`.
        box_weight: weight of the CIoU term. Defaults to `7.5`.
        class_weight: weight of the class term. Defaults to `0.5`.
        dfl_weight: weight of the DFL term. Defaults to `1.5`.
        {loss_args}
    """

    def __init__(self, num_classes, feature_sizes, strides, reg_max=16,
                 top_k=10, alpha=0.5, beta=6.0, box_weight=7.5,
                 class_weight=0.5, dfl_weight=1.5,
                 reduction="sum_over_batch_size",
                 name="anchor_free_detection_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.num_classes = int(num_classes)
        self.feature_sizes = [tuple(int(v) for v in s)
                              for s in feature_sizes]
        self.strides = [int(s) for s in strides]
        self.reg_max = int(reg_max)
        self.top_k, self.alpha, self.beta = int(top_k), float(alpha), float(
            beta)
        self.box_weight = float(box_weight)
        self.class_weight = float(class_weight)
        self.dfl_weight = float(dfl_weight)

    def call(self, y_true, y_pred):
        from kzoo.boxes import compute_ciou

        points, strides = anchor_points(self.feature_sizes, self.strides)
        y_pred = ops.cast(y_pred, "float32")
        if not isinstance(y_true, dict):
            packed = ops.cast(y_true, "float32")
            y_true = {"boxes": packed[..., :4],
                      "classes": ops.cast(packed[..., 4], "int32"),
                      "mask": packed[..., 5]}
        box_logits = y_pred[..., :4 * self.reg_max]
        class_logits = y_pred[..., 4 * self.reg_max:]
        pred_boxes = distances_to_boxes(
            dfl_distances(box_logits, self.reg_max), points, strides)
        assign = task_aligned_assign(
            ops.stop_gradient(ops.sigmoid(class_logits)),
            ops.stop_gradient(pred_boxes), points, y_true["boxes"],
            y_true["classes"], y_true["mask"], self.top_k, self.alpha,
            self.beta)
        targets = ops.stop_gradient(assign["scores"])
        total = ops.maximum(ops.sum(targets), 1.0)
        weight = ops.sum(targets, axis=-1)  # [B, A]
        cls = ops.sum(_bce_logits(class_logits, targets), axis=(1, 2))
        ciou = compute_ciou(pred_boxes, ops.stop_gradient(assign["boxes"]),
                            aligned=True)
        box = ops.sum((1.0 - ciou) * weight, axis=1)
        distances = boxes_to_distances(assign["boxes"], points, strides,
                                       self.reg_max)
        dfl = ops.sum(distribution_focal_loss(
            box_logits, ops.stop_gradient(distances), self.reg_max)
            * weight, axis=1)
        batch = ops.cast(ops.shape(y_pred)[0], "float32")
        return (self.box_weight * box + self.class_weight * cls
                + self.dfl_weight * dfl) / total * batch

    def get_config(self):
        config = super().get_config()
        config["dtype"] = self._dtype_policy.name
        config.update(num_classes=self.num_classes,
                      feature_sizes=[list(s) for s in self.feature_sizes],
                      strides=self.strides, reg_max=self.reg_max,
                      top_k=self.top_k, alpha=self.alpha, beta=self.beta,
                      box_weight=self.box_weight,
                      class_weight=self.class_weight,
                      dfl_weight=self.dfl_weight)
        return config
