"""Multi-worker training's checks and workarounds (`--strategy multiworker`).

`check_tf_config` validates `TF_CONFIG` before TensorFlow reads it, the
peer watchdog stops a worker whose peers never come (`KZOO_PEER_TIMEOUT`),
and `patch_keras_for_multiworker` works around Keras 3's `fit` under
`MultiWorkerMirroredStrategy` on CPU. `kzoo.distribute` uses them and
keeps their public names. Importing this module does not import TensorFlow.
"""

import json
import os
import re

_PREFIX = "kzoo.distribute: "


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
