"""Helper process for tests/test_distribute_losses.py: every in-batch loss
of kzoo on one device and under MirroredStrategy over N logical CPUs.

For each case the same global batch (16 examples) is given (a) to the loss
outside any strategy and (b) split over the N replicas by
`strategy.experimental_distribute_dataset`, each replica computing the
loss on its shard inside `strategy.run`, as `model.fit` does. The JSON
file gets, per case, the largest difference between the single-device
loss and the sum of the replicas' losses (Keras divides each by N), and
between the single-device gradients with respect to the embeddings and
the replicas' gradients concatenated in replica order.

    python tests/distribute_loss_worker.py --replicas 2 --output OUT.json
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_BACKEND"] = "tensorflow"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kzoo import distribute  # noqa: E402  (does not import TensorFlow)

from tests.distributed_loss_cases import BATCH, data  # noqa: E402
from tests import distributed_loss_cases  # noqa: E402


def cases():
    """The shared cases (tests/distributed_loss_cases.py), plus the control:
    NT-Xent without the cross-replica gather (per-shard negatives), which
    must differ from one device."""
    from kzoo import losses

    out = distributed_loss_cases.cases()
    _, pair, names, weighted = out["nt_xent_dict"]
    out["nt_xent_not_gathered"] = (lambda: losses.NTXentLoss(
        0.5, gather_distributed=False), pair, names, weighted)
    return out


def evaluate(loss, build, names, weighted, arrays):
    """`(loss, [d loss / d arrays[name]])` on the given (local) arrays."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        watched = {k: tf.convert_to_tensor(v) for k, v in arrays.items()}
        for name in names:
            tape.watch(watched[name])
        y_true, y_pred = build(watched)
        value = loss(y_true, y_pred,
                     sample_weight=watched["weights"] if weighted else None)
        total = tf.reduce_sum(value)
    return value, tape.gradient(total, [watched[n] for n in names])


def flat_weights(model):
    import numpy as np

    return np.concatenate([np.asarray(w, "float64").ravel()
                           for w in model.get_weights()])


def first_steps(strategy, kind, steps=2, replicas=1):
    """Initial and final weights after `steps` SGD steps of `model.fit` on
    fixed global batches (16 examples; `replicas` P x K blocks of 8 for
    the triplet recipe), built under `strategy`."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kzoo import losses, models

    rng = np.random.default_rng(5)
    n = 16 * steps
    keras.utils.set_random_seed(3)
    with strategy.scope():
        if kind == "simclr":
            backbone = keras.Sequential([
                keras.Input((6,)), keras.layers.Dense(12),
                keras.layers.BatchNormalization(synchronized=True),
                keras.layers.ReLU()])
            model = models.SimCLR(backbone, projection_dim=4,
                                  projection_hidden_dims=[8],
                                  temperature=0.5, synchronized_bn=True,
                                  collapse_monitor=False)
            model.compile(optimizer=keras.optimizers.SGD(0.5))
            x = {"view_1": rng.normal(size=(n, 6)).astype("float32"),
                 "view_2": rng.normal(size=(n, 6)).astype("float32")}
            data = tf.data.Dataset.from_tensor_slices(x)
        elif kind == "triplet":
            model = keras.Sequential([keras.Input((6,)),
                                      keras.layers.Dense(8)])
            model.compile(optimizer=keras.optimizers.SGD(0.5),
                          loss=losses.TripletLoss(margin=0.5,
                                                  mining="semi-hard"))
            x = rng.normal(size=(n, 6)).astype("float32")
            y = (np.arange(n) % 4).astype("int32")
            data = tf.data.Dataset.from_tensor_slices((x, y))
        elif kind == "triplet_recipe":
            # recipes/triplet_cifar.py's model, sampler and loss: ResNet-20
            # (synchronised BN) + EmbeddingHead, P x K batches of
            # R blocks, semi-hard TripletLoss, SGD with momentum.
            from kzoo import data, layers

            backbone = models.resnet20_cifar((16, 16, 3),
                                             synchronized_bn=True)
            inputs = keras.Input((16, 16, 3))
            model = keras.Model(inputs, layers.EmbeddingHead(16)(
                backbone(inputs)))
            model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                          loss=losses.TripletLoss(margin=0.2,
                                                  distance="l2",
                                                  mining="semi-hard"))
            images = rng.uniform(size=(64, 16, 16, 3)).astype("float32")
            labels = (np.arange(64) % 8).astype("int32")
            # The sampler's batches, taken once: its random stream is
            # redrawn for every new iterator (rerandomize_each_iteration),
            # and fit under a strategy does not create the same number of
            # iterators as without one.
            batches = list(data.class_balanced_dataset(
                images, labels, classes_per_batch=4, examples_per_class=2,
                seed=0, num_replicas=replicas, steps_per_epoch=steps))
            data = tf.data.Dataset.from_tensor_slices(tuple(
                np.concatenate([b[i].numpy() for b in batches])
                for i in range(2))).batch(8 * replicas)
        else:  # dual encoder with duplicates
            model = models.DualEncoder(
                keras.Sequential([keras.Input((5,)), keras.layers.Dense(7)]),
                keras.Sequential([keras.Input((3,)), keras.layers.Dense(7)]),
                embedding_dim=4)
            model.compile(optimizer=keras.optimizers.SGD(0.5))
            x = {"a": rng.normal(size=(n, 5)).astype("float32"),
                 "b": rng.normal(size=(n, 3)).astype("float32")}
            ids = rng.integers(0, 6, n).astype("int32")
            data = tf.data.Dataset.from_tensor_slices((x, ids))
    if kind != "triplet_recipe":
        data = data.batch(16)
    initial = flat_weights(model)
    model.fit(data, epochs=1, shuffle=False, verbose=0)
    return initial, flat_weights(model)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", required=True)
    parser.add_argument("--replicas", type=int, required=True)
    args = parser.parse_args(argv)
    strategy = distribute.resolve_strategy("mirrored",
                                           cpu_replicas=args.replicas,
                                           verbose=False)
    import numpy as np
    import tensorflow as tf

    from kzoo import addons

    arrays = data()
    dataset = tf.data.Dataset.from_tensor_slices(arrays).batch(BATCH)
    results = {"replicas": strategy.num_replicas_in_sync}
    for name, (factory, build, names, weighted) in cases().items():
        loss = factory()
        ref_value, ref_grads = evaluate(loss, build, names, weighted, arrays)

        @tf.function
        def step(batch):
            return strategy.run(
                lambda b: evaluate(loss, build, names, weighted, b),
                args=(batch,))

        batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
        values, grads = step(batch)
        values = [v.numpy() for v in strategy.experimental_local_results(
            values)]
        if values[0].ndim:  # reduction="none": each replica's rows
            got = np.concatenate(values)
        else:
            got = np.sum(values)
        out = {"loss": float(np.sum(ref_value)),
               "loss_diff": float(np.max(np.abs(got - ref_value.numpy())))}
        for n, ref_g, g in zip(names, ref_grads, grads):
            local = np.concatenate(
                [t.numpy() for t in strategy.experimental_local_results(g)])
            out[f"grad_{n}_diff"] = float(np.max(np.abs(local - ref_g)))
            out[f"grad_{n}_max"] = float(np.max(np.abs(ref_g)))
        results[name] = out

    # N-pairs losses take logits: a clear error instead of a wrong loss.
    logits = np.random.default_rng(1).normal(size=(BATCH, BATCH))
    npairs = tf.data.Dataset.from_tensor_slices(
        {"labels": arrays["labels"], "logits": logits.astype("float32")}
    ).batch(BATCH)

    @tf.function
    def npairs_step(batch):
        return strategy.run(lambda b: addons.losses.NpairsLoss()(
            b["labels"], b["logits"]), args=(batch,))

    try:
        npairs_step(next(iter(
            strategy.experimental_distribute_dataset(npairs))))
        results["npairs_error"] = None
    except ValueError as e:
        results["npairs_error"] = str(e)
    from tensorflow import distribute as tfd

    n = strategy.num_replicas_in_sync
    for kind in ("simclr", "triplet", "dual_encoder", "triplet_recipe"):
        # One step for the ResNet: its sync-BN sums run in another order
        # on N replicas (about 1e-4 relative after a step), and semi-hard
        # mining, discontinuous in the distances, can turn that into a
        # different choice of negatives at the next step.
        steps = 1 if kind == "triplet_recipe" else 2
        init1, final1 = first_steps(tfd.get_strategy(), kind, steps, n)
        init_n, final_n = first_steps(strategy, kind, steps, n)
        results[f"{kind}_steps"] = {
            "initial_diff": float(np.max(np.abs(init_n - init1))),
            "update_max": float(np.max(np.abs(final1 - init1))),
            "final_diff": float(np.max(np.abs(final_n - final1)))}
    # P x K batches under the strategy: what each replica receives.
    from kzoo import data as kdata

    pk = kdata.class_balanced_dataset(
        np.zeros((64, 2), "float32"), (np.arange(64) % 8).astype("int32"),
        classes_per_batch=4, examples_per_class=2, seed=0, num_replicas=n,
        steps_per_epoch=3)
    results["pk_local_labels"] = [
        [np.asarray(t).tolist() for t in
         strategy.experimental_local_results(labels)]
        for _, labels in strategy.experimental_distribute_dataset(pk)]
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
