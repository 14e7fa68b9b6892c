"""Cost of the cross-replica gather in a SimCLR training step.

Under `MirroredStrategy` over `--replicas` logical CPU devices, times
`model.fit` steps of two `kzoo.models.SimCLR` models built from the same
seed on the same batches: one with `NTXentLoss(gather_distributed=True)`
(the default: every replica computes the loss of the global batch from
the gathered projections) and one with `gather_distributed=False` (the
straightforward per-replica loss, which gives a different model). The
first call of each model (tracing) is not timed; the timed rounds are
interleaved (one of each in turn) and the median time per step is
reported with the fastest round's (logical replicas on a 2-core machine
are noisy: the median ratio moved between 0.54 and 1.65 over runs of 5
rounds of 10 steps, hence the defaults of 15 x 30). Ratio = gather /
per-replica: the extra cost of training as one
device would. Logical CPU replicas share the same cores, so this measures
the extra work and synchronisation, not a multi-GPU speed; absolute times
are context only. Usage (bench-gather):

    .venv/bin/python benchmarks/bench_gather.py [--replicas 2] \\
        [--batch-size 256] [--image-size 32] [--rounds 15] [--steps 30] \\
        [--output benchmarks/results/bench_gather.json]
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kzoo import distribute  # noqa: E402  (does not import TensorFlow)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256,
                        help="global batch. Default: 256.")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=32,
                        help="channels of the small CNN backbone. "
                        "Default: 32.")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=30,
                        help="steps per timed round. Default: 30.")
    parser.add_argument("--output", default=None,
                        help="JSON file for the results. Default: none.")
    return parser.parse_args(argv)


def build(strategy, args, gather):
    import keras

    from kzoo import losses, models

    keras.utils.set_random_seed(0)
    with strategy.scope():
        s = args.image_size
        backbone = keras.Sequential([
            keras.Input((s, s, 3)),
            keras.layers.Conv2D(args.width, 3, strides=2, padding="same"),
            keras.layers.BatchNormalization(synchronized=True),
            keras.layers.ReLU(),
            keras.layers.Conv2D(2 * args.width, 3, strides=2,
                                padding="same"),
            keras.layers.BatchNormalization(synchronized=True),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D()])
        model = models.SimCLR(backbone, projection_dim=128,
                              synchronized_bn=True, collapse_monitor=False)
        model.view_loss = losses.NTXentLoss(0.1, gather_distributed=gather)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    return model


def main(argv=None):
    args = parse_args(argv)
    strategy = distribute.resolve_strategy("mirrored", args.replicas,
                                           verbose=False)
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    n = args.batch_size
    shape = (n, args.image_size, args.image_size, 3)
    views = {"view_1": rng.uniform(size=shape).astype("float32"),
             "view_2": rng.uniform(size=shape).astype("float32")}
    data = tf.data.Dataset.from_tensor_slices(views).batch(n).repeat()
    models = {"gather": build(strategy, args, True),
              "per_replica": build(strategy, args, False)}
    times = {k: [] for k in models}
    for name, model in models.items():  # tracing and warm-up, not timed
        model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)
    for _ in range(args.rounds):
        for name, model in models.items():
            start = time.perf_counter()
            model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / args.steps)
    median = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    ratio = median["gather"] / median["per_replica"]
    best_ratio = best["gather"] / best["per_replica"]
    result = {"replicas": strategy.num_replicas_in_sync,
              "global_batch": n, "image_size": args.image_size,
              "rounds": args.rounds, "steps_per_round": args.steps,
              "median_step_seconds": {k: round(v, 5)
                                      for k, v in median.items()},
              "best_step_seconds": {k: round(v, 5) for k, v in best.items()},
              "ratio_gather_over_per_replica": round(ratio, 3),
              "best_ratio_gather_over_per_replica": round(best_ratio, 3)}
    print(f"SimCLR step on {result['replicas']} logical CPU replicas, "
          f"global batch {n}: median gather {median['gather'] * 1e3:.1f} "
          f"ms, per-replica loss {median['per_replica'] * 1e3:.1f} ms; "
          f"ratio {ratio:.3f} (fastest rounds: {best_ratio:.3f})")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
