"""Helper process for tests/test_distribute_jax.py: kzoo's in-batch losses
and self-supervised / metric-learning models on one device and under
`keras.distribution.DataParallel` over 2 and 4 JAX CPU devices.

On the JAX backend `kzoo.ops.replicas_in_sync()` is 1 and
`kzoo.ops.gather_replicas` the identity: `DataParallel` shards the global
batch over the devices inside one jit-compiled step, and XLA (GSPMD)
partitions the computation so that every op keeps its single-device
meaning (a batch mean, a pairwise similarity matrix, a batch-norm
statistic is over the global batch; XLA inserts the collectives). This
worker measures it:

- losses: for every in-batch loss, the value and the gradients with
  respect to the embeddings of `jax.jit(jax.value_and_grad(loss))` on the
  global batch (16 rows) laid out by `DataParallel.get_data_layout` (what
  the Keras JAX trainer does with each batch), against the same function
  on one device. The sharding the partitioner gives `y_pred` inside the
  step and the collectives of the compiled step are recorded.
- controls: the same global batch with the loss computed per shard, (a)
  with `jax.shard_map` over the `DataParallel` mesh (what a per-replica,
  `pmap`-style step would compute) and (b) on the halves / quarters of
  the batch in numpy order: both must differ from the global loss.
- models: two SGD steps (`fit`, or `train_on_batch` for SimSiam) of SimCLR
  with batch norm in the backbone and head (`synchronized_bn=True` and
  `False`), a semi-hard triplet `Sequential` and SimSiam, from the same
  initial weights (`set_weights` of one saved state), on one device and
  under `DataParallel`. A probe layer records the sharding of the model's
  input inside the compiled train step.

JAX needs its device count before it is imported: the parent sets
`XLA_FLAGS=--xla_force_host_platform_device_count=4` and
`KERAS_BACKEND=jax` (this file sets them too when run by hand). The test
also sets `JAX_DISABLE_MOST_OPTIMIZATIONS=1`, which halves the XLA
compile time; the SPMD partitioning (sharding propagation, collectives)
runs either way, and the results agree as closely with full optimisation.

    python tests/distribute_jax_worker.py --output OUT.json [--devices 2,4]
"""

import argparse
import json
import os
import time
import sys

os.environ["KERAS_BACKEND"] = "jax"
if "xla_force_host_platform_device_count" not in os.environ.get(
        "XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from tests.distributed_loss_cases import BATCH, DIM, cases, data  # noqa: E402,F401

COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter",
               "collective-permute", "all-to-all")


def loss_fn(loss, build, names, weighted, record=None):
    """`f(floats, others) -> sum(loss)`, differentiable in `floats`."""

    def f(floats, others):
        arrays = dict(others, **floats)
        y_true, y_pred = build(arrays)
        if record is not None:
            # The layout the partitioner chose for y_pred in the step.
            leaf = jax.tree_util.tree_leaves(y_pred)[0]
            jax.debug.inspect_array_sharding(
                leaf, callback=lambda s: record.append((s, leaf.shape)))
        value = loss(y_true, y_pred,
                     sample_weight=arrays["weights"] if weighted else None)
        return keras.ops.sum(value), value

    return f


def split(arrays, names):
    return ({k: v for k, v in arrays.items() if k in names},
            {k: v for k, v in arrays.items() if k not in names})


def sharding_info(sharding, n, shape):
    """How `sharding` lays out an array of `shape` over the `n` devices."""
    return {"devices": len(sharding.device_set),
            "fully_replicated": bool(sharding.is_fully_replicated),
            "rows": int(shape[0]),
            "shard_rows": int(sharding.shard_shape(tuple(shape))[0]),
            "text": str(sharding)[:200], "n": n}


def evaluate_losses(distribution, n):
    """Per case: value, `reduction="none"` rows and gradients on one
    device (`distribution=None`) or under `distribution`, every case in
    one jit-compiled step (one compilation)."""
    keras.distribution.set_distribution(distribution)
    arrays = data()
    if distribution is not None:
        # What the Keras JAX trainer does with every batch.
        arrays = {k: jax.device_put(v, distribution.get_data_layout(
            v.shape).backend_layout) for k, v in arrays.items()}
    records = {}

    def step(arrays):
        out = {}
        for name, (factory, build, names, weighted) in cases().items():
            records[name] = []
            f = loss_fn(factory(), build, names, weighted, records[name])
            out[name] = jax.value_and_grad(f, has_aux=True)(
                *split(arrays, names))
        return out

    compiled = jax.jit(step).lower(arrays).compile()
    results = {}
    for name, ((total, value), grads) in compiled(arrays).items():
        result = {"total": float(total), "value": np.asarray(value).tolist(),
                  "grads": {k: np.asarray(g).tolist()
                            for k, g in grads.items()}}
        if distribution is not None:
            (sharding, shape), = records[name]
            result["input_sharding"] = sharding_info(
                arrays["z1"].sharding, n, arrays["z1"].shape)
            result["in_step_sharding"] = sharding_info(sharding, n, shape)
            result["grad_sharding"] = sharding_info(
                grads["z1"].sharding, n, grads["z1"].shape)
        results[name] = result
    if distribution is not None:
        hlo = compiled.as_text()
        results["collectives"] = sorted(
            c for c in COLLECTIVES if c + "(" in hlo or c + "-start(" in hlo)
    keras.distribution.set_distribution(None)
    return results


def per_shard_controls(distribution, n):
    """NT-Xent and semi-hard triplet on the `DataParallel` mesh, each
    device computing the loss on its own rows (`jax.shard_map`, then the
    mean over devices: what a per-replica step gives), and the mean of the
    losses of the `n` row blocks (slices of the global batch)."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from kzoo import losses

    mesh = distribution.device_mesh.backend_mesh
    axis = distribution.batch_dim_name
    spec = P(axis)
    configs = {
        "nt_xent": (losses.NTXentLoss(0.5),
                    lambda a: (None, {"z1": a["z1"], "z2": a["z2"]})),
        "triplet_semi_hard": (losses.TripletLoss(margin=0.5,
                                                 mining="semi-hard"),
                              lambda a: (a["labels"], a["z1"]))}

    def controls(z1, z2, labels):
        out = {}
        for name, (loss, build) in configs.items():
            def local(z1, z2, labels):
                return loss(*build({"z1": z1, "z2": z2, "labels": labels}))

            mapped = jax.shard_map(
                lambda *a: jax.lax.pmean(local(*a), axis), mesh=mesh,
                in_specs=(spec, spec, spec), out_specs=P())
            rows = BATCH // n
            blocks = [local(z1[i * rows:(i + 1) * rows],
                            z2[i * rows:(i + 1) * rows],
                            labels[i * rows:(i + 1) * rows])
                      for i in range(n)]
            out[name] = (jax.value_and_grad(mapped)(z1, z2, labels),
                         sum(blocks) / n)
        return out

    arrays = data()
    args = [jax.device_put(arrays[k], NamedSharding(mesh, spec))
            for k in ("z1", "z2", "labels")]
    return {name: {"shard_map": float(value),
                   "shard_map_grad_z1": np.asarray(grad).tolist(),
                   "blocks_mean": float(blocks)}
            for name, ((value, grad), blocks) in
            jax.jit(controls)(*args).items()}


def batch_norm_check(distribution, n):
    """`BatchNormalization(training=True)` outputs and moving statistics
    under `jax.jit` on the sharded batch, and per device (`shard_map`, the
    per-replica statistics a non-synchronised layer would use), against
    one device."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = distribution.device_mesh.backend_mesh
    axis = distribution.batch_dim_name
    layer = keras.layers.BatchNormalization(momentum=0.5)
    layer.build((None, DIM))
    trainable = [v.value for v in layer.trainable_variables]
    frozen = [v.value for v in layer.non_trainable_variables]
    # Off-centre, so that the shards' means differ from the global one.
    x = data()["z1"] * 3.0 + np.arange(BATCH, dtype="float32")[:, None]

    def bn(x):  # (outputs, new moving statistics)
        return layer.stateless_call(trainable, frozen, x, training=True)

    y1, new1 = jax.jit(bn)(x)
    sharded = jax.device_put(x, distribution.get_data_layout(
        x.shape).backend_layout)
    y_n, new_n = jax.jit(bn)(sharded)
    y_s = jax.jit(jax.shard_map(
        lambda x: bn(x)[0], mesh=mesh, in_specs=P(axis),
        out_specs=P(axis)))(jax.device_put(x, NamedSharding(mesh, P(axis))))
    return {
        "output_diff": float(np.max(np.abs(np.asarray(y_n) -
                                           np.asarray(y1)))),
        "moving_diff": float(max(np.max(np.abs(np.asarray(a) -
                                               np.asarray(b)))
                                 for a, b in zip(new_n, new1))),
        "moving_update": float(max(np.max(np.abs(np.asarray(a) -
                                                 np.asarray(b)))
                                   for a, b in zip(new1, frozen))),
        "per_device_output_diff": float(np.max(np.abs(
            np.asarray(y_s) - np.asarray(y1)))),
    }


def flat(weights):
    return np.concatenate([np.asarray(w, "float64").ravel()
                           for w in weights])


class ShardingProbe(keras.layers.Layer):
    """Identity; records the sharding of its input inside compiled steps."""

    seen = []

    def call(self, x):
        if isinstance(x, jax.core.Tracer):
            jax.debug.inspect_array_sharding(
                x, callback=lambda s: ShardingProbe.seen.append(
                    (s, x.shape)))
        return x


def build_model(kind):
    from kzoo import losses, models

    if kind.startswith("simclr"):
        backbone = keras.Sequential([
            keras.Input((6,)), ShardingProbe(), keras.layers.Dense(12),
            # Plain BatchNormalization: what kzoo's synchronized=True
            # gives on JAX (Keras' own synchronized=True is TF-only).
            keras.layers.BatchNormalization(), keras.layers.ReLU()])
        model = models.SimCLR(backbone, projection_dim=4,
                              projection_hidden_dims=[8], temperature=0.5,
                              synchronized_bn=kind == "simclr_sync_bn",
                              collapse_monitor=False)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    elif kind == "simsiam":
        backbone = keras.Sequential([
            keras.Input((6,)), ShardingProbe(), keras.layers.Dense(12),
            keras.layers.BatchNormalization(), keras.layers.ReLU()])
        model = models.SimSiam(backbone, projection_dim=8,
                               projection_hidden_dims=[8], predictor_dim=8,
                               synchronized_bn=True)
        model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9))
    else:  # semi-hard triplet
        model = keras.Sequential([keras.Input((6,)), ShardingProbe(),
                                  keras.layers.Dense(8)])
        model.compile(optimizer=keras.optimizers.SGD(0.5),
                      loss=losses.TripletLoss(margin=0.5,
                                              mining="semi-hard"))
    return model


def model_data(kind):
    rng = np.random.default_rng(5)
    n = 2 * BATCH  # two steps
    if kind == "triplet":
        x = rng.normal(size=(n, 6)).astype("float32")
        y = rng.permutation(np.arange(n) % 4).astype("int32")
        return x, y
    return {"view_1": rng.normal(size=(n, 6)).astype("float32"),
            "view_2": rng.normal(size=(n, 6)).astype("float32")}, None


def train(kind, distribution, initial):
    """Weights after two SGD steps from `initial` (None: keep the
    model's own and return them too)."""
    keras.distribution.set_distribution(distribution)
    keras.utils.set_random_seed(3)
    model = build_model(kind)
    if initial is not None:
        model.set_weights(initial)
    start = [np.asarray(w) for w in model.get_weights()]
    ShardingProbe.seen = []
    x, y = model_data(kind)
    if kind == "simsiam":
        for i in range(2):
            model.train_on_batch(
                {k: v[i * BATCH:(i + 1) * BATCH] for k, v in x.items()})
    else:
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False,
                  verbose=0)
    seen = list(ShardingProbe.seen)
    keras.distribution.set_distribution(None)
    return start, [np.asarray(w) for w in model.get_weights()], seen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", required=True)
    parser.add_argument("--devices", default="2,4")
    parser.add_argument("--skip-models", action="store_true")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.devices.split(",")]
    results = {"device_count": jax.device_count(),
               "backend": keras.backend.backend(), "configs": {}}
    from kzoo import ops as kops

    results["replicas_in_sync"] = kops.replicas_in_sync()
    start = time.monotonic()
    timings = results["seconds"] = {}
    reference = evaluate_losses(None, 1)
    kinds = [] if args.skip_models else [
        "simclr_sync_bn", "simclr", "triplet", "simsiam"]
    timings["reference_losses"] = time.monotonic() - start
    ref_models = {k: train(k, None, None) for k in kinds}
    timings["reference_models"] = time.monotonic() - start
    for n in counts:
        distribution = keras.distribution.DataParallel(
            devices=jax.devices()[:n])
        config = {"mesh_shape": list(distribution.device_mesh.shape)}
        keras.distribution.set_distribution(distribution)
        config["replicas_in_sync_under_dp"] = kops.replicas_in_sync()
        keras.distribution.set_distribution(None)
        got = evaluate_losses(distribution, n)
        timings[f"losses_{n}"] = time.monotonic() - start
        config["losses"] = {}
        config["collectives"] = got.pop("collectives")
        for name, ref in reference.items():
            g = got[name]
            entry = {
                "loss": ref["total"],
                "loss_diff": abs(g["total"] - ref["total"]),
                "value_diff": float(np.max(np.abs(
                    np.asarray(g["value"]) - np.asarray(ref["value"])))),
                "value_max": float(np.max(np.abs(np.asarray(ref["value"])))),
            }
            for k in ref["grads"]:
                r = np.asarray(ref["grads"][k])
                entry[f"grad_{k}_max"] = float(np.max(np.abs(r)))
                entry[f"grad_{k}_diff"] = float(np.max(np.abs(
                    np.asarray(g["grads"][k]) - r)))
            for k in ("input_sharding", "in_step_sharding",
                      "grad_sharding"):
                entry[k] = g[k]
            config["losses"][name] = entry
        controls = per_shard_controls(distribution, n)
        config["controls"] = {}
        for name, c in controls.items():
            ref_name = "nt_xent_dict" if name == "nt_xent" else name
            ref = reference[ref_name]
            config["controls"][name] = {
                "global": ref["total"],
                "shard_map_diff": abs(c["shard_map"] - ref["total"]),
                "blocks_diff": abs(c["blocks_mean"] - ref["total"]),
                "shard_map_vs_blocks": abs(c["shard_map"] - c["blocks_mean"]),
                "shard_map_grad_z1_diff": float(np.max(np.abs(
                    np.asarray(c["shard_map_grad_z1"]) -
                    np.asarray(ref["grads"]["z1"])))),
            }
        config["batch_norm"] = batch_norm_check(distribution, n)
        timings[f"controls_{n}"] = time.monotonic() - start
        config["models"] = {}
        for kind in kinds:
            init1, final1, _ = ref_models[kind]
            init_n, final_n, seen = train(kind, distribution, init1)
            config["models"][kind] = {
                "initial_diff": float(np.max(np.abs(flat(init_n) -
                                                    flat(init1)))),
                "update_max": float(np.max(np.abs(flat(final1) -
                                                  flat(init1)))),
                "final_diff": float(np.max(np.abs(flat(final_n) -
                                                  flat(final1)))),
                "probe": [sharding_info(s, n, shape) for s, shape in seen],
            }
        timings[f"models_{n}"] = time.monotonic() - start
        results["configs"][str(n)] = config
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
