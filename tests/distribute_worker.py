"""Helper process for tests/test_distribute.py: train a tiny CNN under a
strategy chosen by `kzoo.distribute` and write what happened to a JSON file.

Each run needs a fresh TensorFlow runtime (logical CPU devices and
MultiWorkerMirroredStrategy can only be set up before the first TensorFlow
op), hence a separate process per configuration.

    python tests/distribute_worker.py --output OUT.json \\
        [--strategy mirrored --cpu-replicas 2] [--bn sync,local] \\
        [--examples 16 --global-batch 16] [--scoped-dir DIR] [--late-configure]

For each BatchNormalization variant in `--bn` the model is rebuilt from the
same seed and trained for one epoch of `examples / global_batch` steps on the
same seeded data; the JSON file gets the epoch's loss, the weights before and
after training, and a checksum of the trained weights.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kzoo import distribute  # noqa: E402  (does not import TensorFlow)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", required=True, help="JSON file to write.")
    parser.add_argument("--bn", default="sync",
                        help="comma-separated BatchNormalization variants to "
                        "train: 'sync' (synchronized=True) and/or 'local'; "
                        "'' trains nothing.")
    parser.add_argument("--examples", type=int, default=16)
    parser.add_argument("--global-batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scoped-dir", default="out",
                        help="path given to worker_scoped_dir.")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--backup-dir", default=None,
                        help="keras.callbacks.BackupAndRestore directory "
                        "(per worker: worker_scoped_dir).")
    parser.add_argument("--die-at", default=None, metavar="EPOCH,BATCH",
                        help="end this process abruptly (os._exit) after "
                        "batch BATCH of epoch EPOCH (0-based), as a "
                        "preempted worker.")
    parser.add_argument("--count-examples", type=int, default=0,
                        help="after training, iterate one epoch of a "
                        "generated dataset of this many example ids, "
                        "batched globally with DATA sharding, and record "
                        "the ids this process's replicas received.")
    parser.add_argument("--late-configure", action="store_true",
                        help="after training, call configure_cpu_replicas "
                        "again (same n: no-op; other n: RuntimeError).")
    distribute.add_distribute_args(parser)
    return parser.parse_args(argv)


def build_model(synchronized):
    import keras
    from keras import layers

    # BatchNormalization(synchronized=True) all-reduces the batch mean and
    # variance across replicas, so each replica normalises with the
    # statistics of the GLOBAL batch: the forward pass, the loss and the
    # gradients are then those of a single replica seeing the whole batch.
    # With synchronized=False each replica normalises with the statistics
    # of its own slice (8 of the 16 examples here), which changes the
    # outputs and the loss, so N replicas no longer train like 1.
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for i, filters in enumerate((8, 8)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                          name=f"conv{i}")(x)
        x = layers.BatchNormalization(synchronized=synchronized,
                                      name=f"bn{i}")(x)
        x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs)


def make_data(examples, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(examples, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, size=(examples,)).astype("int32")
    return x, y


def make_dataset(x, y, global_batch):
    import tensorflow as tf

    # Batched GLOBALLY: Keras splits each batch across the replicas.
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(global_batch)
    options = tf.data.Options()
    # Under MultiWorkerMirroredStrategy Keras auto-shards the dataset. Every
    # worker builds the same in-memory dataset (same seed) and there are no
    # files to shard, so the default AUTO policy would fall back to DATA
    # with a warning; DATA says it explicitly: each worker keeps its own
    # share of every global batch (worker i gets replica i's slice), so the
    # workers together see each global batch exactly once. OFF would make
    # every worker train on every example (duplicated data).
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def flat_weights(model):
    import numpy as np

    return np.concatenate(
        [np.asarray(w, dtype="float64").ravel() for w in model.get_weights()]
    )


def train(strategy, synchronized, args):
    import keras

    keras.utils.set_random_seed(args.seed)
    x, y = make_data(args.examples, args.seed)
    with strategy.scope():
        model = build_model(synchronized)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.1),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    initial = flat_weights(model)
    callbacks = []
    if args.backup_dir:
        # As kzoo.runs does: <run dir>/backup, the run directory being
        # worker-scoped. (Not worker_scoped_dir(backup): the chief's backup
        # would then contain the others', and BackupAndRestore deletes its
        # whole directory when training ends, theirs included.)
        backup = os.path.join(
            distribute.worker_scoped_dir(args.backup_dir, strategy),
            "backup")
        os.makedirs(backup, exist_ok=True)
        callbacks.append(keras.callbacks.BackupAndRestore(backup))
    if args.die_at:
        die_epoch, die_batch = (int(v) for v in args.die_at.split(","))

        class Die(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.epoch = epoch

            def on_train_batch_end(self, batch, logs=None):
                if self.epoch == die_epoch and batch == die_batch:
                    print(f"dying at epoch {die_epoch} batch {die_batch}",
                          flush=True)
                    os._exit(17)

        callbacks.append(Die())
    history = model.fit(make_dataset(x, y, args.global_batch),
                        epochs=args.epochs, shuffle=False, verbose=0,
                        callbacks=callbacks)
    final = flat_weights(model)
    return {
        "epochs_run": len(history.history["loss"]),
        "loss": float(history.history["loss"][-1]),
        "initial_weights": initial.tolist(),
        "weights": final.tolist(),
        "checksum": float(abs(final).sum()),
    }


def seen_ids(strategy, examples, global_batch):
    """The example ids this process's replicas get in one epoch of a
    generated dataset (the last global batch may be partial)."""
    import numpy as np
    import tensorflow as tf

    ids = tf.data.Dataset.range(examples).batch(global_batch)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    dist = strategy.experimental_distribute_dataset(ids.with_options(options))
    seen = []
    for batch in dist:
        for local in strategy.experimental_local_results(batch):
            seen.extend(np.asarray(local).tolist())
    return seen


def late_configure():
    import tensorflow as tf

    current = len(tf.config.list_logical_devices("CPU"))
    distribute.configure_cpu_replicas(current)  # same n: must be a no-op
    try:
        distribute.configure_cpu_replicas(current + 1)
    except RuntimeError as e:
        return {"current": current, "error": str(e)}
    return {"current": current, "error": None}


def main(argv=None):
    args = parse_args(argv)
    # The strategy first, before any other TensorFlow op.
    strategy = distribute.resolve_strategy(args.strategy, args.cpu_replicas)
    print(distribute.describe_strategy(strategy, args.global_batch),
          flush=True)
    result = {
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "description": distribute.describe_strategy(strategy),
        "per_replica_batch": distribute.per_replica_batch_size(
            args.global_batch, strategy),
        "is_chief": distribute.is_chief(strategy),
        "worker_scoped_dir": distribute.worker_scoped_dir(
            args.scoped_dir, strategy),
        "runs": {},
    }
    for variant in filter(None, args.bn.split(",")):
        result["runs"][variant] = train(strategy, variant == "sync", args)
    if args.count_examples:
        result["seen_ids"] = seen_ids(strategy, args.count_examples,
                                      args.global_batch)
    if args.late_configure:
        result["late_configure"] = late_configure()
    tmp = args.output + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, args.output)
    for variant, run in result["runs"].items():
        print(f"{variant}: loss {run['loss']:.6f} checksum {run['checksum']:.6f}")


if __name__ == "__main__":
    main()
