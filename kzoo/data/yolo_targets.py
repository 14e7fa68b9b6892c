"""YOLO training targets: which cell and which box answers for each object,
and anchor shapes from k-means over the training boxes.

`YOLOTargetEncoder` turns contract-B batches (`"boxes"` `[N, M, 4]` xyxy
pixels of the `S x S` letterboxed image, `"classes"` `[N, M]` with -1 on
padding rows) into the `y_true` that `kzoo.losses.YOLOLoss` reads, inside
`tf.data`. `kmeans_anchors` clusters box shapes with the distance
`1 - IoU` (YOLOv2's "dimension clusters").
"""

import numbers

import numpy as np
import tensorflow as tf

from kzoo._api import kzoo_export
from kzoo.data._config import ConstructorConfig
from kzoo.layers.yolo_head import _positive_int
from kzoo.layers.yolo_head import check_yolo_config


def _wh_iou_np(wh1, wh2):
    """`[N, K]` IoU of `(w, h)` boxes aligned at a common corner."""
    inter = (np.minimum(wh1[:, None, 0], wh2[None, :, 0])
             * np.minimum(wh1[:, None, 1], wh2[None, :, 1]))
    union = (wh1[:, None, 0] * wh1[:, None, 1]
             + wh2[None, :, 0] * wh2[None, :, 1] - inter)
    return inter / union


def _kmeans_once(wh, k, rng, max_iterations):
    n = len(wh)
    # k-means++ seeding with d = 1 - IoU.
    centroids = [wh[rng.integers(n)]]
    for _ in range(1, k):
        d = 1.0 - _wh_iou_np(wh, np.asarray(centroids)).max(axis=1)
        weights = d ** 2
        total = weights.sum()
        if total > 0:
            centroids.append(wh[rng.choice(n, p=weights / total)])
        else:  # every box equals a centroid already: cannot happen when
            # there are at least k distinct shapes (checked by the caller)
            centroids.append(wh[rng.integers(n)])
    centroids = np.asarray(centroids, np.float64)
    assignment = None
    for _ in range(max_iterations):
        iou = _wh_iou_np(wh, centroids)
        new = iou.argmax(axis=1)  # ties: the lower centroid index
        if assignment is not None and np.array_equal(new, assignment):
            break
        assignment = new
        best = iou.max(axis=1)
        for j in range(k):
            members = assignment == j
            if members.any():
                centroids[j] = wh[members].mean(axis=0)
            else:  # empty cluster: restart it at the worst-covered box
                worst = int(best.argmin())
                centroids[j] = wh[worst]
                best[worst] = 1.0
    best = _wh_iou_np(wh, centroids).max(axis=1)
    return centroids, float(best.mean())


@kzoo_export("kzoo.data.kmeans_anchors")
def kmeans_anchors(boxes_wh, num_anchors, seed=0, max_iterations=300,
                   num_init=5):
    """Anchor shapes by k-means over box sizes, with `1 - IoU` as distance.

    YOLOv2's "dimension clusters": boxes are compared by shape only, as if
    they shared their top-left corner, so the distance of a box to a
    centroid is

    Formula:

    ```python
    d(box, centroid) = 1 - IoU(box, centroid)
    IoU = min(w, cw) * min(h, ch) / (w * h + cw * ch - min(w, cw) * min(h, ch))
    ```

    (Euclidean k-means on `(w, h)` would let large boxes dominate the
    error.) Each run starts from a k-means++ seeding with this distance,
    then alternates assignment (highest IoU, ties to the lower index) and
    update (the mean `(w, h)` of the members; an empty cluster restarts at
    the box worst covered) until the assignment stops changing or
    `max_iterations` is reached. Of `num_init` runs (random streams drawn
    from `seed`), the one with the highest mean best IoU is kept. The
    result is deterministic for a given `seed`.

    Args:
        boxes_wh: `[N, 2]` box widths and heights, positive and finite, in
            any unit (use fractions of the model input to pass the result
            to `kzoo.data.YOLOTargetEncoder` / `kzoo.losses.YOLOLoss`).
        num_anchors: `K`, number of clusters; at most the number of distinct
            box shapes.
        seed: seed of the k-means++ seeding. Defaults to `0`.
        max_iterations: maximum assignment / update rounds per run.
            Defaults to `300`.
        num_init: number of runs. Defaults to `5`.

    Returns:
        `(anchors, mean_iou)`: float32 `[K, 2]` anchor `(w, h)` sorted by
        increasing area (ties by width), and the mean over the boxes of
        their best IoU with an anchor (YOLOv2's "Avg IOU", a float).

    Example:

    >>> wh = np.array([[0.1, 0.1], [0.11, 0.1], [0.5, 0.3], [0.52, 0.31]])
    >>> anchors, mean_iou = kzoo.data.kmeans_anchors(wh, 2)
    >>> anchors  # [[0.105, 0.1], [0.51, 0.305]]

    Reference:
        - [Redmon & Farhadi, 2017, "YOLO9000: Better, Faster, Stronger"](
          https://arxiv.org/abs/1612.08242), section "Dimension Clusters".
    """
    wh = np.asarray(boxes_wh, dtype=np.float64)
    if wh.ndim != 2 or wh.shape[1] != 2:
        raise ValueError(
            "`boxes_wh` must have shape `[N, 2]` (widths, heights). "
            f"Received: boxes_wh.shape={wh.shape}")
    if not np.all(np.isfinite(wh)) or not np.all(wh > 0):
        bad = int(np.sum(~(np.isfinite(wh) & (wh > 0)).all(axis=1)))
        raise ValueError(
            "`boxes_wh` must be positive and finite (drop degenerate boxes "
            f"first). Received: {bad} rows with a non-positive or non-finite "
            "value")
    num_anchors = _positive_int(num_anchors, "num_anchors")
    distinct = len(np.unique(wh, axis=0))
    if num_anchors > distinct:
        raise ValueError(
            f"`num_anchors` must be at most the number of distinct box "
            f"shapes ({distinct}). Received: num_anchors={num_anchors}")
    max_iterations = _positive_int(max_iterations, "max_iterations")
    num_init = _positive_int(num_init, "num_init")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")
    streams = np.random.SeedSequence(int(seed)).spawn(num_init)
    best = None
    for stream in streams:
        centroids, mean_iou = _kmeans_once(
            wh, num_anchors, np.random.default_rng(stream), max_iterations)
        if best is None or mean_iou > best[1]:
            best = (centroids, mean_iou)
    centroids, mean_iou = best
    order = np.lexsort((centroids[:, 0], centroids[:, 0] * centroids[:, 1]))
    return centroids[order].astype(np.float32), mean_iou


@kzoo_export("kzoo.data.YOLOTargetEncoder")
class YOLOTargetEncoder(ConstructorConfig):
    """Encodes detection batches into the YOLO grid targets, in `tf.data`.

    Called on contract-B tensors, `encoder(boxes, classes)` with `boxes`
    `[N, M, 4]` (or one example `[M, 4]`), xyxy pixels of the
    `image_size x image_size` model input, and `classes` `[N, M]` (`-1` on
    padding rows), it returns float32 `y_true` `[N, S, S, B, 6]` (or
    `[S, S, B, 6]`): per cell (row, column) and box slot,
    `(cx, cy, w, h, objectness, class)` with the box as fractions of the
    image, objectness 1 where an object is assigned (0 elsewhere, where the
    other values are 0 too) and the class index as a float. Use it in a
    `map`:

    ```python
    ds = ds.map(lambda b: (b["images"], encoder(b["boxes"], b["classes"])))
    ```

    Responsibility:

    - **cell**: the one containing the box centre; the cell in column `i`
      covers `[i, i + 1) * image_size / S` (a centre on the right / bottom
      edge of the image, or outside it, goes to the nearest cell);
    - **slot**, with `anchors` (YOLOv2): the anchor whose shape best matches
      the box (highest IoU of the two boxes centred on each other, the
      `1 - IoU` of `kzoo.data.kmeans_anchors`; ties to the lower anchor
      index);
    - without anchors (YOLOv1, the course's layout): the object is written
      to **all** `B` slots of its cell; `kzoo.losses.YOLOLoss` makes the
      predictor with the highest IoU with it responsible (YOLOv1 section
      2.2) and counts the other `B - 1` as no-object predictors.

    Collisions (deterministic, vectorised):

    - without anchors a cell holds one object (YOLOv1 predicts one class
      per cell): the largest box (by area; ties to the lower row index in
      `boxes`) is kept and the others are dropped;
    - with anchors, in up to `B` rounds, each object not yet placed proposes
      the best-matching anchor of its cell that is still free; a slot
      proposed by several objects goes to the largest, the others try again
      in the next round with their next-best free anchor. An object finds
      no slot only when its cell's `B` slots are all taken.

    Rows with class `-1` are padding. Boxes with zero or negative width or
    height are skipped (counted as `degenerate` by `count_dropped`). A class
    `>= num_classes` is an error (`tf.errors.InvalidArgumentError` when the
    map runs). `dropped_objects` and `count_dropped` report how many objects
    the targets lose.

    Args:
        grid_size: `S`, cells per side (the backbone's output size,
            `image_size / stride`).
        num_boxes: `B`, boxes (anchors) per cell.
        num_classes: `C`.
        image_size: side of the square model input, in pixels (the frame of
            `boxes`).
        anchors: `[B, 2]` anchor `(w, h)` as fractions of the image (e.g.
            from `kzoo.data.kmeans_anchors` on box sizes divided by
            `image_size`), or `None` for YOLOv1's anchor-free assignment.
            Defaults to `None`.

    Example:

    >>> encoder = kzoo.data.YOLOTargetEncoder(7, 2, 20, 448)
    >>> y = encoder(np.array([[0., 0., 64., 64.]]), np.array([3]))
    >>> y.shape, y[0, 0, 0]  # centre (32, 32) -> cell (0, 0), both slots
    ((7, 7, 2, 6), [0.0714, 0.0714, 0.1429, 0.1429, 1.0, 3.0])

    Reference:
        - [Redmon et al., 2016, "You Only Look Once"](
          https://arxiv.org/abs/1506.02640), section 2.2.
        - [Redmon & Farhadi, 2017, "YOLO9000"](
          https://arxiv.org/abs/1612.08242), "Direct location prediction".
    """

    def __init__(self, grid_size, num_boxes, num_classes, image_size,
                 anchors=None):
        self.grid_size = _positive_int(grid_size, "grid_size")
        self.num_boxes, self.num_classes, _, self.anchors = (
            check_yolo_config(num_boxes, num_classes, None, anchors))
        self.image_size = _positive_int(image_size, "image_size")

    # ------------------------------------------------------------------
    def _prepare(self, boxes, classes):
        boxes = tf.convert_to_tensor(boxes)
        classes = tf.convert_to_tensor(classes)
        single = boxes.shape.rank == 2
        if single:
            boxes, classes = boxes[None], classes[None]
        if boxes.shape.rank != 3 or boxes.shape[-1] not in (4, None):
            raise ValueError(
                "`boxes` must have shape `[N, M, 4]` or `[M, 4]`. "
                f"Received: boxes.shape={tuple(boxes.shape)}")
        if classes.shape.rank != 2:
            raise ValueError(
                "`classes` must have shape `[N, M]` or `[M]` (one per box). "
                f"Received: classes.shape={tuple(classes.shape)}")
        return tf.cast(boxes, tf.float32), tf.cast(classes, tf.int32), single

    def _assign(self, boxes, classes):
        """Slot of every object: `(slot [N, M] int32, -1 if none; valid;
        degenerate; (cx, cy, w, h) relative)`."""
        s, size = self.grid_size, float(self.image_size)
        checks = [tf.debugging.assert_less(
            classes, self.num_classes,
            message=f"YOLOTargetEncoder: a class is >= num_classes="
            f"{self.num_classes}")]
        with tf.control_dependencies(checks):
            classes = tf.identity(classes)
        x1, y1, x2, y2 = tf.unstack(boxes, axis=-1)
        w, h = x2 - x1, y2 - y1
        real = classes >= 0
        valid = real & (w > 0) & (h > 0)
        degenerate = real & ~valid
        rel = tf.stack([(x1 + x2) * 0.5 / size, (y1 + y2) * 0.5 / size,
                        w / size, h / size], axis=-1)
        col = tf.clip_by_value(tf.cast(tf.floor(rel[..., 0] * s), tf.int32),
                               0, s - 1)
        row = tf.clip_by_value(tf.cast(tf.floor(rel[..., 1] * s), tf.int32),
                               0, s - 1)
        shape = tf.shape(classes)
        n, m = shape[0], shape[1]
        cell = row * s + col
        # Priority: larger area first, then the lower row index.
        area = tf.where(valid, w * h, -1.0)
        order = tf.argsort(-area, axis=-1, stable=True)
        rank = tf.argsort(order, axis=-1, stable=True)
        key = tf.range(n)[:, None] * m + rank  # unique per object
        never = n * m  # larger than every key
        if self.anchors is None:
            slots = 1
            prefs = tf.zeros([n, m, 1], tf.int32)
        else:
            slots = self.num_boxes
            anchors = tf.constant(self.anchors, tf.float32)
            inter = (tf.minimum(rel[..., 2:3], anchors[:, 0])
                     * tf.minimum(rel[..., 3:4], anchors[:, 1]))
            union = (rel[..., 2:3] * rel[..., 3:4]
                     + anchors[:, 0] * anchors[:, 1] - inter)
            shape_iou = inter / tf.where(union > 0, union, 1.0)
            prefs = tf.argsort(-shape_iou, axis=-1, stable=True)  # [N, M, B]
        num_segments = n * s * s * slots
        base = (tf.range(n)[:, None] * (s * s) + cell) * slots  # [N, M]
        taken = tf.zeros([num_segments], tf.bool)
        slot = tf.fill([n, m], -1)
        for _ in range(slots):
            waiting = valid & (slot < 0)
            # Taken flags of each object's anchors, in preference order.
            taken_pref = tf.gather(taken, base[..., None] + prefs)
            free = ~taken_pref
            first_free = tf.argmax(tf.cast(free, tf.int32), axis=-1,
                                   output_type=tf.int32)
            choice = tf.gather(prefs, first_free[..., None],
                               batch_dims=2)[..., 0]
            propose = waiting & tf.reduce_any(free, axis=-1)
            segment = tf.where(propose, base + choice, num_segments)
            best = tf.math.unsorted_segment_min(
                tf.reshape(tf.where(propose, key, never), [-1]),
                tf.reshape(segment, [-1]), num_segments + 1)
            win = propose & (tf.gather(best, segment) == key)
            slot = tf.where(win, choice, slot)
            won = tf.math.unsorted_segment_max(
                tf.reshape(tf.cast(win, tf.int32), [-1]),
                tf.reshape(segment, [-1]), num_segments + 1)[:-1]
            taken = taken | (won > 0)
        return slot, valid, degenerate, rel, base, prefs[..., 0]

    def __call__(self, boxes, classes):
        boxes, classes, single = self._prepare(boxes, classes)
        slot, _, _, rel, base, _ = self._assign(boxes, classes)
        s = self.grid_size
        slots = 1 if self.anchors is None else self.num_boxes
        n = tf.shape(classes)[0]
        num_segments = n * s * s * slots
        placed = slot >= 0
        values = tf.concat(
            [rel, tf.ones_like(rel[..., :1]),
             tf.cast(classes, tf.float32)[..., None]], axis=-1)
        values = tf.where(placed[..., None], values, 0.0)
        segment = tf.where(placed, base + slot, num_segments)
        # Placed objects have distinct segments: the sum is a scatter.
        y = tf.math.unsorted_segment_sum(
            tf.reshape(values, [-1, 6]), tf.reshape(segment, [-1]),
            num_segments + 1)[:-1]
        y = tf.reshape(y, [n, s, s, slots, 6])
        if slots == 1 and self.num_boxes > 1:
            y = tf.tile(y, [1, 1, 1, self.num_boxes, 1])
        return y[0] if single else y

    def dropped_objects(self, boxes, classes):
        """Valid objects of each image that got no slot (collisions).

        Args:
            boxes: `[N, M, 4]` (or `[M, 4]`) xyxy pixels.
            classes: `[N, M]` (or `[M]`) class indices, -1 on padding.

        Returns:
            int32 `[N]` (a scalar for one example).
        """
        boxes, classes, single = self._prepare(boxes, classes)
        slot, valid, _, _, _, _ = self._assign(boxes, classes)
        dropped = tf.reduce_sum(tf.cast(valid & (slot < 0), tf.int32), -1)
        return dropped[0] if single else dropped

    def count_dropped(self, dataset):
        """Counts, over a dataset, the objects the targets lose.

        Args:
            dataset: iterable (e.g. a `tf.data.Dataset`) of contract-B dicts
                with `"boxes"` and `"classes"`, or of tuples whose first
                element is one.

        Returns:
            A dict of Python numbers: `"images"`, `"objects"` (rows with a
            class, degenerate ones included), `"degenerate"` (zero or
            negative width / height, skipped), `"dropped"` (valid objects
            without a slot: collisions) and `"dropped_fraction"` (`dropped /
            (objects - degenerate)`, 0 when there are none) and
            `"displaced"` (objects placed in another anchor than their best
            one because it was taken; always 0 without anchors).
        """
        @tf.function(reduce_retracing=True)
        def stats(boxes, classes):
            boxes, classes, _ = self._prepare(boxes, classes)
            slot, valid, degenerate, _, _, best = self._assign(boxes, classes)
            count = lambda t: tf.reduce_sum(tf.cast(t, tf.int64))  # noqa
            return (tf.shape(classes, out_type=tf.int64)[0],
                    count(classes >= 0), count(degenerate),
                    count(valid & (slot < 0)),
                    count((slot >= 0) & (slot != best)))

        totals = np.zeros(5, np.int64)
        for element in dataset:
            if isinstance(element, (tuple, list)):
                element = element[0]
            if (not isinstance(element, dict)
                    or not {"boxes", "classes"} <= set(element)):
                raise ValueError(
                    "`dataset` must yield dicts with 'boxes' and 'classes' "
                    "(contract B), or tuples starting with one. Received: "
                    f"element={type(element).__name__}")
            totals += np.asarray(
                [int(v) for v in stats(element["boxes"], element["classes"])])
        images, objects, degenerate, dropped, displaced = (
            int(v) for v in totals)
        kept = objects - degenerate
        return {"images": images, "objects": objects,
                "degenerate": degenerate, "dropped": dropped,
                "dropped_fraction": dropped / kept if kept else 0.0,
                "displaced": displaced}
