"""TensorFlow kernels of `kzoo.boxes`' non-max suppression (private).

Imported only under Keras' TensorFlow backend: `tf.image`'s
NonMaxSuppression kernel, one call per image and class inside `tf.map_fn`
(so batch sizes may be unknown at trace time, as in an exported
SavedModel). `kzoo._nms_ops` is the `keras.ops` version for the other
backends; the tests check that both keep the same boxes.
"""

import math

import tensorflow as tf



def _nms_kernel(boxes, scores, per_class, iou_threshold, score_threshold):
    """`tf.image.non_max_suppression`'s kernel (NonMaxSuppressionV4 is its
    padded form: same selection, indices padded with 0 to `per_class`)."""
    selected, valid = tf.raw_ops.NonMaxSuppressionV4(
        boxes=boxes, scores=scores, max_output_size=per_class,
        iou_threshold=iou_threshold, score_threshold=score_threshold,
        pad_to_max_output_size=True)
    return selected, valid


def _merge_sorted(keys, scores, max_detections):
    """Per row, the positions of the `max_detections` largest `scores`, ties
    by increasing `keys` (two stable sorts); -inf entries are never valid."""
    width = tf.shape(scores)[1]
    pad = [[0, 0], [0, tf.maximum(max_detections - width, 0)]]
    scores = tf.pad(scores, pad, constant_values=-math.inf)
    keys = tf.pad(keys, pad)
    by_key = tf.argsort(keys, axis=1, stable=True)
    by_score = tf.argsort(tf.gather(scores, by_key, batch_dims=1), axis=1,
                          direction="DESCENDING", stable=True)
    return tf.gather(by_key, by_score[:, :max_detections], batch_dims=1)


def _select_per_class_scores(boxes, scores, per_class, max_detections,
                             iou_threshold, score_threshold):
    """`scores` `[B, N, C]`: NMS per image and class, merged. Returns the
    `[B, K]` scores (-inf past the detections), box indices and classes."""
    batch, num = tf.shape(scores)[0], tf.shape(scores)[1]
    static_classes = scores.shape[2]
    rows = tf.transpose(scores, [0, 2, 1])  # [B, C, N]
    if static_classes is not None:
        # One map_fn step per image, the C kernel calls in its body.
        num_classes = static_classes

        def run_image(b):
            selected, valid = zip(*[
                _nms_kernel(boxes[b], rows[b, c], per_class, iou_threshold,
                            score_threshold)
                for c in range(num_classes)])
            return tf.stack(selected), tf.stack(valid)

        selected, valid = tf.map_fn(
            run_image, tf.range(batch),
            fn_output_signature=(
                tf.TensorSpec([num_classes, per_class], tf.int32),
                tf.TensorSpec([num_classes], tf.int32)))
    else:  # One step per (image, class).
        num_classes = tf.shape(scores)[2]
        flat_rows = tf.reshape(rows, [-1, num])

        def run_problem(p):
            return _nms_kernel(boxes[p // num_classes], flat_rows[p],
                               per_class, iou_threshold, score_threshold)

        selected, valid = tf.map_fn(
            run_problem, tf.range(batch * num_classes),
            fn_output_signature=(tf.TensorSpec([per_class], tf.int32),
                                 tf.TensorSpec([], tf.int32)))
        selected = tf.reshape(selected, [batch, num_classes, per_class])
        valid = tf.reshape(valid, [batch, num_classes])
    # [B, C, Kc] -> [B, C * Kc] candidates.
    ok = tf.range(per_class)[None, None, :] < valid[:, :, None]
    cls = tf.broadcast_to(tf.range(num_classes)[None, :, None],
                          tf.shape(selected))
    # (Gathered from rows with an extra -inf column: N may be 0.)
    rows = tf.pad(rows, [[0, 0], [0, 0], [0, 1]], constant_values=-math.inf)
    kept = tf.where(ok, tf.gather(rows, selected, batch_dims=2), -math.inf)
    kept, selected, cls = (tf.reshape(x, [batch, -1])
                           for x in (kept, selected, cls))
    order = _merge_sorted(selected * num_classes + cls, kept, max_detections)
    pad = [[0, 0], [0, tf.maximum(max_detections - tf.shape(kept)[1], 0)]]
    kept = tf.pad(kept, pad, constant_values=-math.inf)
    return tuple(tf.gather(x, order, batch_dims=1)
                 for x in (kept, tf.pad(selected, pad), tf.pad(cls, pad)))


def _select_class_aware(boxes, scores, classes, per_class, max_detections,
                        iou_threshold, score_threshold):
    """`scores` `[B, N]` with `classes` `[B, N]`: NMS per image and class
    present among the candidates (negative classes never), merged. Returns
    like `_select_per_class_scores`."""
    neg_inf = tf.constant(-math.inf, tf.float32)
    batch, num = tf.shape(scores)[0], tf.shape(scores)[1]
    classes64 = tf.cast(classes, tf.int64)
    candidate = tf.logical_and(scores > score_threshold, classes64 >= 0)
    num_keys = tf.maximum(
        tf.reduce_max(tf.where(candidate, classes64, 0)), 0) + 1
    image_ids = tf.broadcast_to(tf.range(tf.cast(batch, tf.int64))[:, None],
                                tf.shape(classes64))
    keys, _ = tf.unique(
        tf.boolean_mask(image_ids * num_keys + classes64, candidate))
    images = tf.cast(keys // num_keys, tf.int32)
    problem_classes = keys % num_keys

    def run_problem(p):
        member = tf.equal(classes64[images[p]], problem_classes[p])
        return _nms_kernel(boxes[images[p]],
                           tf.where(member, scores[images[p]], neg_inf),
                           per_class, iou_threshold, score_threshold)

    selected, valid = tf.map_fn(
        run_problem, tf.range(tf.shape(images)[0]),
        fn_output_signature=(tf.TensorSpec([per_class], tf.int32),
                             tf.TensorSpec([], tf.int32)))
    # Kept (image, box) pairs -> [B, N] map of kept scores, then merge.
    mask = tf.range(per_class)[None, :] < valid[:, None]
    selected = tf.boolean_mask(selected, mask)
    image = tf.boolean_mask(
        tf.broadcast_to(images[:, None], tf.shape(mask)), mask)
    where = tf.stack([image, selected], axis=1)
    kept = tf.tensor_scatter_nd_update(
        tf.fill(tf.stack([batch, num]), neg_inf), where,
        tf.gather_nd(scores, where))
    index = tf.broadcast_to(tf.range(num)[None, :], tf.shape(kept))
    order = _merge_sorted(index, kept, max_detections)
    pad = [[0, 0], [0, tf.maximum(max_detections - num, 0)]]
    kept = tf.gather(tf.pad(kept, pad, constant_values=-math.inf), order,
                     batch_dims=1)
    padded = tf.pad(classes, pad, constant_values=-1)
    return kept, order, tf.gather(padded, order, batch_dims=1)


def _batched_nms(boxes, nms_boxes, scores, classes, iou_threshold,
                 score_threshold, max_detections, per_class):
    """Graph of `batched_non_max_suppression` (see there), from its checked
    inputs: float32 `boxes` as given and `nms_boxes`, the same in
    `tf.image`'s yxyx order; also returns the kept box `"indices"` (-1 on
    padding rows)."""
    scores = tf.cast(scores, tf.float32)
    if classes is None:  # [B, N, C], or [B, N, 1] class-agnostic
        top_scores, index, top_classes = _select_per_class_scores(
            nms_boxes, scores, per_class, max_detections, iou_threshold,
            score_threshold)
    else:
        top_scores, index, top_classes = _select_class_aware(
            nms_boxes, scores, tf.cast(classes, tf.int32), per_class,
            max_detections, iou_threshold, score_threshold)
    count = tf.reduce_sum(tf.cast(top_scores > -math.inf, tf.int32), axis=1)
    valid = tf.range(max_detections)[None, :] < count[:, None]
    # Invalid rows point at an appended zero row (N may be 0).
    batch, num = tf.shape(scores)[0], tf.shape(scores)[1]
    index = tf.where(valid, index, num)
    pad = tf.zeros(tf.stack([batch, 1, 4]), tf.float32)
    out = tf.gather(tf.concat([boxes, pad], axis=1), index, batch_dims=1)
    return {
        "indices": tf.where(valid, index, -1),
        "boxes": tf.where(valid[..., None], out, 0.0),
        "classes": tf.where(valid, top_classes, -1),
        "scores": tf.where(valid, top_scores, 0.0),
        "num_detections": count,
    }


# One cached graph per mode (ranks differ), traced for relaxed shapes.
BATCHED_NMS_GRAPHS = {
    mode: tf.function(_batched_nms, autograph=False, reduce_retracing=True)
    for mode in ("per_class_scores", "class_aware")
}
