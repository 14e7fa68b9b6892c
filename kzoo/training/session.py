"""How a recipe run opens: strategy, seed, `Run`, data; and how it exits.

`open_run` does what TensorFlow needs first (strategy before any op), then
seeds Keras and opens the `Run`; `start` adds the image classification
splits; `main_guard` turns missing data into a one-paragraph message.
"""

import os
import sys

from kzoo.training.run import Run
from kzoo.training.strategy import check_global_batch
from kzoo.training.strategy import describe_strategy
from kzoo.training.strategy import resolve_strategy


def open_run(args, prefix=None):
    """The opening every recipe shares, in the order TensorFlow needs.

    Quiets TensorFlow's C++ logs, creates the `tf.distribute` strategy from
    `--strategy` / `--cpu-replicas` (before any other TensorFlow op: logical
    CPU devices and MultiWorkerMirroredStrategy must come first), checks the
    global batch splits across the replicas, seeds Keras and opens the `Run`
    (writing `args.json`). Under the JAX and PyTorch backends the strategy
    is `backend_strategy`'s stand-in, and TensorFlow is not imported. A
    `--backend` other than the running backend stops the run with a
    message. When `prefix` is given, a missing
    `--model-name` / `--output-dir` defaults to `<prefix>_<dataset>` /
    `runs/<prefix>_<dataset>`. Recipes whose data is not an image
    classification split (detection, landmarks) load it themselves after
    this; the others call `start`.

    Returns:
        `(strategy, run)`.
    """
    if prefix is not None:
        args.model_name = args.model_name or f"{prefix}_{args.dataset}"
        args.output_dir = args.output_dir or os.path.join(
            "runs", args.model_name)
    strategy = resolve_strategy(args)
    print(describe_strategy(strategy, args.batch_size))
    check_global_batch(strategy, args.batch_size)

    import keras

    keras.utils.set_random_seed(args.seed)
    return strategy, Run(args, strategy)


def start(args, prefix=None):
    """`open_run`, then both splits of `--dataset` as image classification data.

    The loaders (`kzoo.data.sources`: image folders with PIL, scikit-learn's
    digits) need no TensorFlow; only the TFDS fallback (no `--data-dir`)
    does.

    Returns:
        `(strategy, run, train, test)`; `train` and `test` are
        `kzoo.data.ArrayDataset`s.
    """
    strategy, run = open_run(args, prefix)
    # The module itself, not `kzoo.data.load_dataset`: kzoo.data's names
    # check for TensorFlow first.
    from kzoo.data import sources

    def load(split, limit=None):
        if args.dataset == "bccd_cells":  # BCCD's boxes as crops
            from kzoo.data.cells import load_bccd_cells

            return load_bccd_cells(split, args.data_dir, limit=limit)
        return sources.load_dataset(args.dataset, split, args.data_dir,
                                    limit)

    if getattr(args, "eval_split", "test") == "validation":
        train, test = validation_split(
            load("train"),
            args.validation_size, args.limit)
        what = "validation (carved from train)"
    else:
        train = load("train", args.limit)
        test = load("test", args.limit)
        what = "test"
    print(f"data: {len(train.images)} train / {len(test.images)} {what} "
          f"images {train.images.shape[1:]}, {len(train.class_names)} "
          "classes")
    return strategy, run, train, test


def validation_split(train, size, limit=None, seed=0):
    """`(train, validation)` `ArrayDataset`s carved from a training split.

    A fixed permutation (`seed`) of `train` gives `size` validation
    images; the rest, cut to the first `limit` in class round-robin order
    (the order `--limit` uses, so a small limit covers every class even
    when the loader returns the images sorted by class), are the new
    training split. The test split is never touched, so hyper-parameters
    chosen on the validation figures stay honest.
    """
    import numpy as np

    n = len(train.images)
    if size >= n:
        raise SystemExit(f"error: --validation-size {size} leaves no "
                         f"training images (the split has {n})")
    order = np.random.default_rng(seed).permutation(n)
    held = np.zeros(n, bool)
    held[order[:size]] = True
    val_idx = np.sort(order[:size])
    train_idx = np.flatnonzero(~held)
    if limit is not None and limit < len(train_idx):
        labels = train.labels[train_idx]
        rank = np.zeros(len(train_idx), np.int64)
        for c in np.unique(labels):
            members = labels == c
            rank[members] = np.arange(members.sum())
        # Round-robin: first examples of every class, then the seconds...
        train_idx = train_idx[np.lexsort((labels, rank))[:limit]]
    return (train._replace(images=train.images[train_idx],
                           labels=train.labels[train_idx], skipped=[]),
            train._replace(images=train.images[val_idx],
                           labels=train.labels[val_idx], skipped=[]))


def steps_per_epoch(num_examples, batch_size):
    """Full batches per epoch; a clear exit when the batch is too large."""
    steps = num_examples // batch_size
    if steps < 1:
        raise SystemExit(
            f"error: --batch-size {batch_size} is larger than the "
            f"{num_examples} training examples")
    return steps


def main_guard(main):
    """Runs `main()`, turning `DataUnavailableError` into a short message.

    Missing data (offline without `--data-dir`) is a usage problem, not a
    bug: the user gets one paragraph saying what to pass, and exit code 2.
    Nothing heavy is imported here, so a bad flag fails in `main()`'s
    argument parsing before TensorFlow loads.
    """
    try:
        return main()
    except Exception as e:
        # kzoo.data.sources is imported by then if the data failed to load.
        sources = sys.modules.get("kzoo.data.sources")
        if sources is not None and isinstance(e, sources.DataUnavailableError):
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        raise
