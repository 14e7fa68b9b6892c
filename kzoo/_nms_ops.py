"""`keras.ops` non-max suppression for the JAX and PyTorch backends (private).

The same selection as `tf.image.non_max_suppression` (which `kzoo._nms_tf`
calls under TensorFlow): candidates have `score > score_threshold`; in
order of descending score (equal scores: lower index first), a candidate is
kept unless a kept box overlaps it by `IoU > iou_threshold` or its class
already has `per_class` kept boxes. IoU is the kernel's: corners are read
as the rectangle they span, and a box of zero area overlaps nothing.

Every image and class is solved at once: a loop of `N` steps (one per rank)
over `[P, N]` state, `P` problems of `N` boxes, with the `[B, N, N]`
overlap matrix of each image computed once. Shapes are static, so it runs
under `jax.jit` (`N` and the class count must be known).
"""

import math

from keras import ops


def _overlaps(boxes, iou_threshold):
    """`[B, N, N]` bool `IoU > iou_threshold` of yxyx boxes, as the kernel
    computes it."""
    y1, x1, y2, x2 = (boxes[..., i] for i in range(4))
    ymin, ymax = ops.minimum(y1, y2), ops.maximum(y1, y2)
    xmin, xmax = ops.minimum(x1, x2), ops.maximum(x1, x2)
    area = (ymax - ymin) * (xmax - xmin)

    def pair(a):
        return ops.expand_dims(a, 2), ops.expand_dims(a, 1)

    (ymin_i, ymin_j), (ymax_i, ymax_j) = pair(ymin), pair(ymax)
    (xmin_i, xmin_j), (xmax_i, xmax_j) = pair(xmin), pair(xmax)
    inter = ops.relu(ops.minimum(ymax_i, ymax_j) - ops.maximum(ymin_i, ymin_j)) \
        * ops.relu(ops.minimum(xmax_i, xmax_j) - ops.maximum(xmin_i, xmin_j))
    area_i, area_j = pair(area)
    union = area_i + area_j - inter
    nonempty = ops.logical_and(area_i > 0, area_j > 0)
    iou = ops.where(nonempty, inter / ops.where(nonempty, union, 1.0), 0.0)
    return iou > iou_threshold


def _greedy(scores, overlap_rows, image_of, same_rows, per_class,
            score_threshold):
    """Kept mask `[P, N]` of `P` problems over `N` boxes each.

    `overlap_rows` / `same_rows` are `[B * N, N]` (row `b * N + i`: the
    boxes of image `b` that box `i` suppresses / shares a class with;
    `same_rows=None`: one class per problem); `image_of` `[P]` is each
    problem's image.
    """
    num_problems, num = ops.shape(scores)[0], ops.shape(scores)[1]
    if num == 0:
        return ops.zeros((num_problems, 0), "bool")
    candidate = scores > score_threshold
    # Descending score; a stable sort keeps equal scores in index order.
    order = ops.cast(ops.argsort(-scores, axis=1), "int32")
    ranks = ops.arange(num, dtype="int32")

    def step(t, state):
        keep, suppressed, count = state
        idx = order[:, t]
        at = ops.expand_dims(idx, 1)
        ok = ops.logical_and(
            ops.take_along_axis(candidate, at, axis=1)[:, 0],
            ops.logical_not(ops.take_along_axis(suppressed, at, axis=1)[:, 0]))
        active = ops.logical_and(
            ok, ops.take_along_axis(count, at, axis=1)[:, 0] < per_class)
        hit = ops.logical_and(ops.expand_dims(active, 1),
                              ops.expand_dims(ranks, 0) == at)
        rows = image_of * num + idx
        keep = ops.logical_or(keep, hit)
        suppressed = ops.logical_or(suppressed, ops.logical_and(
            ops.expand_dims(active, 1), ops.take(overlap_rows, rows, axis=0)))
        if same_rows is None:
            count = count + ops.expand_dims(ops.cast(active, "int32"), 1)
        else:
            count = count + ops.cast(ops.logical_and(
                ops.expand_dims(active, 1), ops.take(same_rows, rows, axis=0)),
                "int32")
        return keep, suppressed, count

    state = (ops.zeros((num_problems, num), "bool"),
             ops.zeros((num_problems, num), "bool"),
             ops.zeros((num_problems, num), "int32"))
    keep, _, _ = ops.fori_loop(0, num, step, state)
    return keep


def _top(kept_scores, max_detections):
    """Order of the `max_detections` best kept entries of each row (stable:
    lower flat index first at equal scores) and their scores (-inf past
    the kept ones)."""
    width = ops.shape(kept_scores)[1]
    if width < max_detections:
        kept_scores = ops.pad(kept_scores,
                              [[0, 0], [0, max_detections - width]],
                              constant_values=-math.inf)
    order = ops.cast(ops.argsort(-kept_scores, axis=1), "int32")
    order = order[:, :max_detections]
    return order, ops.take_along_axis(kept_scores, order, axis=1)


def batched_nms(boxes, nms_boxes, scores, classes, iou_threshold,
                score_threshold, max_detections, per_class):
    """`kzoo.boxes.batched_non_max_suppression`'s result (plus `"indices"`)
    from checked float32 inputs: `boxes` `[B, N, 4]` in the input format,
    `nms_boxes` the same in yxyx, `scores` `[B, N, C]` (`classes=None`) or
    `[B, N]` with int `classes` `[B, N]`."""
    batch, num = ops.shape(boxes)[0], ops.shape(boxes)[1]
    overlap_rows = ops.reshape(_overlaps(nms_boxes, iou_threshold),
                               (batch * num, num))
    neg_inf = ops.full_like(scores, -math.inf)
    if classes is None:  # every (box, class) pair, NMS per class
        num_classes = ops.shape(scores)[2]
        problems = ops.reshape(ops.transpose(scores, (0, 2, 1)),
                               (batch * num_classes, num))
        image_of = ops.repeat(ops.arange(batch, dtype="int32"), num_classes)
        keep = _greedy(problems, overlap_rows, image_of, None, per_class,
                       score_threshold)
        keep = ops.transpose(ops.reshape(keep, (batch, num_classes, num)),
                             (0, 2, 1))
        flat = ops.reshape(ops.where(keep, scores, neg_inf),
                           (batch, num * num_classes))
        order, top_scores = _top(flat, max_detections)
        index, top_classes = order // num_classes, order % num_classes
    else:  # class-aware: boxes compete within their class only
        classes = ops.cast(classes, "int32")
        same = ops.expand_dims(classes, 2) == ops.expand_dims(classes, 1)
        overlap_rows = ops.logical_and(
            overlap_rows, ops.reshape(same, (batch * num, num)))
        valid_class = classes >= 0
        problems = ops.where(valid_class, scores, neg_inf)
        keep = _greedy(problems, overlap_rows,
                       ops.arange(batch, dtype="int32"),
                       ops.reshape(same, (batch * num, num)), per_class,
                       score_threshold)
        order, top_scores = _top(ops.where(keep, scores, neg_inf),
                                 max_detections)
        index = order
        padded = ops.pad(classes, [[0, 0], [0, max_detections]],
                         constant_values=-1)
        top_classes = ops.take_along_axis(padded, order, axis=1)
    valid = top_scores > -math.inf
    count = ops.sum(ops.cast(valid, "int32"), axis=1)
    # Padding rows point at an appended zero box (N may be 0).
    index = ops.where(valid, index, num)
    padded_boxes = ops.concatenate(
        [boxes, ops.zeros((batch, 1, 4), boxes.dtype)], axis=1)
    out = ops.take_along_axis(padded_boxes, ops.expand_dims(index, 2), axis=1)
    return {
        "indices": ops.where(valid, index, -1),
        "boxes": ops.where(ops.expand_dims(valid, 2), out, 0.0),
        "classes": ops.where(valid, ops.cast(top_classes, "int32"), -1),
        "scores": ops.where(valid, top_scores, 0.0),
        "num_detections": count,
    }
