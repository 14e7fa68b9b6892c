"""The two-view input pipeline, and the augmentation's cost in the step.

kzoo writes each augmentation once (`kzoo._data_ops`): the same function
runs in `tf.data` (with TensorFlow) and inside the training step (with
`keras.ops`). This benchmark shows what that costs, in one process:

* pipeline, images/s of two augmented views (CIFAR-10 training images
  from the image folder, batch 128), three implementations on the same
  data, timed in interleaved rounds (median of `--rounds`):
  - kzoo: `kzoo.data.two_view_dataset` with `SimSiamAugmentation` (the one
    implementation, TensorFlow ops in `tf.data`);
  - kzoo before: kzoo's pipeline and TensorFlow-only augmentation as they
    were before the one implementation, read from git at
    `--baseline-commit` (skipped, and said so, outside a git checkout);
  - keras-io: its SimSiam pipeline, a per-example `tf.image` augmentation
    mapped over each example, two zipped datasets
    (`benchmarks/bench_simsiam.py`'s `per_example_pipeline`; its crop is
    a `random_crop` to the full size, i.e. none, so it does less work);
* training step: the SimSiam ResNet-20 `fit` step fed views made by
  `tf.data` vs. the same model augmenting `uint8` batches itself
  (`augmentation=kzoo.runs.pixel_view_augmentation(0)`, what the JAX and
  PyTorch recipes do), in alternating rounds: the augmentation's share of
  the step (median of the rounds).

Absolute rates are context (2 shared cores here); the ratios are the
result. Writes `benchmarks/results/bench_two_view.json`. Usage:

    python benchmarks/bench_two_view.py --data-dir ../shared/datasets
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import types

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kzoo  # noqa: E402
from bench_simsiam import per_example_pipeline  # noqa: E402
from bench_simsiam import time_pipeline  # noqa: E402
from kzoo.presets.build import cpu_description  # noqa: E402

# The last commit with kzoo.data.augment's TensorFlow twin.
BASELINE_COMMIT = "4393a57"


def _module_at(commit, path, replace, namespace=None):
    """The module `path` of kzoo at `commit`, executed from git's copy with
    the import lines in `replace` swapped for the given code."""
    source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT,
                            capture_output=True, text=True,
                            check=True).stdout
    for old, new in replace.items():
        if old not in source:
            raise ValueError(f"{commit}:{path} has no line {old!r}")
        source = source.replace(old, new)
    module = types.ModuleType(f"kzoo_baseline_{os.path.basename(path)}")
    module.__dict__.update(namespace or {})
    exec(compile(source, f"{commit}:{path}", "exec"), module.__dict__)
    return module


def baseline_pipeline(commit):
    """`two_view_dataset` of kzoo at `commit` (its own pipeline and
    TensorFlow augmentation), or `None` with the reason when git cannot
    give it."""
    # Its registration decorator would clash with today's names.
    no_export = {"from kzoo._api import kzoo_export":
                 "def kzoo_export(*args, **kwargs):\n"
                 "    return lambda obj: obj"}
    try:
        augment = _module_at(commit, "kzoo/data/augment.py", no_export)
        pipelines = _module_at(
            commit, "kzoo/data/pipelines.py",
            {**no_export,
             "from kzoo.data.augment import SimSiamAugmentation": ""},
            {"SimSiamAugmentation": augment.SimSiamAugmentation})
    except (OSError, ValueError, subprocess.CalledProcessError) as error:
        return None, f"kzoo at {commit} unavailable: {error}"
    return pipelines.two_view_dataset, None


def time_fit(model, ds, steps):
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def simsiam(augmentation=None):
    keras.utils.set_random_seed(0)
    model = kzoo.models.SimSiam(kzoo.models.resnet20_cifar(),
                                augmentation=augmentation)
    model.compile(optimizer=keras.optimizers.SGD(0.03, momentum=0.6))
    return model


def main():
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = os.path.join(ROOT, "..", "shared", "datasets")
    parser.add_argument(
        "--data-dir", default=os.environ.get("KZOO_DATA_DIR") or (
            shared if os.path.isdir(shared) else None),
        help="root of the datasets (CIFAR-10 image folder). Default: "
             "$KZOO_DATA_DIR, else ../shared/datasets.")
    parser.add_argument("--images", type=int, default=20000,
                        help="training images loaded. Default: 20000.")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=40,
                        help="timed batches per round. Default: 40.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10,
                        help="timed training steps per round. Default: 10.")
    parser.add_argument("--baseline-commit", default=BASELINE_COMMIT)
    parser.add_argument("--output", default=os.path.join(
        ROOT, "benchmarks", "results", "bench_two_view.json"))
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("--data-dir (or KZOO_DATA_DIR) is required: the "
                     "benchmark reads CIFAR-10 from its image folder")
    b = args.batch_size
    images = kzoo.data.load_dataset("cifar10", "train", args.data_dir,
                                    limit=args.images).images
    print(f"CPU: {cpu_description()}; TF {tf.__version__}, "
          f"Keras {keras.__version__}; {len(images)} CIFAR-10 images, "
          f"batch {b}")

    pipelines = {
        "kzoo": lambda: kzoo.data.two_view_dataset(images, b, seed=0),
        "keras_io_per_example": lambda: per_example_pipeline(images, b, 0),
    }
    baseline, why_not = baseline_pipeline(args.baseline_commit)
    if baseline is None:
        print(f"kzoo before: skipped ({why_not})")
    else:
        pipelines["kzoo_before"] = lambda: baseline(images, b, seed=0)
    rates = {name: [] for name in pipelines}
    for _ in range(args.rounds):
        for name, make in pipelines.items():
            seconds = time_pipeline(make(), args.batches)
            rates[name].append(args.batches * b / seconds)
    median = {name: statistics.median(r) for name, r in rates.items()}
    for name, rate in median.items():
        print(f"two-view pipeline {name:22s} {rate:8.0f} img/s "
              f"(kzoo / this: {median['kzoo'] / rate:5.2f}x)")

    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, (4, b, 32, 32, 3)).astype("uint8")
    views = {k: tf.data.Dataset.from_tensor_slices(
        raw.astype("float32")) for k in ("view_1", "view_2")}
    view_ds = tf.data.Dataset.zip(views).repeat()
    raw_ds = tf.data.Dataset.from_tensor_slices(raw).repeat()
    # The two models in alternation (the machine's speed drifts), after a
    # compiling warm-up each; the share is the median of the rounds'.
    fed = {"views_from_tf_data": (simsiam(), view_ds),
           "augmenting_in_the_step": (
               simsiam(kzoo.runs.pixel_view_augmentation(0)), raw_ds)}
    for model, ds in fed.values():
        time_fit(model, ds, 2)
    step = {name: [] for name in fed}
    for _ in range(args.rounds):
        for name, (model, ds) in fed.items():
            step[name].append(time_fit(model, ds, args.steps))
    shares = [b / a - 1 for a, b in zip(step["views_from_tf_data"],
                                        step["augmenting_in_the_step"])]
    t_views, t_in_step = (statistics.median(step[name]) for name in fed)
    share = statistics.median(shares)
    print(f"SimSiam step, views from tf.data: {1000 * t_views:7.1f} ms | "
          f"augmenting in the step: {1000 * t_in_step:7.1f} ms "
          f"(median share {100 * share:+.1f}%, rounds "
          f"{', '.join(f'{100 * s:+.1f}%' for s in shares)})")

    results = {
        "command": "python benchmarks/bench_two_view.py " + " ".join(
            sys.argv[1:]),
        "cpu": cpu_description(),
        "tensorflow": tf.__version__, "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "images": int(len(images)), "batch_size": b,
        "batches_per_round": args.batches, "rounds": args.rounds,
        "pipeline_images_per_s": {k: round(v, 1) for k, v in median.items()},
        "pipeline_rounds_images_per_s": {
            k: [round(x, 1) for x in v] for k, v in rates.items()},
        "kzoo_over": {k: round(median["kzoo"] / v, 3)
                      for k, v in median.items() if k != "kzoo"},
        "baseline_commit": args.baseline_commit,
        "baseline_skipped": why_not,
        "train_steps_per_round": args.steps,
        "train_step_ms": {"views_from_tf_data": round(1000 * t_views, 2),
                          "augmenting_in_the_step":
                              round(1000 * t_in_step, 2)},
        "train_step_rounds_ms": {
            name: [round(1000 * t, 2) for t in times]
            for name, times in step.items()},
        "in_step_augmentation_share": round(share, 4),
        "in_step_augmentation_share_rounds": [round(s, 4) for s in shares],
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
