"""Speed of kzoo's semi-hard triplet loss, forward and backward.

Times one evaluation of the loss *and* its gradient with respect to the
embeddings (`tf.GradientTape`), on one batch of `B` random embeddings of
size `D` whose labels are spread evenly over `--classes` classes, for

* `kzoo.losses.TripletLoss(mining="semi-hard")` (`0.5 * hinge`, mean over
  the positive pairs),
* `kzoo.addons.losses.TripletSemiHardLoss` (the tensorflow-addons drop-in:
  hinge without the 1/2),
* a straightforward reference written below in plain TensorFlow: the
  obvious dense formulation that builds the `[B, B, B]` (anchor, positive,
  negative) mask of the "farther negatives", takes its masked minimum and
  falls back to the anchor's farthest negative.

All three run in the same process on the same batch, eagerly and inside a
`tf.function`; the first call of each (tracing, warm-up) is not timed, the
repeats are interleaved (one of each in turn, so that the load of a shared
machine falls on all of them alike) and the median is reported. Before
timing, the losses and gradients are checked against the reference
(`kzoo = 0.5 * reference`, `addons = reference`), so that every ratio
compares the same work. Ratio = kzoo time / reference time: below 1 kzoo
is faster. Machines are noisy (2 shared cores here): ratios are the
result, absolute times only context. Usage (bench-triplet):

    .venv/bin/python benchmarks/bench_triplet.py [--batch-size 512] \\
        [--dim 128] [--classes 32] [--repeats 7] [--distance squared_l2] \\
        [--output benchmarks/results/bench_triplet.json]
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
from kzoo.addons.losses import TripletSemiHardLoss  # noqa: E402

# kzoo distance name -> tensorflow-addons distance_metric of the same distance
ADDONS_DISTANCE = {"squared_l2": "squared-L2", "l2": "L2"}


def reference_semihard(labels, embeddings, margin=1.0, squared=True):
    """Semi-hard triplet loss (tfa's rule), the obvious dense way.

    For each positive pair `(a, p)`: the closest negative `n` of `a` with
    `d(a, n) > d(a, p)`, else the farthest negative of `a`; mean of
    `max(0, margin + d(a, p) - d(a, n))` over the positive pairs.
    """
    x = tf.cast(embeddings, tf.float32)
    b = tf.shape(x)[0]
    eye = tf.eye(b, dtype=tf.bool)
    sq = tf.reduce_sum(tf.square(x), axis=1)
    d = sq[:, None] - 2.0 * tf.matmul(x, x, transpose_b=True) + sq[None, :]
    d = tf.where(eye, 0.0, tf.maximum(d, 0.0))
    if not squared:  # sqrt with a zero gradient at zero distance
        nonzero = d > 0.0
        d = tf.where(nonzero, tf.sqrt(tf.where(nonzero, d, 1.0)), 0.0)
    same = tf.equal(labels[:, None], labels[None, :])
    positives = tf.logical_and(same, tf.logical_not(eye))
    negatives = tf.logical_not(same)
    d_ap = d[:, :, None]  # [a, p, 1]
    d_an = d[:, None, :]  # [a, 1, n]
    farther = tf.logical_and(negatives[:, None, :], d_an > d_ap)  # [a, p, n]
    closest_farther = tf.reduce_min(tf.where(farther, d_an, np.inf), axis=2)
    farthest = tf.reduce_max(tf.where(negatives, d, -np.inf), axis=1)
    chosen = tf.where(tf.reduce_any(farther, axis=2), closest_farther,
                      farthest[:, None])
    hinge = tf.nn.relu(margin + d - chosen)
    total = tf.reduce_sum(tf.where(positives, hinge, 0.0))
    return total / tf.reduce_sum(tf.cast(positives, tf.float32))


def with_gradient(loss_fn):
    """`(labels, embeddings) -> (loss, d loss / d embeddings)`."""
    def step(labels, embeddings):
        with tf.GradientTape() as tape:
            tape.watch(embeddings)
            loss = loss_fn(labels, embeddings)
        return loss, tape.gradient(loss, embeddings)
    return step


def timed(fn, labels, embeddings):
    start = time.perf_counter()
    loss, grad = fn(labels, embeddings)
    loss.numpy(), grad.numpy()  # results on the host: the work is done
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=kzoo.runs.positive_int, default=512,
                        help="B, embeddings per batch. Default: 512")
    parser.add_argument("--dim", type=kzoo.runs.positive_int, default=128,
                        help="D, embedding size. Default: 128")
    parser.add_argument("--classes", type=kzoo.runs.positive_int, default=32,
                        help="classes in the batch (labels spread evenly). "
                             "Default: 32 (16 examples per class at B=512)")
    parser.add_argument("--repeats", type=kzoo.runs.positive_int, default=7,
                        help="timed calls per implementation and mode (the "
                             "median is reported). Default: 7")
    parser.add_argument("--distance", choices=sorted(ADDONS_DISTANCE),
                        default="squared_l2",
                        help="distance of all three implementations. "
                             "Default: squared_l2 (kzoo's default)")
    parser.add_argument("--margin", type=float, default=1.0,
                        help="triplet margin. Default: 1.0")
    parser.add_argument("--seed", type=int, default=0, help="Default: 0")
    parser.add_argument("--output", default=None,
                        help="JSON file for the results (with the command, "
                        "CPU and versions). Default: none.")
    args = parser.parse_args()
    b, dim = args.batch_size, args.dim
    if args.classes < 2 or args.classes > b // 2:
        parser.error("--classes must be in [2, batch_size / 2] (every anchor "
                     f"needs a positive and a negative). Received: "
                     f"--classes={args.classes}")

    rng = np.random.default_rng(args.seed)
    labels = tf.constant(rng.permutation(np.arange(b) % args.classes), tf.int32)
    x = rng.normal(size=(b, dim)).astype("float32")
    embeddings = tf.constant(x / np.linalg.norm(x, axis=1, keepdims=True))

    squared = args.distance == "squared_l2"
    kzoo_loss = kzoo.losses.TripletLoss(margin=args.margin, distance=args.distance,
                                        mining="semi-hard")
    addons_loss = TripletSemiHardLoss(margin=args.margin,
                                      distance_metric=ADDONS_DISTANCE[args.distance])

    def ref_loss(y, e):
        return reference_semihard(y, e, args.margin, squared)

    impls = {"reference": (ref_loss, 1.0),
             "kzoo TripletLoss(semi-hard)": (kzoo_loss, 0.5),
             "kzoo.addons TripletSemiHardLoss": (addons_loss, 1.0)}

    print(f"machine: {os.cpu_count()} CPU cores; TF {tf.__version__}, Keras "
          f"{keras.__version__}; B={b}, D={dim}, {args.classes} classes, "
          f"distance {args.distance}, margin {args.margin}; median of "
          f"{args.repeats} (warm-up excluded)")

    # Same loss and gradient first, eagerly and in graph mode.
    fns, values = {}, {}
    ref_value = ref_grad = None
    for mode in ("eager", "tf.function"):
        for name, (loss_fn, scale) in impls.items():
            fn = with_gradient(loss_fn)
            if mode == "tf.function":
                fn = tf.function(fn)
            loss, grad = fn(labels, embeddings)  # warm-up (tracing)
            values[name] = float(loss)
            loss, grad = float(loss) / scale, grad.numpy() / scale
            if ref_value is None:
                ref_value, ref_grad = loss, grad
            np.testing.assert_allclose(loss, ref_value, rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name} ({mode}) loss")
            np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6,
                                       err_msg=f"{name} ({mode}) gradient")
            fns[name, mode] = fn
    print("loss on the batch: " + ", ".join(
        f"{name} {value:.6f}" for name, value in values.items())
        + " (kzoo = 0.5 x reference, addons = reference; gradients too)")

    times = {key: [] for key in fns}
    for _ in range(args.repeats):
        for key, fn in fns.items():
            times[key].append(timed(fn, labels, embeddings))
    median = {key: statistics.median(t) for key, t in times.items()}

    print(f"{'loss + gradient':34s} {'mode':12s} {'median ms':>10s} "
          f"{'ratio kzoo/ref':>15s}")
    for mode in ("eager", "tf.function"):
        ref = median["reference", mode]
        for name in impls:
            t = median[name, mode]
            ratio = "" if name == "reference" else f"{t / ref:14.2f}x"
            print(f"{name:34s} {mode:12s} {1000 * t:10.1f} {ratio:>15s}")
    if args.output:
        from kzoo._results import provenance
        from kzoo._results import write_json

        write_json(args.output, {
            "what": __doc__.split("\n\n")[0],
            **provenance("bench_triplet.py", tensorflow=tf.__version__,
                         keras=keras.__version__),
            "batch_size": b, "dim": dim,
            "classes": args.classes, "distance": args.distance,
            "margin": args.margin, "repeats": args.repeats,
            "checked_equal": "loss and gradient, kzoo = 0.5 x reference, "
                             "addons = reference",
            "median_ms": {mode: {name: round(1000 * median[name, mode], 2)
                                 for name in impls}
                          for mode in ("eager", "tf.function")},
            "ratio_to_reference": {
                mode: {name: round(median[name, mode]
                                   / median["reference", mode], 3)
                       for name in impls}
                for mode in ("eager", "tf.function")}})
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
