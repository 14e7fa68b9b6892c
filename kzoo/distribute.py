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

import json
import os
import re
import warnings

from kzoo._tensorflow import require_tensorflow

require_tensorflow("kzoo.distribute")

# One list for every backend (kzoo.runs is plain Python at import).
from kzoo.training.flags import STRATEGIES  # noqa: E402

_PREFIX = "kzoo.distribute: "


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be an integer >= 1. Received: {name}={value!r}"
        )


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


def _tf_config():
    """The parsed `TF_CONFIG` environment variable, or `None` if unset."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {text!r}")
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object. Received: {text!r}")
    return config


def check_tf_config(config=None, check_port=True):
    """Checks a `TF_CONFIG` before MultiWorkerMirroredStrategy reads it.

    TensorFlow would otherwise fail late and obscurely (or wait forever)
    on a cluster it cannot form. Checked: the cluster is a JSON object
    mapping job names to non-empty lists of `"host:port"` addresses; the
    task names a job of the cluster and an index inside its list; and, with
    `check_port`, that this task's port is free on this machine (another
    process listening there would make the gRPC server fail).

    Args:
        config: the parsed `TF_CONFIG`. Defaults to `None`: read and parse
            the environment variable (malformed JSON is a `ValueError`).
        check_port: also check that this task's port can be bound.
            Defaults to `True`.

    Returns:
        `(task_type, task_index, address)` of this process.

    Raises:
        ValueError: naming what is wrong, ending with the received value.
    """
    import socket

    if config is None:
        config = _tf_config()
        if config is None:
            raise ValueError("TF_CONFIG is not set. Received: TF_CONFIG=''")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise ValueError("TF_CONFIG['cluster'] must map job names to lists "
                         f"of 'host:port' addresses. Received: "
                         f"cluster={cluster!r}")
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and re.fullmatch(r"[^:\s]+:\d{1,5}", a)
                for a in addresses):
            raise ValueError(
                f"TF_CONFIG['cluster'][{job!r}] must be a non-empty list of "
                f"'host:port' strings. Received: {addresses!r}")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise ValueError(
            "TF_CONFIG['task'] must be {'type': <a job of the cluster>, "
            f"'index': <int>}}; the cluster's jobs are {sorted(cluster)}. "
            f"Received: task={task!r}")
    index, addresses = task.get("index", 0), cluster[task["type"]]
    if (isinstance(index, bool) or not isinstance(index, int)
            or not 0 <= index < len(addresses)):
        raise ValueError(
            f"TF_CONFIG['task']['index'] must be an integer in [0, "
            f"{len(addresses)}) for the {len(addresses)} "
            f"{task['type']!r} address(es). Received: index={index!r}")
    address = addresses[index]
    if check_port:
        port = int(address.rsplit(":", 1)[1])
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Like gRPC: a port in TIME_WAIT is usable, one with a listener is
        # not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError as e:
            raise ValueError(
                f"This task's port {port} ({address}, TF_CONFIG task "
                f"{task['type']!r} {index}) cannot be bound: {e.strerror}. "
                "Another process (an earlier worker still running?) is "
                f"listening there. Received: address={address!r}") from None
        finally:
            probe.close()
    return task["type"], index, address


PEER_TIMEOUT_ENV = "KZOO_PEER_TIMEOUT"
DEFAULT_PEER_TIMEOUT = 300.0


def peer_timeout():
    """Seconds a worker waits for its peers: `KZOO_PEER_TIMEOUT`, else 300."""
    text = os.environ.get(PEER_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_PEER_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{PEER_TIMEOUT_ENV} must be a number of seconds "
                         f"> 0. Received: {PEER_TIMEOUT_ENV}={text!r}")
    return value


_WATCHDOG = r"""
import os, signal, socket, sys, time
parent, timeout, prefix, env = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
remaining = sys.argv[5:]
deadline = time.monotonic() + timeout
while remaining:
    try:
        os.kill(parent, 0)
    except OSError:
        sys.exit(0)  # the worker ended on its own
    still = []
    for address in remaining:
        host, port = address.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=1.0).close()
        except OSError:
            still.append(address)
    remaining = still
    if remaining and time.monotonic() > deadline:
        sys.stderr.write(
            f"{prefix}could not reach {', '.join(remaining)} within "
            f"{timeout:g} s ({env}); the other workers of TF_CONFIG must be "
            "started too. Killing this worker (SIGKILL) instead of letting "
            "it wait forever.\n")
        sys.stderr.flush()
        os.kill(parent, signal.SIGKILL)
        sys.exit(1)
    if remaining:
        time.sleep(0.5)
"""


def _watch_peers(config, own, timeout):
    """Kills this worker if a peer of the cluster stays unreachable.

    TensorFlow's MultiWorkerMirroredStrategy waits for every task of the
    cluster without a deadline when one never starts, holding the Python
    interpreter and ignoring SIGTERM. A small watchdog process (Python
    alone, no TensorFlow) connects to every other address every half
    second until each accepts a TCP connection (its gRPC server is up),
    then exits; past `timeout` seconds it prints which addresses it never
    reached and kills this process with SIGKILL (exit status 137 in a
    shell, -9 from `subprocess`).
    """
    import subprocess
    import sys

    addresses = [a for job in ("chief", "worker", "ps", "evaluator")
                 for a in (config.get("cluster") or {}).get(job) or ()]
    pending = [a for a in addresses if a != own]
    if pending:
        subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(os.getpid()),
             str(timeout), _PREFIX, PEER_TIMEOUT_ENV, *pending],
            stdin=subprocess.DEVNULL, start_new_session=True)


def _num_cluster_tasks(config):
    """Number of training tasks (chief + workers) in a TF_CONFIG cluster."""
    cluster = config.get("cluster") or {}
    return sum(len(cluster.get(job) or ()) for job in ("chief", "worker"))


def _multi_worker_strategy():
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        implementation = tf.distribute.experimental.CommunicationImplementation.AUTO
    else:
        # NCCL is GPU-only: collectives between CPU workers use RING
        # (gRPC-based ring all-reduce).
        implementation = tf.distribute.experimental.CommunicationImplementation.RING
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=implementation
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=options
    )
    patch_keras_for_multiworker()
    return strategy


_KERAS_PATCHED = False


def patch_keras_for_multiworker():
    """Works around Keras 3 bugs that break `fit` under multi-worker MWMS.

    With more than one worker, Keras 3 (up to at least 3.15, see
    keras-team/keras#20585) fails in `model.fit` / `evaluate`:

    1. `TensorFlowTrainer._maybe_symbolic_build` calls
       `strategy.reduce("MEAN", (x, y), axis=None)` on a whole data batch
       (a structure), which `MultiWorkerMirroredStrategy` cannot reduce
       ("Attempt to convert a value (PerReplica...) to a Tensor").
       Patched: the batch is only needed for its shapes, so the local
       replica's values are used instead.
    2. `reduce_per_replica` reduces the step's metrics with
       `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars
       ("Invalid reduction dimension 0 for input with 0 dimensions").
       Patched: scalar values are reduced with `axis=None` (the mean over
       replicas; Keras metrics are already global, so they are equal).

    Both patches only change behaviour under a multi-worker
    `MultiWorkerMirroredStrategy`. `resolve_strategy` applies them when it
    creates one; calling this again is a no-op. It does nothing if Keras'
    internals are not the ones it knows.

    Returns:
        Whether the patches are in place.
    """
    global _KERAS_PATCHED
    if _KERAS_PATCHED:
        return True
    import tensorflow as tf

    try:
        from keras.src.backend.tensorflow import trainer as tf_trainer

        trainer_cls = tf_trainer.TensorFlowTrainer
        original_build = trainer_cls._maybe_symbolic_build
        original_reduce = tf_trainer.reduce_per_replica
        multi_worker = tf_trainer._collective_all_reduce_multi_worker
    except (ImportError, AttributeError):
        return False

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or strategy is None or not multi_worker(strategy):
            return original_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, it in iterator:
            data_batch = tf.nest.map_structure(
                lambda v: strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues)
                else v,
                next(it),
            )
            break
        return original_build(self, iterator=None, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not multi_worker(strategy):
            return original_reduce(values, strategy, reduction)

        def _reduce(v):
            # With one local replica, `strategy.run` returns plain tensors.
            local = strategy.experimental_local_results(v)
            if all(tf.is_tensor(t) and t.shape.rank == 0 for t in local):
                return strategy.reduce("MEAN", v, axis=None)
            return original_reduce(v, strategy, reduction)

        return tf.nest.map_structure(_reduce, values)

    trainer_cls._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _KERAS_PATCHED = True
    return True


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
