"""Choosing a `tf.distribute.Strategy` for a recipe, with or without a GPU.

Recipes use GLOBAL batch sizes: under a strategy, Keras splits each batch of
a `tf.data.Dataset` evenly across `strategy.num_replicas_in_sync` replicas,
so the global batch must be divisible by the number of replicas
(`per_replica_batch_size` checks it).

Order matters. Logical CPU devices (`configure_cpu_replicas`) and
`tf.distribute.MultiWorkerMirroredStrategy` must both be set up before the
TensorFlow runtime is initialised, i.e. before any other TensorFlow op runs
in the process (creating a tensor or a variable, building a Keras model,
listing logical devices, ...). Recipes therefore call `resolve_strategy`
right after parsing their flags. Importing this module does not import
TensorFlow.

Multi-worker training on one machine (CPU only) needs one process per
worker, each with its own `TF_CONFIG`, e.g. for worker 0 of 2:

```
TF_CONFIG='{"cluster": {"worker": ["localhost:12345", "localhost:12346"]},
            "task": {"type": "worker", "index": 0}}' \\
    python recipes/... --strategy multiworker
```

Only the chief (`is_chief`) should write the final artefacts; every other
worker writes its checkpoints and backups to its own scratch directory
(`worker_scoped_dir`), because Keras' `ModelCheckpoint` and
`BackupAndRestore` would otherwise race on the same files.
"""

import os
import re
import warnings

from kzoo._checks import check_positive_int as _check_positive_int
from kzoo._tensorflow import require_tensorflow

require_tensorflow("kzoo.distribute")

# One list for every backend (kzoo.runs is plain Python at import).
from kzoo.training.flags import STRATEGIES  # noqa: E402

# Multi-worker checks and workarounds; public here as before.
from kzoo._multiworker import (  # noqa: E402, F401
    DEFAULT_PEER_TIMEOUT,
    PEER_TIMEOUT_ENV,
    _multi_worker_strategy,
    _num_cluster_tasks,
    _tf_config,
    _watch_peers,
    check_tf_config,
    patch_keras_for_multiworker,
    peer_timeout,
)

_PREFIX = "kzoo.distribute: "


def configure_cpu_replicas(n):
    """Splits the first physical CPU into `n` logical CPU devices.

    This lets `tf.distribute.MirroredStrategy` run `n` replicas on a machine
    without a GPU (the replicas share the CPU cores, so it is a correctness
    tool, not a speed-up). It must be called before the TensorFlow runtime
    is initialised, i.e. before any TensorFlow op runs in the process.
    Calling it again with the same `n` is a no-op.

    Args:
        n: number of logical CPU devices, an integer >= 1.

    Raises:
        ValueError: if `n` is not an integer >= 1.
        RuntimeError: if the TensorFlow runtime is already initialised with
            a different number of logical CPU devices.

    Example:

    >>> configure_cpu_replicas(2)  # first thing in the program
    >>> strategy = resolve_strategy("mirrored")  # 2 replicas: /cpu:0, /cpu:1
    """
    _check_positive_int(n, "n")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == n:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError as e:
        if current is None and n == 1:
            return  # The default: one logical device per physical CPU.
        have = len(current) if current else 1
        raise RuntimeError(
            f"configure_cpu_replicas({n}) was called too late: the "
            f"TensorFlow runtime is already initialised with {have} logical "
            "CPU device(s). Call `kzoo.distribute.configure_cpu_replicas` "
            "(or pass `--cpu-replicas` to the recipe) before any TensorFlow "
            f"op runs in the process. ({e})"
        ) from e


def _mirrored_strategy(cpu_replicas):
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        if cpu_replicas is not None and cpu_replicas > 1:
            warnings.warn(
                f"cpu_replicas={cpu_replicas} is ignored: MirroredStrategy "
                f"uses the {len(gpus)} GPU(s) of this machine.",
                stacklevel=3,
            )
        return tf.distribute.MirroredStrategy()
    return _cpu_mirrored_strategy(cpu_replicas)


def _cpu_mirrored_strategy(cpu_replicas):
    import tensorflow as tf

    if cpu_replicas is not None:
        configure_cpu_replicas(cpu_replicas)
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    # The default cross-device ops (NCCL all-reduce) only work on GPUs.
    return tf.distribute.MirroredStrategy(
        devices=devices,
        cross_device_ops=tf.distribute.ReductionToOneDevice(),
    )


def resolve_strategy(name="auto", cpu_replicas=None, verbose=True):
    """Creates the `tf.distribute.Strategy` a recipe trains under.

    Call it first thing in the program, before any other TensorFlow op runs:
    `MultiWorkerMirroredStrategy` and logical CPU devices can only be set up
    before the TensorFlow runtime is initialised.

    Strategies:

    - `"auto"`: `"multiworker"` if `TF_CONFIG` is set and its cluster has
        more than one task; else `MirroredStrategy` over the GPUs if there
        is more than one; else `MirroredStrategy` over `cpu_replicas`
        logical CPU devices if `cpu_replicas > 1`; else the default
        strategy.
    - `"default"`: the default strategy (`tf.distribute.get_strategy()`,
        one replica, no distribution).
    - `"mirrored"`: `tf.distribute.MirroredStrategy` over all GPUs if there
        are any, else over the logical CPU devices (after
        `configure_cpu_replicas(cpu_replicas)` if `cpu_replicas` is given;
        with one CPU device it is a 1-replica `MirroredStrategy`). On CPUs
        the all-reduce is `tf.distribute.ReductionToOneDevice` (NCCL is
        GPU-only).
    - `"multiworker"`: `tf.distribute.MultiWorkerMirroredStrategy`, which
        reads the cluster from the `TF_CONFIG` environment variable
        (checked first by `check_tf_config`); on CPU-only machines its
        collectives use the RING implementation. A worker whose peers are
        not all reachable within `KZOO_PEER_TIMEOUT` seconds (default 300)
        is killed with a message naming them, where TensorFlow alone would
        wait forever.
        Each worker uses its GPUs or, without any, one CPU device. Also
        applies `patch_keras_for_multiworker` (Keras 3's `fit` fails under
        multi-worker MWMS without it).

    Args:
        name: one of `"auto"`, `"default"`, `"mirrored"`, `"multiworker"`.
            Defaults to `"auto"`.
        cpu_replicas: optional integer >= 1: split the CPU into this many
            logical devices so `MirroredStrategy` runs that many replicas
            without a GPU. Defaults to `None`.
        verbose: whether to print a one-line description of the strategy
            (`describe_strategy`). Defaults to `True`.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: for an unknown `name`, an invalid `cpu_replicas`,
            `"multiworker"` without `TF_CONFIG`, or contradictory arguments
            (`"default"` or `"multiworker"` with `cpu_replicas > 1`).

    Example:

    >>> strategy = resolve_strategy("mirrored", cpu_replicas=2)
    kzoo.distribute: MirroredStrategy with 2 replicas (devices: /cpu:0, /cpu:1)
    >>> with strategy.scope():
    ...     model = build_model()
    ...     model.compile(...)
    >>> model.fit(dataset_batched_globally, ...)
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"`name` must be one of {', '.join(STRATEGIES)}. "
            f"Received: name={name!r}"
        )
    if cpu_replicas is not None:
        _check_positive_int(cpu_replicas, "cpu_replicas")
    multi_cpu = cpu_replicas is not None and cpu_replicas > 1
    if name == "default" and multi_cpu:
        raise ValueError(
            "The default strategy has exactly one replica: it contradicts "
            "`cpu_replicas > 1` (use name='mirrored' or 'auto'). "
            f"Received: name={name!r}, cpu_replicas={cpu_replicas}"
        )

    if name == "auto":
        config = _tf_config()
        if config is not None and _num_cluster_tasks(config) > 1:
            name = "multiworker"
    if name == "multiworker":
        if _tf_config() is None:
            raise ValueError(
                "MultiWorkerMirroredStrategy needs the TF_CONFIG environment "
                "variable (the cluster's worker addresses and this process' "
                'task), e.g. TF_CONFIG=\'{"cluster": {"worker": '
                '["host0:port", "host1:port"]}, "task": {"type": "worker", '
                "\"index\": 0}}'. It is not set. Received: name='multiworker'"
            )
        if multi_cpu:
            raise ValueError(
                "MultiWorkerMirroredStrategy uses one CPU device per worker "
                "(or its GPUs): it contradicts `cpu_replicas > 1`. "
                f"Received: name='multiworker', cpu_replicas={cpu_replicas}"
            )
        timeout = peer_timeout()
        config = _tf_config()
        _, _, own = check_tf_config(config)
        _watch_peers(config, own, timeout)
        strategy = _multi_worker_strategy()
    elif name == "mirrored":
        strategy = _mirrored_strategy(cpu_replicas)
    elif name == "auto":
        import tensorflow as tf

        if len(tf.config.list_physical_devices("GPU")) > 1:
            strategy = tf.distribute.MirroredStrategy()
        elif multi_cpu:
            strategy = _cpu_mirrored_strategy(cpu_replicas)
        else:
            strategy = tf.distribute.get_strategy()
    else:  # "default"
        import tensorflow as tf

        strategy = tf.distribute.get_strategy()
    if verbose:
        print(describe_strategy(strategy), flush=True)
    return strategy


def _short_device(device):
    match = re.search(r"device:([A-Za-z_]+):(\d+)", device)
    if not match:
        return device
    return f"/{match.group(1).lower()}:{match.group(2)}"


def _cluster(strategy):
    """`(task_type, task_id, cluster_dict)` of a multi-worker strategy, or
    `None` for single-worker strategies."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return None
    cluster = resolver.cluster_spec().as_dict()
    if not cluster:
        return None
    return resolver.task_type, int(resolver.task_id or 0), cluster


def _is_default_strategy(strategy):
    # `tf.distribute.get_strategy()` outside any scope; its class is private.
    return type(strategy).__name__ == "_DefaultDistributionStrategy"


def _strategy_name(strategy):
    # `tf.distribute.MultiWorkerMirroredStrategy` is exported from a class
    # named `CollectiveAllReduceStrategy`.
    if type(strategy).__name__ == "CollectiveAllReduceStrategy":
        return "MultiWorkerMirroredStrategy"
    return type(strategy).__name__


def describe_strategy(strategy, global_batch_size=None):
    """A one-line description of a strategy and of how a batch is split.

    Args:
        strategy: a `tf.distribute.Strategy`.
        global_batch_size: optional global batch size, to also describe its
            split across replicas. Defaults to `None`.

    Returns:
        A string such as `"kzoo.distribute: MirroredStrategy with 2 replicas
        (devices: /cpu:0, /cpu:1); global batch 128 = 64 per replica"`.

    Example:

    >>> print(describe_strategy(tf.distribute.get_strategy(), 32))
    kzoo.distribute: default strategy (no distribution) with 1 replica; global batch 32 = 32 per replica
    """
    replicas = strategy.num_replicas_in_sync
    plural = "replica" if replicas == 1 else "replicas"
    if _is_default_strategy(strategy):
        text = f"default strategy (no distribution) with {replicas} {plural}"
    else:
        text = f"{_strategy_name(strategy)} with {replicas} {plural}"
        details = []
        cluster = _cluster(strategy)
        if cluster is not None:
            task_type, task_id, spec = cluster
            tasks = sum(len(spec.get(job) or ()) for job in ("chief", "worker"))
            chief = ", chief" if is_chief(strategy) else ""
            details.append(f"{tasks} workers, this is {task_type} {task_id}{chief}")
        try:
            devices = strategy.extended.worker_devices
        except (RuntimeError, NotImplementedError, AttributeError):
            devices = ()
        if devices:
            names = ", ".join(_short_device(d) for d in devices)
            local = "local devices" if cluster is not None else "devices"
            details.append(f"{local}: {names}")
        if details:
            text += f" ({'; '.join(details)})"
    if global_batch_size is not None:
        if global_batch_size % replicas:
            text += (
                f"; global batch {global_batch_size} is NOT divisible by "
                f"{replicas} {plural}"
            )
        else:
            text += (
                f"; global batch {global_batch_size} = "
                f"{global_batch_size // replicas} per replica"
            )
    return _PREFIX + text


def per_replica_batch_size(global_batch_size, strategy):
    """The batch size each replica sees for a global batch size.

    Args:
        global_batch_size: the global batch size (what the `tf.data`
            pipeline batches by), an integer >= 1.
        strategy: a `tf.distribute.Strategy`.

    Returns:
        `global_batch_size // strategy.num_replicas_in_sync`.

    Raises:
        ValueError: if `global_batch_size` is not a positive integer
            divisible by the number of replicas.

    Example:

    >>> per_replica_batch_size(128, strategy)  # 2 replicas
    64
    """
    replicas = strategy.num_replicas_in_sync
    if (
        isinstance(global_batch_size, bool)
        or not isinstance(global_batch_size, int)
        or global_batch_size < 1
    ):
        raise ValueError(
            "`global_batch_size` must be an integer >= 1. "
            f"Received: global_batch_size={global_batch_size!r}"
        )
    if global_batch_size % replicas:
        raise ValueError(
            f"The global batch size must be divisible by the number of "
            f"replicas ({replicas}) so every replica gets the same batch. "
            f"Received: global_batch_size={global_batch_size}"
        )
    return global_batch_size // replicas


def replicas_in_sync():
    """How many replicas share the batch being computed on, seen from here.

    Inside a replica context of a `tf.distribute.Strategy` with `N > 1`
    replicas (a `train_step` under `MirroredStrategy`, `model.fit`'s loss),
    `N`; everywhere else 1: the default strategy, a cross-replica context
    (where tensors already hold the whole batch) and eager code.
    """
    from kzoo._replicas import tensorflow_replicas_in_sync

    return tensorflow_replicas_in_sync()


def gather_replicas(x):
    """The global batch of `x`: every replica's rows, in replica order.

    Call it in a replica context (`replicas_in_sync() > 1`); elsewhere it
    returns `x`. Rows are concatenated along axis 0 in replica order, the
    order in which `tf.distribute` splits a global batch, so the result is
    the batch one device would see; replicas may hold different numbers of
    rows (the last, partial batch of an epoch).

    Gradients flow back to the replica that produced each row: the
    gradient with respect to the local `x` is this replica's rows of the
    gradients of the gathered tensor summed over all replicas. With
    Keras' convention (each replica's loss divided by `N`, gradients
    summed across replicas), a loss computed on the gathered batch then
    gives exactly the single-device gradients of the global-batch loss.

    Built on `all_reduce(SUM)` of the local rows placed at their offset in
    a zero global tensor, so it needs only the all-reduce every strategy
    has (MirroredStrategy with any cross-device ops, MultiWorkerMirrored,
    TPU); it moves `N` times the data of an all-gather, which for
    embeddings (a few KiB per replica) is negligible.

    Args:
        x: tensor `[b, ...]`, the local rows (non-empty rank).

    Returns:
        The gathered tensor `[B, ...]`, `B` the sum of the replicas' `b`.
    """
    import tensorflow as tf

    if replicas_in_sync() == 1:
        return x
    context = tf.distribute.get_replica_context()
    x = tf.convert_to_tensor(x)
    if x.shape.rank == 0:
        raise ValueError("gather_replicas needs a tensor with a batch axis. "
                         f"Received: x.shape={tuple(x.shape)}")
    begin, total = _replica_offset(context, tf.shape(x)[0])
    dtype = x.dtype
    # Integer and bool tensors (labels, masks) are summed as int64/float
    # and have no gradient; float tensors keep theirs.
    if dtype.is_floating:
        work = x
    elif dtype == tf.bool:
        work = tf.cast(x, tf.int32)
    else:
        work = x if dtype in (tf.int32, tf.int64) else tf.cast(x, tf.int64)
    tail = tf.shape(work)[1:]
    placed = tf.concat([
        tf.zeros(tf.concat([[begin], tail], 0), work.dtype),
        work,
        tf.zeros(tf.concat([[total - begin - tf.shape(work)[0]], tail], 0),
                 work.dtype)], axis=0)
    out = context.all_reduce(tf.distribute.ReduceOp.SUM, placed)
    if not dtype.is_floating:
        out = tf.stop_gradient(tf.cast(out, dtype))
    return out


def _replica_offset(context, rows):
    """`(first global row of this replica, global rows)`."""
    import tensorflow as tf

    n = context.num_replicas_in_sync
    mine = tf.one_hot(context.replica_id_in_sync_group, n, dtype=tf.int32)
    counts = context.all_reduce(tf.distribute.ReduceOp.SUM,
                                mine * tf.cast(rows, tf.int32))
    begin = tf.reduce_sum(counts[:context.replica_id_in_sync_group])
    return begin, tf.reduce_sum(counts)


def local_rows(x, rows):
    """This replica's rows of a gathered tensor (`gather_replicas`).

    Args:
        x: gathered tensor `[B, ...]`.
        rows: how many rows this replica contributed (its local batch).

    Returns:
        `x[begin:begin + rows]`; `x` itself outside a replica context.
    """
    import tensorflow as tf

    if replicas_in_sync() == 1:
        return x
    context = tf.distribute.get_replica_context()
    begin, _ = _replica_offset(context, rows)
    return x[begin:begin + rows]


def is_chief(strategy=None):
    """Whether this process is the chief, which writes the final artefacts.

    Single-worker strategies (default, `MirroredStrategy`) are always the
    chief. Under `MultiWorkerMirroredStrategy` the chief is the task of type
    `"chief"`, or the `"worker"` with index 0 when the cluster has no
    `"chief"` job.

    Args:
        strategy: a `tf.distribute.Strategy`. Defaults to `None`: the
            current strategy (`tf.distribute.get_strategy()`).

    Returns:
        A boolean.

    Example:

    >>> if is_chief(strategy):
    ...     model.save("model.keras")
    """
    if strategy is None:
        import tensorflow as tf

        strategy = tf.distribute.get_strategy()
    cluster = _cluster(strategy)
    if cluster is None:
        return True
    task_type, task_id, spec = cluster
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and not spec.get("chief")


def worker_scoped_dir(path, strategy=None):
    """The directory this worker may write checkpoints and backups to.

    The chief writes to `path`; every other worker to its own scratch
    directory `path/worker_<task_id>`, because Keras' `ModelCheckpoint` and
    `BackupAndRestore` would otherwise race on the same files. (Under
    `MultiWorkerMirroredStrategy` every worker must still run the callbacks
    that save: saving may involve collective ops.) The directory is not
    created. Scope the run directory and put the backup inside it
    (`worker_scoped_dir(run_dir)/backup`, as `kzoo.runs` does), not the
    backup directory itself: `BackupAndRestore` deletes its directory when
    training ends, and the chief's would hold the other workers' backups.

    Args:
        path: the run's output directory.
        strategy: a `tf.distribute.Strategy`. Defaults to `None`: the
            current strategy (`tf.distribute.get_strategy()`).

    Returns:
        A path: `path` on the chief, `path/worker_<task_id>` otherwise.

    Example:

    >>> worker_scoped_dir("runs/simsiam", strategy)  # on worker 1 of 2
    'runs/simsiam/worker_1'
    """
    if is_chief(strategy):
        return path
    if strategy is None:
        import tensorflow as tf

        strategy = tf.distribute.get_strategy()
    task_type, task_id, _ = _cluster(strategy)
    prefix = "worker" if task_type == "worker" else task_type
    return os.path.join(path, f"{prefix}_{task_id}")


def add_distribute_args(parser):
    """Adds the "distribution" flags `--strategy` and `--cpu-replicas`.

    Pass the parsed values to `resolve_strategy(args.strategy,
    args.cpu_replicas)`.

    Args:
        parser: an `argparse.ArgumentParser`.

    Returns:
        The argument group.

    Example:

    >>> parser = argparse.ArgumentParser()
    >>> add_distribute_args(parser)
    >>> args = parser.parse_args(["--strategy", "mirrored",
    ...                           "--cpu-replicas", "2"])
    """
    from kzoo.training.flags import add_distribution_flags

    return add_distribution_flags(
        parser,
        strategy_help="tf.distribute strategy: 'auto' (multiworker if "
        "TF_CONFIG has more than one task, else mirrored if there is more "
        "than one GPU or --cpu-replicas > 1, else default), 'default' (one "
        "replica), 'mirrored' (all GPUs, else the logical CPUs) or "
        "'multiworker' (MultiWorkerMirroredStrategy, needs TF_CONFIG).",
        cpu_replicas_help="split the CPU into N logical devices to run "
        "MirroredStrategy without a GPU (a correctness check, not a "
        "speed-up).")
