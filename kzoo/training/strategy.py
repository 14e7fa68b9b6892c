"""One strategy interface for every backend.

Under TensorFlow a `tf.distribute` strategy (`kzoo.distribute` creates it);
under JAX `DataParallelStrategy` (`keras.distribution.DataParallel`) or
`SingleDeviceStrategy`, stand-ins with what recipes use of a
`tf.distribute.Strategy`: `num_replicas_in_sync`, `scope()` and
`evaluation_scope()`. The strategy names are `kzoo.training.flags.STRATEGIES`.
"""

import contextlib

from kzoo.training.backend import check_backend
from kzoo.training.backend import keras_backend
from kzoo.training.backend import on_tensorflow
from kzoo.training.backend import quiet_tensorflow
from kzoo.training.backend import set_precision


class SingleDeviceStrategy:
    """What recipes use of a `tf.distribute.Strategy`, on one device.

    The stand-in `open_run` returns under the JAX and PyTorch backends:
    one replica, and a `scope()` that does nothing.

    Args:
        device: the device's name, for the run's description. Defaults to
            `None`.
    """

    num_replicas_in_sync = 1

    def __init__(self, device=None):
        self.devices = [] if device is None else [str(device)]

    def scope(self):
        """A null context: variables need no placement here."""
        return contextlib.nullcontext()

    def evaluation_scope(self):
        """The context of the evaluations (kNN, probes): a null context."""
        return contextlib.nullcontext()


class DataParallelStrategy(SingleDeviceStrategy):
    """What recipes use of a `tf.distribute.Strategy`, over JAX devices.

    Sets `keras.distribution.DataParallel(devices)` as the global Keras
    distribution: variables are replicated on every device and each batch
    (global, as under `tf.distribute`) is split across them; batch
    statistics and losses are computed on the global batch.

    Args:
        devices: the JAX devices.
    """

    def __init__(self, devices):
        import keras

        self.devices = [str(d) for d in devices]
        self.num_replicas_in_sync = len(self.devices)
        self.distribution = keras.distribution.DataParallel(
            devices=list(devices))
        keras.distribution.set_distribution(self.distribution)

    @contextlib.contextmanager
    def evaluation_scope(self):
        """Unsets the distribution while the evaluations run.

        Under `DataParallel` every batch must split evenly across the
        devices; the evaluations' last batches (kNN embeddings, probes)
        need not. Without the distribution their computations run whole
        on every device holding the replicated weights.
        """
        import keras

        keras.distribution.set_distribution(None)
        try:
            yield
        finally:
            keras.distribution.set_distribution(self.distribution)


def backend_strategy(strategy="auto", cpu_replicas=None):
    """The `SingleDeviceStrategy` / `DataParallelStrategy` of the flags.

    Off the TensorFlow backend, what `kzoo.distribute.resolve_strategy` is
    on it. Call it before building any model (`open_run` does).

    Args:
        strategy: `"auto"` or `"default"` (`--strategy`). Defaults to
            `"auto"`.
        cpu_replicas: `--cpu-replicas`. Defaults to `None`.

    Returns:
        A strategy stand-in.

    Raises:
        SystemExit: with a message, for flags that need `tf.distribute`
            (`mirrored`, `multiworker`) or, under PyTorch,
            `--cpu-replicas > 1`.
    """
    backend = keras_backend()
    if strategy not in ("auto", "default"):
        raise SystemExit(
            f"error: --strategy {strategy} is a tf.distribute strategy: it "
            f"needs the TensorFlow backend (this run: {backend}). Under JAX, "
            "--strategy auto trains data-parallel over all devices "
            "(keras.distribution.DataParallel).")
    if backend != "jax":
        if cpu_replicas is not None and cpu_replicas > 1:
            raise SystemExit(
                f"error: --cpu-replicas needs the TensorFlow or JAX backend "
                f"(this run: {backend}).")
        device = None
        if backend == "torch":
            import torch

            device = "cuda:0" if torch.cuda.is_available() else "cpu"
        return SingleDeviceStrategy(device)
    import jax

    if cpu_replicas is not None and cpu_replicas > 1:
        # Before JAX creates its CPU client (the first device query).
        jax.config.update("jax_num_cpu_devices", cpu_replicas)
    devices = jax.devices()
    if strategy == "auto" and len(devices) > 1:
        return DataParallelStrategy(devices)
    return SingleDeviceStrategy(devices[0])


def describe_backend_strategy(strategy, global_batch_size=None):
    """One line: the backend, the devices and the batch per device."""
    n = strategy.num_replicas_in_sync
    devices = ", ".join(strategy.devices) or "default device"
    text = (f"kzoo.runs: {keras_backend()} backend, {type(strategy).__name__} "
            f"with {n} replica{'s' if n > 1 else ''} ({devices})")
    if global_batch_size is None:
        return text
    if global_batch_size % n:
        return text + f"; global batch {global_batch_size} NOT divisible by {n}"
    return text + (f"; global batch {global_batch_size} = "
                   f"{global_batch_size // n} per replica")


def resolve_strategy(args):
    """The strategy of `--strategy` / `--cpu-replicas` on the running backend.

    Quiets TensorFlow's C++ logs and checks `--backend` first. Under the
    TensorFlow backend a `tf.distribute` strategy
    (`kzoo.distribute.resolve_strategy`), created before any other
    TensorFlow op; under JAX and PyTorch `backend_strategy`'s stand-in.
    `open_run` calls it; a recipe whose global batch depends on the number
    of replicas (`triplet_cifar.py`: P x K per replica) calls it itself,
    then `describe_strategy` and `Run`.
    """
    quiet_tensorflow()
    check_backend(args)
    set_precision(args)
    if on_tensorflow():
        from kzoo import distribute

        return distribute.resolve_strategy(args.strategy, args.cpu_replicas,
                                           verbose=False)
    return backend_strategy(args.strategy, args.cpu_replicas)


def describe_strategy(strategy, global_batch_size=None):
    """One line: backend, strategy, devices and the batch per replica."""
    if on_tensorflow():
        from kzoo import distribute

        return distribute.describe_strategy(strategy, global_batch_size)
    return describe_backend_strategy(strategy, global_batch_size)


def check_global_batch(strategy, global_batch_size):
    """Stops with a message unless the global batch splits evenly."""
    if on_tensorflow():
        from kzoo import distribute

        distribute.per_replica_batch_size(global_batch_size, strategy)
    elif global_batch_size % strategy.num_replicas_in_sync:
        raise SystemExit(
            f"error: --batch-size {global_batch_size} must be divisible by "
            f"the {strategy.num_replicas_in_sync} replicas")


def evaluation_scope(strategy):
    """Where the evaluations of a run compute: the strategy's
    `evaluation_scope()` (`DataParallelStrategy`: without the
    distribution), else a null context (`tf.distribute` strategies,
    `None`)."""
    scope = getattr(strategy, "evaluation_scope", None)
    return contextlib.nullcontext() if scope is None else scope()


def sync_bn(args, strategy):
    """`--sync-bn`, or on exactly when training on more than one replica."""
    if args.sync_bn is None:
        return strategy.num_replicas_in_sync > 1
    return args.sync_bn
