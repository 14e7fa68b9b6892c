"""Speed of kzoo's batched class-aware non-max suppression.

Times one call of batched, per-class NMS on `B` images of `N` candidate
boxes with `C` class scores each (`scores` `[B, N, C]`, YOLO-like: a
handful of objects per image, most candidates jittered copies of them, the
rest background boxes; score = objectness x class probability), for

* `kzoo.boxes.batched_non_max_suppression` (one NMS kernel call per image
  and class inside a `tf.map_fn`, merge by a flat `top_k`), called eagerly
  (it runs a cached `tf.function`) and through `kzoo.layers.NonMaxSuppression`
  inside a user `tf.function`;
* the reference: the straightforward loop over images and classes of
  `tf.image.non_max_suppression`, merged by descending score (ties: box
  index, then class) and padded to `max_detections` rows, run eagerly;
* the same loop unrolled inside a `tf.function` (static `B` and `C`: all
  `B x C` kernel calls in one graph, which TensorFlow may run in parallel);
* `kzoo._nms_ops.batched_nms` inside a `tf.function`: the `keras.ops`
  implementation that JAX and PyTorch run (a loop of N steps over all
  images and classes at once), here on TensorFlow, to measure what
  TensorFlow would lose if it ran that one implementation instead of its
  kernel;
* for context only, `tf.image.combined_non_max_suppression` (TensorFlow's
  built-in batched op; it breaks score ties in heap order rather than by box
  index, so it is not guaranteed to keep the same boxes; the script reports
  whether it did on this batch).

Before timing, kzoo's output and the unrolled reference are checked equal to
the eager reference (boxes, classes, scores, counts), so that every ratio
compares the same work. Everything runs in the same process on the same
batch; the first call of each (tracing, warm-up) is not timed, the repeats
are interleaved (one of each in turn, so that the load of a shared machine
falls on all of them alike) and the median is reported. Ratio = time /
eager reference time: below 1 is faster. Machines are noisy (2 shared cores
here): ratios are the result, absolute times only context. Usage:

    .venv/bin/python benchmarks/bench_nms.py [--batch-size 16] \\
        [--candidates 2000] [--classes 3] [--max-detections 100] \\
        [--iou-threshold 0.5] [--score-threshold 0.6] [--repeats 7] \\
        [--output benchmarks/results/bench_nms.json]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

import kzoo  # noqa: E402


def yolo_like_batch(rng, batch, num, num_classes, size=416, objects=8):
    """xyxy boxes `[B, N, 4]` in a `size` x `size` image and `[B, N, C]`
    scores: 80% of the candidates are jittered copies of `objects` objects,
    the rest random background boxes."""
    boxes = np.empty((batch, num, 4), "float32")
    scores = np.empty((batch, num, num_classes), "float32")
    for b in range(batch):
        centre = rng.uniform(40, size - 40, (objects, 2))
        wh = rng.uniform(20, 160, (objects, 2))
        label = rng.integers(0, num_classes, objects)
        owner = rng.integers(0, objects, num)
        is_object = rng.random(num) < 0.8
        c = centre[owner] + rng.normal(0, 0.1, (num, 2)) * wh[owner]
        s = wh[owner] * np.exp(rng.normal(0, 0.15, (num, 2)))
        c = np.where(is_object[:, None], c, rng.uniform(0, size, (num, 2)))
        s = np.where(is_object[:, None], s, rng.uniform(10, 120, (num, 2)))
        boxes[b] = np.clip(np.concatenate([c - s / 2, c + s / 2], 1), 0, size)
        objectness = np.where(is_object, rng.beta(5, 1.5, num),
                              rng.beta(1, 6, num))
        logits = rng.normal(0, 1, (num, num_classes))
        logits[np.arange(num), label[owner]] += np.where(is_object, 3.0, 0.0)
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        scores[b] = objectness[:, None] * probs
    return boxes, scores


def reference_eager(boxes, scores, k, iou, thr):
    """Per image and class, `tf.image.non_max_suppression`; merged in Python
    by descending score (ties: box index, then class), padded to `k` rows."""
    batch, _, num_classes = scores.shape
    out = {"boxes": np.zeros((batch, k, 4), "float32"),
           "classes": np.full((batch, k), -1, "int32"),
           "scores": np.zeros((batch, k), "float32"),
           "num_detections": np.zeros(batch, "int32")}
    yxyx = tf.gather(boxes, [1, 0, 3, 2], axis=-1)
    for b in range(batch):
        kept = []
        for c in range(num_classes):
            selected = tf.image.non_max_suppression(
                yxyx[b], scores[b, :, c], k, iou_threshold=iou,
                score_threshold=thr).numpy()
            class_scores = scores[b, :, c].numpy()
            kept += [(class_scores[i], i, c) for i in selected]
        kept = sorted(kept, key=lambda t: (-t[0], t[1], t[2]))[:k]
        n = len(kept)
        out["num_detections"][b] = n
        if n:
            out["scores"][b, :n] = [t[0] for t in kept]
            out["classes"][b, :n] = [t[2] for t in kept]
            out["boxes"][b, :n] = tf.gather(boxes[b], [t[1] for t in kept])
    return out


def reference_graph(boxes, scores, k, iou, thr):
    """The same loop unrolled in a graph (static `B` and `C`); the merge is
    two stable argsorts: by (box, class), then by descending score."""
    batch, _, num_classes = scores.shape
    yxyx = tf.gather(boxes, [1, 0, 3, 2], axis=-1)
    out = {key: [] for key in ("boxes", "classes", "scores", "num_detections")}
    for b in range(batch):
        index, cls = [], []
        for c in range(num_classes):
            selected = tf.image.non_max_suppression(
                yxyx[b], scores[b, :, c], k, iou_threshold=iou,
                score_threshold=thr)
            index.append(selected)
            cls.append(tf.fill(tf.shape(selected), c))
        index, cls = tf.concat(index, 0), tf.concat(cls, 0)
        order = tf.argsort(index * num_classes + cls, stable=True)
        index, cls = tf.gather(index, order), tf.gather(cls, order)
        kept = tf.gather_nd(scores[b], tf.stack([index, cls], 1))
        order = tf.argsort(kept, direction="DESCENDING", stable=True)[:k]
        n = tf.shape(order)[0]
        pad = [[0, k - n]]
        out["scores"].append(tf.pad(tf.gather(kept, order), pad))
        out["classes"].append(tf.pad(tf.gather(cls, order), pad,
                                     constant_values=-1))
        out["boxes"].append(tf.pad(
            tf.gather(boxes[b], tf.gather(index, order)), pad + [[0, 0]]))
        out["num_detections"].append(n)
    return {key: tf.stack(value) for key, value in out.items()}


def combined(boxes, scores, k, iou, thr):
    out = tf.image.combined_non_max_suppression(
        tf.gather(boxes, [1, 0, 3, 2], axis=-1)[:, :, None, :], scores, k, k,
        iou_threshold=iou, score_threshold=thr, clip_boxes=False)
    n = out.valid_detections
    valid = tf.range(k)[None, :] < n[:, None]
    return {"boxes": tf.gather(out.nmsed_boxes, [1, 0, 3, 2], axis=-1),
            "classes": tf.where(valid, tf.cast(out.nmsed_classes, tf.int32), -1),
            "scores": out.nmsed_scores, "num_detections": n}


def same(a, b):
    return all(np.array_equal(np.asarray(a[key]), np.asarray(b[key]))
               for key in ("boxes", "classes", "scores", "num_detections"))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    {key: np.asarray(value) for key, value in out.items()}  # on the host
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=kzoo.runs.positive_int, default=16,
                        help="B, images per batch. Default: 16")
    parser.add_argument("--candidates", type=kzoo.runs.positive_int,
                        default=2000, help="N, candidate boxes per image. "
                        "Default: 2000")
    parser.add_argument("--classes", type=kzoo.runs.positive_int, default=3,
                        help="C, classes (scores [B, N, C]). Default: 3")
    parser.add_argument("--max-detections", type=kzoo.runs.positive_int,
                        default=100, help="K, output rows per image. "
                        "Default: 100")
    parser.add_argument("--iou-threshold", type=float, default=0.5,
                        help="Default: 0.5")
    parser.add_argument("--score-threshold", type=float, default=0.6,
                        help="Default: 0.6 (the course's)")
    parser.add_argument("--repeats", type=kzoo.runs.positive_int, default=7,
                        help="timed calls per implementation (the median is "
                        "reported). Default: 7")
    parser.add_argument("--seed", type=int, default=0, help="Default: 0")
    parser.add_argument("--output", default=None,
                        help="JSON file for the results (with the command, "
                        "CPU and versions). Default: none.")
    args = parser.parse_args()
    k, iou, thr = args.max_detections, args.iou_threshold, args.score_threshold

    rng = np.random.default_rng(args.seed)
    boxes, scores = yolo_like_batch(rng, args.batch_size, args.candidates,
                                    args.classes)
    boxes, scores = tf.constant(boxes), tf.constant(scores)
    candidates = int(tf.reduce_sum(tf.cast(scores > thr, tf.int32)))

    layer = kzoo.layers.NonMaxSuppression(
        iou_threshold=iou, score_threshold=thr, max_detections=k)
    unknown = [tf.TensorSpec([None, None, 4]),
               tf.TensorSpec([None, None, args.classes])]
    layer_fn = tf.function(lambda b, s: layer(b, s), input_signature=unknown)
    graph_ref = tf.function(lambda b, s: reference_graph(b, s, k, iou, thr))
    graph_combined = tf.function(lambda b, s: combined(b, s, k, iou, thr))
    from kzoo import _nms_ops
    from kzoo.boxes import _nms_boxes

    ops_fn = tf.function(lambda b, s: {
        key: value for key, value in _nms_ops.batched_nms(
            b, _nms_boxes(b, "xyxy"), s, None, iou, thr, k, k).items()
        if key != "indices"})
    impls = {
        "reference loop (eager)":
            lambda: reference_eager(boxes, scores, k, iou, thr),
        "reference loop (tf.function)": lambda: graph_ref(boxes, scores),
        "kzoo batched_non_max_suppression": lambda:
            kzoo.boxes.batched_non_max_suppression(
                boxes, scores, iou_threshold=iou, score_threshold=thr,
                max_detections=k),
        "kzoo NonMaxSuppression (tf.function)": lambda: layer_fn(boxes, scores),
        "kzoo keras.ops NMS (tf.function)": lambda: ops_fn(boxes, scores),
        "tf combined_non_max_suppression": lambda: graph_combined(boxes, scores),
    }

    print(f"machine: {os.cpu_count()} CPU cores; TF {tf.__version__}, Keras "
          f"{keras.__version__}; B={args.batch_size}, N={args.candidates}, "
          f"C={args.classes}, K={k}, IoU > {iou}, score > {thr} "
          f"({candidates} (box, class) candidates in the batch); median of "
          f"{args.repeats} (warm-up excluded)")

    # Same outputs first (the warm-up calls).
    ref = impls["reference loop (eager)"]()
    print(f"detections per image (reference): "
          f"{np.asarray(ref['num_detections']).tolist()}")
    for name, fn in impls.items():
        out = fn()
        if name.startswith("tf combined"):
            same_combined = same(out, ref)
            print(f"tf.image.combined_non_max_suppression keeps the same "
                  f"boxes on this batch: {same(out, ref)} (context only)")
        elif not same(out, ref):
            raise AssertionError(f"{name} differs from the reference loop")
    print("kzoo and the unrolled reference equal the eager reference loop "
          "(boxes, classes, scores, num_detections)")

    times = {name: [] for name in impls}
    for _ in range(args.repeats):
        for name, fn in impls.items():
            times[name].append(timed(fn))
    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["reference loop (eager)"]
    print(f"{'implementation':40s} {'median ms':>10s} {'ratio / eager ref':>18s}")
    for name in impls:
        print(f"{name:40s} {1000 * median[name]:10.1f} "
              f"{median[name] / base:17.2f}x")
    if args.output:
        from kzoo._results import provenance
        from kzoo._results import write_json

        write_json(args.output, {
            "what": __doc__.split("\n\n")[0],
            **provenance("bench_nms.py", tensorflow=tf.__version__,
                         keras=keras.__version__),
            "shape": {"batch": args.batch_size, "candidates": args.candidates,
                      "classes": args.classes, "max_detections": k},
            "iou_threshold": iou, "score_threshold": thr,
            "candidates_above_threshold": candidates,
            "repeats": args.repeats,
            "median_ms": {name: round(1000 * m, 2)
                          for name, m in median.items()},
            "ratio_to_eager_reference": {
                name: round(m / base, 3) for name, m in median.items()},
            # every kzoo row was checked equal above (else it raised);
            # the combined op may break ties otherwise
            "same_as_reference": {
                name: same_combined if name.startswith("tf combined")
                else True for name in impls}})
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
