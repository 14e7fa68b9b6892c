"""What every recipe shares: flags, the output directory, callbacks, metrics.

A recipe is a thin script: it adds its own flags (whose defaults reproduce
its reference), then calls these helpers, so that every run of every recipe
writes the same things next to its checkpoints:

* `args.json`: the resolved flags, versions, strategy and machine;
* `history.csv` and TensorBoard logs (`logs/`);
* `checkpoints/` (weights per epoch) and `backup/`
  (`keras.callbacks.BackupAndRestore`: a killed run restarted with the same
  `--output-dir` resumes at the epoch after the last completed one);
* `metrics.json`: the final figures.

Backends. Under Keras' TensorFlow backend (the default) recipes train under
a `tf.distribute` strategy on `tf.data` input and export SavedModels. Every
recipe also runs under JAX and PyTorch (`--backend jax` or
`KERAS_BACKEND=jax`): the strategy is a stand-in (`SingleDeviceStrategy`,
or `DataParallelStrategy`: `keras.distribution.DataParallel` over the JAX
devices), the TensorBoard logs are skipped, and the trained models are
saved as `.keras` files, exported to TF Serving afterwards on a machine
with TensorFlow by the command the run prints (`python -m kzoo.export
embedding ...` for a backbone, `python -m kzoo.export spec ...` for the
other kinds: `Run.export_model`). The self-supervised two-view recipes
(`simsiam_cifar.py`, `simclr_cifar.py`, `barlow_twins_cifar.py`) need no
TensorFlow there: their input is `kzoo.arrays` (uint8 batches; the model
draws its views on the device). The others read `tf.data` pipelines
(`kzoo.data`), which Keras' JAX and PyTorch trainers accept, so TensorFlow
must be installed, as the input pipeline only.
"""

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shlex
import sys
import time

from kzoo.training.flags import BACKENDS
from kzoo.training.flags import STRATEGIES  # noqa: F401  (kzoo.runs.STRATEGIES)
from kzoo.training.flags import add_distribution_flags
from kzoo.training.flags import non_negative_float
from kzoo.training.flags import non_negative_int
from kzoo.training.flags import positive_float
from kzoo.training.flags import positive_int
from kzoo.training.flags import unit_interval_float  # noqa: F401  (recipes)

FAULT_ENV = "KZOO_FAULT_EXIT_AFTER_EPOCH"
# --mixed-precision -> Keras' global dtype policy.
PRECISIONS = ("float32", "bfloat16")
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def keras_backend():
    """The name of Keras' backend (`"tensorflow"`, `"jax"` or `"torch"`)."""
    import keras

    return keras.backend.backend()


def on_tensorflow():
    """Whether Keras runs on TensorFlow (`tf.distribute`, `tf.data`,
    SavedModel export), the recipes' original path."""
    return keras_backend() == "tensorflow"


def recipe_parser(description):
    """A recipe's `argparse.ArgumentParser`: its module docstring as the
    description, line breaks kept (the usage examples)."""
    return argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter)


def add_common_args(parser, *, dataset="cifar10", datasets=("cifar10",),
                    epochs, batch_size, seed=0, output_dir, model_name,
                    reference=""):
    """Adds the flags every recipe has, with the recipe's defaults.

    Groups: data (`--dataset`, `--data-dir`, `--limit`), training
    (`--epochs`, `--batch-size`, `--seed`, `--jit/--no-jit`, `--backend`),
    output (`--output-dir`, `--export-dir`, `--model-name`) and
    distribution (`--strategy`, `--cpu-replicas`: under the TensorFlow
    backend from `kzoo.distribute`, under the others from
    `add_backend_distribute_args`).

    `--backend {tensorflow,jax,torch}` is Keras' backend. Keras reads it
    from the `KERAS_BACKEND` environment variable when it is first imported,
    before the flags are parsed, so a recipe that accepts another backend
    sets the variable from the flag before importing kzoo
    (`recipes/_backend.py`); `KERAS_BACKEND=jax python recipes/...` does
    the same. `open_run` stops with a message when the flag and the
    running backend differ.
    """
    ref = f" ({reference})" if reference else ""
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset", choices=list(datasets), default=dataset,
        help=f"dataset: a TFDS name, or 'digits' for scikit-learn's embedded "
        f"8x8 digits (no download). Default: {dataset}.")
    data.add_argument(
        "--data-dir", default=None,
        help="image folder laid out DIR/train/<class>/*.jpg and "
        "DIR/test/<class>/*.jpg, or a root holding DIR/<dataset>/train/... "
        "Default: $KZOO_DATA_DIR if set, else TFDS (downloads on first use).")
    data.add_argument(
        "--limit", type=positive_int, default=None,
        help="use only the first N examples of each split (smoke runs).")
    data.add_argument(
        "--eval-split", choices=["test", "validation"], default="test",
        help="what the final figures are measured on: the test split, or "
        "'validation': --validation-size images carved from the training "
        "split by a fixed permutation (seed 0) and removed from training, "
        "for choosing hyper-parameters without looking at the test split. "
        "Default: test.")
    data.add_argument(
        "--validation-size", type=positive_int, default=5000,
        help="images of the validation split (--eval-split validation). "
        "Default: 5000.")
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=positive_int, default=epochs,
                       help=f"training epochs. Default: {epochs}{ref}.")
    train.add_argument("--batch-size", type=positive_int, default=batch_size,
                       help=f"GLOBAL batch size (split across replicas). "
                       f"Default: {batch_size}{ref}.")
    train.add_argument("--seed", type=int, default=seed,
                       help=f"seed of weights, shuffling and augmentation. "
                       f"Default: {seed}.")
    train.add_argument("--log-every", type=positive_int, default=50,
                       help="when the output is not a terminal, print a "
                       "progress line every N training steps (on a terminal "
                       "Keras' progress bar is shown). Default: 50.")
    train.add_argument("--jit", action=argparse.BooleanOptionalAction,
                       default=keras_backend() == "jax",
                       help="XLA-compile the train step (--jit / --no-jit). "
                       "Default: --no-jit on TensorFlow (measured slower on "
                       "CPU, see benchmarks/) and PyTorch, --jit on JAX "
                       "(whose steps otherwise run op by op).")
    train.add_argument(
        "--mixed-precision", choices=PRECISIONS, default="float32",
        help="compute precision of the layers: 'bfloat16' is Keras' "
        "mixed_bfloat16 policy (weights, optimizer, losses, softmax, "
        "batch-norm statistics and metrics stay float32; output heads are "
        "float32 layers). Faster on CPUs with AMX or AVX512-BF16 and on "
        "TPUs / recent GPUs: see docs/benchmarks.md. "
        "Default: float32.")
    train.add_argument("--backend", choices=BACKENDS, default=None,
                       help="Keras backend. Every recipe trains on all "
                       "three. The self-supervised two-view recipes "
                       "(simsiam, simclr, barlow_twins) need no TensorFlow "
                       "off its backend (kzoo.arrays input, views drawn on "
                       "the device); the others read tf.data, so TensorFlow "
                       "must be installed (only as the input pipeline). Off "
                       "TensorFlow a run saves .keras files and prints the "
                       "command exporting them. Setting KERAS_BACKEND works "
                       "too. Default: $KERAS_BACKEND, else Keras' "
                       "configured backend (~/.keras/keras.json).")
    out = parser.add_argument_group("output")
    out.add_argument("--output-dir", default=output_dir,
                     help="where args.json, history.csv, logs/, checkpoints/ "
                     f"and metrics.json go. Default: {output_dir}.")
    out.add_argument("--export-dir", default="saved_models",
                     help="TF Serving model base directory; the SavedModel "
                     "goes to EXPORT_DIR/MODEL_NAME/<version>/. '' disables "
                     "the export. Off the TensorFlow backend the run saves "
                     "OUTPUT_DIR/backbone.keras and prints the command "
                     "exporting it there. Default: saved_models.")
    out.add_argument("--model-name", default=model_name,
                     help=f"served model name. Default: {model_name}.")
    if on_tensorflow():
        from kzoo import distribute

        distribute.add_distribute_args(parser)
    else:
        add_backend_distribute_args(parser)
    return parser


def add_backend_distribute_args(parser):
    """`--strategy` and `--cpu-replicas` under the JAX and PyTorch backends.

    The flags of `kzoo.distribute.add_distribute_args`, read by
    `backend_strategy`: `auto` trains data-parallel
    (`keras.distribution.DataParallel`) over every JAX device when there is
    more than one, `default` on one device; `mirrored` and `multiworker`
    are `tf.distribute` strategies, refused off TensorFlow.
    `--cpu-replicas N` makes JAX see N CPU devices (`jax_num_cpu_devices`),
    the counterpart of TensorFlow's logical CPUs; PyTorch refuses it.
    """
    return add_distribution_flags(
        parser,
        strategy_help="off the TensorFlow backend: 'auto' (JAX: "
        "keras.distribution.DataParallel over all devices when there is "
        "more than one, else one device; PyTorch: one device) or 'default' "
        "(one device). 'mirrored' and 'multiworker' are tf.distribute "
        "strategies: TensorFlow backend only.",
        cpu_replicas_help="JAX: show N CPU devices (jax_num_cpu_devices) "
        "so 'auto' trains data-parallel without an accelerator (a "
        "correctness check, not a speed-up); refused under PyTorch.")


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


def add_backbone_args(group, reference):
    """`--backbone {resnet20,resnet18}` and `--sync-bn` on an argparse group."""
    group.add_argument("--backbone", choices=["resnet20", "resnet18"],
                       default="resnet20",
                       help=f"CIFAR backbone. Default: resnet20 ({reference}).")
    group.add_argument("--sync-bn", action=argparse.BooleanOptionalAction,
                       default=None,
                       help="cross-replica batch statistics. Default: on when "
                       "training on more than one replica (the papers' "
                       "SyncBN).")


def sync_bn(args, strategy):
    """`--sync-bn`, or on exactly when training on more than one replica."""
    if args.sync_bn is None:
        return strategy.num_replicas_in_sync > 1
    return args.sync_bn


def build_backbone(args, input_shape, strategy):
    """The `--backbone` of `kzoo.models` (call it under `strategy.scope()`)."""
    from kzoo import models

    build = {"resnet20": models.resnet20_cifar,
             "resnet18": models.resnet18_cifar}[args.backbone]
    return build(input_shape=input_shape,
                 synchronized_bn=sync_bn(args, strategy))


def add_representation_eval_args(parser, probe_epochs=0, probe_help=None):
    """The evaluation flags of the self-supervised recipes.

    `--knn-k`, `--knn-temperature`, `--knn-every` (kNN monitor during
    training), `--probe-epochs` (keras-io's augmented linear probe; 0 skips
    it) and `--feature-probe-epochs`, matching the arguments of
    `kzoo.eval.representation_report`.
    """
    ev = parser.add_argument_group("evaluation")
    ev.add_argument("--knn-k", type=positive_int, default=200,
                    help="kNN neighbours. Default: 200 (lightly, solo-learn).")
    ev.add_argument("--knn-temperature", type=positive_float, default=0.1,
                    help="kNN temperature. Default: 0.1 (lightly, solo-learn).")
    ev.add_argument("--knn-every", type=non_negative_int, default=1,
                    help="log kNN accuracy every N epochs (0: never). "
                    "Default: 1.")
    ev.add_argument("--probe-epochs", type=non_negative_int,
                    default=probe_epochs,
                    help=probe_help or "epochs of keras-io's linear probe "
                    "trained through the frozen backbone on flipped images "
                    f"(0: skip it). Default: {probe_epochs}.")
    ev.add_argument("--feature-probe-epochs", type=positive_int, default=30,
                    help="epochs of the linear probe on standardised "
                    "precomputed features (Adam). Default: 30.")
    return ev


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


def set_precision(args):
    """Sets Keras' global dtype policy from `--mixed-precision`.

    `float32` -> `"float32"`, `bfloat16` -> `"mixed_bfloat16"` (layers
    compute in bfloat16, their weights stay float32). Called by
    `resolve_strategy`, so before any model is built; a namespace without
    the flag keeps the policy as it is.
    """
    precision = getattr(args, "mixed_precision", None)
    if precision is None:
        return
    import keras

    keras.mixed_precision.set_global_policy(_POLICIES[precision])


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


def check_backend(args):
    """Stops with a message when `--backend` is not the running backend."""
    wanted = getattr(args, "backend", None)
    if wanted and wanted != keras_backend():
        raise SystemExit(
            f"error: --backend {wanted}, but Keras was imported with the "
            f"{keras_backend()} backend before the flags were read. Set "
            f"KERAS_BACKEND={wanted} instead (this recipe does not apply "
            "--backend before importing Keras).")


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

    if getattr(args, "eval_split", "test") == "validation":
        train, test = validation_split(
            sources.load_dataset(args.dataset, "train", args.data_dir),
            args.validation_size, args.limit)
        what = "validation (carved from train)"
    else:
        train = sources.load_dataset(args.dataset, "train", args.data_dir,
                                     args.limit)
        test = sources.load_dataset(args.dataset, "test", args.data_dir,
                                    args.limit)
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


def knn_monitors(args, model, train, test, strategy=None):
    """`[KNNMonitor]` logging kNN accuracy every `--knn-every` epochs, or `[]`.

    The embeddings are computed in `evaluation_scope(strategy)`.
    """
    if not args.knn_every:
        return []
    from kzoo import eval as kz_eval

    def embed(x):
        with evaluation_scope(strategy):
            return kz_eval.embed(model, x)

    return [kz_eval.KNNMonitor(
        train.images, train.labels, test.images, test.labels,
        every_n_epochs=args.knn_every, k=args.knn_k,
        temperature=args.knn_temperature, embedding_fn=embed)]


def evaluation_scope(strategy):
    """Where the evaluations of a run compute: the strategy's
    `evaluation_scope()` (`DataParallelStrategy`: without the
    distribution), else a null context (`tf.distribute` strategies,
    `None`)."""
    scope = getattr(strategy, "evaluation_scope", None)
    return contextlib.nullcontext() if scope is None else scope()


def add_optimizer_args(parser, *, optimizer="sgd", learning_rate,
                       momentum=0.9, weight_decay=5e-4, warmup_epochs=0,
                       reference="", learning_rate_text=None):
    """`--optimizer`, `--learning-rate`, `--momentum`, `--weight-decay`,
    `--warmup-epochs`, with the recipe's defaults (read by `build_optimizer`).
    """
    ref = f" ({reference})" if reference else ""
    opt = parser.add_argument_group("optimizer")
    opt.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "lamb"],
                     default=optimizer,
                     help=f"optimizer. Default: {optimizer}{ref}.")
    opt.add_argument("--learning-rate", type=positive_float,
                     default=learning_rate,
                     help=f"peak learning rate of the cosine decay, for the "
                     f"global batch. Default: "
                     f"{learning_rate_text or learning_rate}{ref}.")
    opt.add_argument("--momentum", type=non_negative_float, default=momentum,
                     help=f"SGD momentum. Default: {momentum}{ref}.")
    opt.add_argument("--weight-decay", type=non_negative_float,
                     default=weight_decay,
                     help=f"decoupled weight decay (SGD, AdamW, LAMB). Default: "
                     f"{weight_decay}{ref}.")
    opt.add_argument("--warmup-epochs", type=non_negative_float,
                     default=warmup_epochs,
                     help=f"linear warm-up epochs before the cosine decay. "
                     f"Default: {warmup_epochs}.")
    return opt


def build_optimizer(args, steps_per_epoch):
    """The optimizer of `add_optimizer_args`: cosine decay over the run.

    The learning rate warms up linearly from 0 over `--warmup-epochs`, then
    follows a cosine decay to 0 at the end of `--epochs` (Keras'
    `CosineDecay` with `warmup_target`). Call under `strategy.scope()`.
    """
    import keras

    total = max(1, args.epochs * steps_per_epoch)
    warmup = min(int(round(args.warmup_epochs * steps_per_epoch)), total - 1)
    if warmup:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=args.learning_rate,
            warmup_steps=warmup)
    else:
        schedule = keras.optimizers.schedules.CosineDecay(
            args.learning_rate, decay_steps=total)
    wd = args.weight_decay or None
    if args.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=args.momentum,
                                    weight_decay=wd)
    if args.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=wd or 0.0)
    if args.optimizer == "lamb":
        # Layer-wise adaptive (You et al. 2019): each layer's step is scaled
        # by ||w|| / ||update||, so the loss's scale does not set the step.
        return keras.optimizers.Lamb(schedule, weight_decay=wd)
    return keras.optimizers.Adam(schedule)


def view_augmentation(args):
    """The on-device view augmentation of the two-view recipes, or `None`.

    Under the TensorFlow backend, `None`: the views come from `tf.data`
    (`kzoo.data.two_view_dataset`, see `two_view_input`). Under the others,
    `pixel_view_augmentation(args.seed)`, for the model's `augmentation`
    argument. Build it under `strategy.scope()`.
    """
    if on_tensorflow():
        return None
    return pixel_view_augmentation(args.seed)


def pixel_view_augmentation(seed=None, **kwargs):
    """SimSiam's view augmentation as a layer giving pixels in `[0, 255]`.

    A `uint8` input (`keras.Input((None, None, 3), dtype="uint8")`: a
    `Sequential` casts what it is given to its input's dtype, and
    `SimSiamAugment` reads floats as `[0, 1]`, integers as `[0, 255]`),
    `kzoo.layers.SimSiamAugment(seed=seed, **kwargs)` (floats in `[0, 1]`
    out) and `keras.layers.Rescaling(255.0)`: views in `[0, 255]`, the
    range `kzoo.data.two_view_dataset` yields and kzoo's backbones rescale
    themselves, with the same augmentation distribution. Feed it `uint8`
    images (`kzoo.arrays.TwoViewArrays` does).

    Args:
        seed: integer seed of the augmentation. Defaults to `None`.
        **kwargs: `kzoo.layers.SimSiamAugment` arguments (`crop_scale`,
            `flip`, `jitter`, ...).

    Returns:
        A `keras.Sequential` named `"augmentation"`.
    """
    import keras

    from kzoo import layers

    return keras.Sequential(
        [keras.Input((None, None, 3), dtype="uint8"),
         layers.SimSiamAugment(seed=seed, **kwargs),
         keras.layers.Rescaling(255.0)],
        name="augmentation")


def two_view_input(args, images, augmentation):
    """The training input of a two-view recipe.

    `kzoo.data.two_view_dataset(images, ...)` (`tf.data`, the views made
    there) when `augmentation` is `None`, else
    `kzoo.arrays.TwoViewArrays(images, ...)`: uint8 batches the model
    augments itself (no TensorFlow). Both shuffle every epoch from
    `--seed` and drop the last partial batch.
    """
    if augmentation is None:
        from kzoo import data

        return data.two_view_dataset(images, args.batch_size, seed=args.seed)
    from kzoo import arrays

    return arrays.TwoViewArrays(images, args.batch_size, seed=args.seed)


def evaluate_encoder(args, backbone, train, test, prefix="", strategy=None):
    """`kzoo.eval.representation_report` with the recipe's eval flags.

    Prints one line and returns the dict; `prefix="random_init_"` is the
    baseline every figure is reported beside. Runs in
    `evaluation_scope(strategy)`.
    """
    from kzoo import eval as kz_eval

    with evaluation_scope(strategy):
        result = kz_eval.representation_report(
            backbone, train.images, train.labels, test.images, test.labels,
            knn_k=args.knn_k, knn_temperature=args.knn_temperature,
            feature_probe_epochs=args.feature_probe_epochs,
            augmented_probe_epochs=getattr(args, "probe_epochs", 0),
            batch_size=args.batch_size, seed=args.seed, prefix=prefix)
    print_metrics("random init" if prefix else "trained", result)
    return result


def train_self_supervised(args, strategy, run, train, test, backbone, model,
                          dataset, steps_per_epoch, extra_callbacks=(),
                          before_export=None, fit_steps=True):
    """What every self-supervised recipe does around its own `fit`.

    Evaluates `backbone` at its random initialisation (the baseline), fits
    `model` on `dataset` with the run's callbacks (kNN monitor of the
    backbone every `--knn-every` epochs, backup, logs, checkpoints, progress
    lines), evaluates the trained backbone the same way, exports it as the
    run's embedding SavedModel (off TensorFlow: saves `backbone.keras` and
    prints the export command, `Run.export_embeddings`) and writes
    `metrics.json`.

    Args:
        args, strategy, run, train, test: from `kzoo.runs.start`.
        backbone: the encoder that is evaluated and exported.
        model: the compiled model that trains it.
        dataset: the training `tf.data.Dataset` (or anything `fit` takes;
            a `keras.utils.PyDataset` is fitted with `shuffle=False`).
        steps_per_epoch: steps of one epoch (for the throughput figure).
        extra_callbacks: callbacks run before the monitors (e.g. a
            DeepCluster reassignment at each epoch start). Defaults to `()`.
        before_export: optional `callable(metrics)` run after the final
            evaluation (e.g. to write sample images). Defaults to `None`.
        fit_steps: pass `steps_per_epoch` to `fit`; `False` lets each
            epoch run until the dataset ends (DeepCluster's relabelled
            passes). Defaults to `True`.

    Returns:
        The metrics dict written to `metrics.json`.
    """
    metrics = evaluate_encoder(args, backbone, train, test, "random_init_",
                               strategy)
    monitors = list(extra_callbacks) + knn_monitors(args, backbone, train,
                                                    test, strategy)
    import keras

    # A PyDataset shuffles itself, from --seed; fit's shuffle would reorder
    # its batches from Python's global random state (tf.data ignores it).
    fit_kwargs = ({"shuffle": False}
                  if isinstance(dataset, keras.utils.PyDataset) else {})
    fit_start = time.time()
    history = model.fit(dataset, epochs=args.epochs,
                        steps_per_epoch=steps_per_epoch if fit_steps else None,
                        callbacks=run.callbacks(monitors), verbose=run.verbose,
                        **fit_kwargs)
    fit_seconds = time.time() - fit_start
    metrics.update(evaluate_encoder(args, backbone, train, test,
                                    strategy=strategy))
    metrics.update(fit_summary(history, fit_seconds, steps_per_epoch, args,
                               strategy))
    metrics.update({
        "knn_gain": metrics["knn_accuracy"]
        - metrics["random_init_knn_accuracy"],
        "train_images": int(len(train.images)),
        "test_images": int(len(test.images)),
        "knn_k": args.knn_k,
        "knn_temperature": args.knn_temperature,
        # NaN (e.g. a metric undefined at the first epoch) -> null: JSON.
        "history": {k: [None if float(v) != float(v) else float(v)
                        for v in vs]
                    for k, vs in history.history.items()},
    })
    if before_export is not None:
        before_export(metrics)
    run.export_embeddings(backbone, train.images.shape[1:], metrics)
    metrics = run.finish(metrics)
    print(gain_summary(metrics))
    return metrics


def gain_summary(metrics):
    """One line: each accuracy, its random-init baseline and the gain."""
    parts = []
    for key, label in (("knn_accuracy", "kNN"),
                       ("feature_linear_probe_accuracy", "linear probe"),
                       ("linear_probe_accuracy", "keras-io probe")):
        if key in metrics and "random_init_" + key in metrics:
            value, base = metrics[key], metrics["random_init_" + key]
            parts.append(f"{label} {100 * value:.2f}% vs {100 * base:.2f}% "
                         f"at random init ({100 * (value - base):+.2f} "
                         "points)")
    return "result: " + "; ".join(parts)


def add_ssl_args(parser, *, learning_rate, optimizer="sgd", momentum=0.9,
                 weight_decay=5e-4, reference="", learning_rate_text=None,
                 augment_flag=False, epochs=5, batch_size=128):
    """The flags of a self-supervised recipe, with the recipe's defaults.

    The common flags (`--dataset {cifar10,digits}`, seed 26, the budget of
    `simsiam_cifar.py`: 5 epochs, batch 128), `--backbone`, the optimizer
    flags, the evaluation flags and, with `augment_flag`, `--augment /
    --no-augment` (`run_pretext`'s flip and shift). Returns the parser's
    "model" group for the recipe's own flags.
    """
    add_common_args(
        parser, dataset="cifar10", datasets=("cifar10", "digits"),
        epochs=epochs, batch_size=batch_size, seed=26, output_dir=None,
        model_name=None, reference="the budget of simsiam_cifar.py")
    model = parser.add_argument_group("model")
    add_backbone_args(model, "as simsiam_cifar.py")
    add_optimizer_args(parser, optimizer=optimizer,
                       learning_rate=learning_rate, momentum=momentum,
                       weight_decay=weight_decay, reference=reference,
                       learning_rate_text=learning_rate_text)
    if augment_flag:
        parser.add_argument(
            "--augment", action=argparse.BooleanOptionalAction, default=True,
            help="flip and shift each training image by up to 4 px before "
            "the pretext transform (kzoo.data.random_flip_and_translate). "
            "Default: --augment.")
    add_representation_eval_args(parser, probe_epochs=0)
    return model


def add_dual_encoder_args(parser, *, clip_seconds, clip_help):
    """The audio dual-encoder recipes' model flags and optimizer.

    `--embedding-dim`, `--temperature` (CLIP's learnable one), the audio
    tower's `--num-mel-bins`, `--clip-seconds` and `--widths`, and the
    optimizer flags (Adam 1e-3, cosine). Returns the "model" group.
    """
    model = parser.add_argument_group("model")
    model.add_argument("--embedding-dim", type=positive_int, default=64,
                       help="shared embedding width. Default: 64.")
    model.add_argument("--temperature", type=positive_float, default=0.07,
                       help="initial temperature (learnt). Default: 0.07 "
                       "(CLIP's).")
    model.add_argument("--num-mel-bins", type=positive_int, default=64,
                       help="mel bands of the audio front end. Default: 64.")
    model.add_argument("--clip-seconds", type=positive_float,
                       default=clip_seconds,
                       help="clip length: longer recordings keep their "
                       "centre, shorter ones are centred in silence. "
                       f"Default: {clip_seconds} ({clip_help}).")
    model.add_argument("--widths", default="32,64,128",
                       help="channels of the audio tower's conv blocks. "
                       "Default: 32,64,128.")
    add_optimizer_args(parser, optimizer="adam", learning_rate=1e-3,
                       weight_decay=0.0, reference="CLIP uses Adam(W)")
    return model


def parse_test_split_only(parser, argv, why):
    """`parser.parse_args(argv)`, refusing `--eval-split validation`."""
    args = parser.parse_args(argv)
    if args.eval_split != "test":
        parser.error(f"--eval-split validation is not available here: "
                     f"{why}. Received: --eval-split={args.eval_split}")
    return args


def add_pretext_args(parser, **kwargs):
    """`add_ssl_args` with `--augment` (the pretext-task recipes)."""
    return add_ssl_args(parser, augment_flag=True, **kwargs)


def run_pretext(args, prefix, transform, build_model, loss, metrics=(),
                backbone_input_shape=None, encoder=None):
    """A whole pretext-task recipe run: data, model, training, evaluation.

    Opens the run (`start`), builds the `--backbone` and
    `build_model(backbone)` under the strategy, compiles it with
    `build_optimizer`, `loss` and `metrics`, trains it on
    `kzoo.data.pretext_dataset(train images, transform)` (after
    `kzoo.data.random_flip_and_translate` unless `--no-augment`) and
    evaluates / exports the backbone with `train_self_supervised`.

    Args:
        args: parsed flags (`add_pretext_args`).
        prefix: run and model name prefix (`"rotation"` ->
            `runs/rotation_cifar10`).
        transform: the pretext transform `(images, seed) -> (inputs,
            targets)`.
        build_model: `callable(backbone) -> keras.Model` (uncompiled).
        loss: a `keras.losses.Loss`, or a callable returning one (called
            under the strategy scope).
        metrics: compiled metrics. Defaults to `()`.
        backbone_input_shape: the backbone's input shape when it is not the
            image shape (jigsaw tiles). Defaults to `None`.
        encoder: `callable(backbone, image_shape) -> keras.Model`, the
            model that is evaluated and exported when it is not the
            backbone itself (colorization: grey conversion + backbone).
            Defaults to `None` (the backbone).

    Returns:
        The metrics dict (also in `metrics.json`).
    """
    strategy, run, train, test = start(args, prefix)

    from kzoo import data

    steps = steps_per_epoch(len(train.images), args.batch_size)
    with strategy.scope():
        backbone = build_backbone(
            args, backbone_input_shape or train.images.shape[1:], strategy)
        model = build_model(backbone)
        model.compile(optimizer=build_optimizer(args, steps),
                      loss=loss() if isinstance(loss, type) else loss,
                      metrics=list(metrics), jit_compile=args.jit)
        evaluated = (backbone if encoder is None
                     else encoder(backbone, train.images.shape[1:]))
    if args.augment:
        transform = _augmented(transform)
    ds = data.pretext_dataset(train.images, args.batch_size, transform,
                              seed=args.seed)
    return train_self_supervised(args, strategy, run, train, test, evaluated,
                                 model, ds, steps)


def _augmented(transform):
    """`transform` after a random flip and shift of each image."""
    import tensorflow as tf

    from kzoo import data

    def apply(images, seed):
        s1, s2 = tf.unstack(tf.random.experimental.stateless_split(
            tf.cast(seed, tf.int64), 2))
        return transform(data.random_flip_and_translate(images, s1), s2)

    return apply


def fit_summary(history, fit_seconds, steps_per_epoch, args, strategy):
    """Loss, epochs, time and throughput of one `model.fit`, for metrics.json.

    `epochs_run_in_this_process` differs from `epochs` when a killed run
    resumed from its backup.
    """
    epochs_run = len(history.history.get("loss", []))
    return {
        "final_loss": (history.history["loss"][-1] if epochs_run else None),
        "epochs": args.epochs,
        "epochs_run_in_this_process": epochs_run,
        "fit_seconds": round(fit_seconds, 1),
        "train_images_per_second": (
            round(epochs_run * steps_per_epoch * args.batch_size / fit_seconds,
                  1) if epochs_run else None),
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "batch_size": args.batch_size,
    }


def print_metrics(label, metrics):
    """Prints `label: name value, ...` with 4 decimals (one line per call)."""
    parts = [f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
             for k, v in metrics.items()]
    print(f"{label}: " + ", ".join(parts))


def quiet_tensorflow():
    """Silences TensorFlow's C++ INFO/WARNING logs (call before importing it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class Run:
    """The output directory of one recipe run.

    Args:
        args: the parsed `argparse.Namespace`.
        strategy: the `tf.distribute.Strategy` in use (off the TensorFlow
            backend, `backend_strategy`'s stand-in).
    """

    def __init__(self, args, strategy):
        self.args = args
        self.strategy = strategy
        if on_tensorflow():
            from kzoo import distribute

            self.chief = distribute.is_chief(strategy)
            # Non-chief workers write to their own scratch directory: Keras'
            # ModelCheckpoint / BackupAndRestore would race on shared files.
            self.output_dir = distribute.worker_scoped_dir(args.output_dir,
                                                           strategy)
        else:
            # One process (kzoo runs no multi-host JAX / PyTorch training).
            self.chief = True
            self.output_dir = args.output_dir
        os.makedirs(self.output_dir, exist_ok=True)
        self.start_time = time.time()
        self.write_json("args.json", self._describe())

    def path(self, *parts):
        return os.path.join(self.output_dir, *parts)

    def _describe(self):
        import keras

        if on_tensorflow():
            import tensorflow as tf

            versions = {"tensorflow": tf.__version__}
        else:
            # Installed versions, read without importing TensorFlow.
            versions = {name: _installed_version(name)
                        for name in ("tensorflow", keras_backend())}
            versions["devices"] = list(self.strategy.devices)
        return {
            "args": vars(self.args),
            "command": shlex.join([os.path.basename(sys.argv[0])]
                                  + sys.argv[1:]),
            "strategy": type(self.strategy).__name__,
            "replicas": self.strategy.num_replicas_in_sync,
            "backend": keras_backend(),
            **versions,
            "keras": keras.__version__,
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def write_json(self, name, data):
        path = self.path(name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True, default=str)
            f.write("\n")
        os.replace(tmp, path)
        return path

    @property
    def verbose(self):
        """`fit`'s `verbose`: the progress bar on a terminal, else 0.

        Off a terminal (a log file, CI) `callbacks()` adds a
        `kzoo.eval.ProgressLogger` printing a line every `--log-every`
        steps instead of the bar's carriage-return redraws.
        """
        return 1 if _is_terminal() else 0

    def callbacks(self, monitors=(), stage=None):
        """BackupAndRestore, the monitors, CSVLogger, TensorBoard, checkpoints.

        Off the TensorFlow backend TensorBoard is left out (Keras' callback
        writes with `tf.summary`) and a note says so; the others need no
        TensorFlow.

        Order matters: monitors (e.g. `kzoo.eval.KNNMonitor`) write into the
        epoch logs before CSVLogger and TensorBoard read them (and before
        the progress line, added last when the output is not a terminal:
        pass `verbose=run.verbose` to `fit`). A recipe that
        calls `fit` more than once names each `stage`: its files go to
        `history_<stage>.csv`, `logs/<stage>/`, `checkpoints/<stage>/` and
        `backup/<stage>/`, so the stages never share a backup or a log.
        """
        import keras

        tag = f"_{stage}" if stage else ""
        sub = (stage,) if stage else ()
        # Created here, tolerantly (exist_ok): under
        # MultiWorkerMirroredStrategy the workers create their directories
        # at the same moment, the others' inside the chief's run directory
        # (`worker_scoped_dir`).
        os.makedirs(self.path("backup", *sub), exist_ok=True)
        if on_tensorflow():
            tensorboard = [keras.callbacks.TensorBoard(self.path("logs", *sub))]
        else:
            tensorboard = []
            print(f"note: no TensorBoard logs under the {keras_backend()} "
                  "backend (keras.callbacks.TensorBoard writes with "
                  "TensorFlow); the epoch figures are in "
                  f"history{tag}.csv and metrics.json")
        callbacks = [
            keras.callbacks.BackupAndRestore(self.path("backup", *sub)),
            *monitors,
            keras.callbacks.CSVLogger(self.path(f"history{tag}.csv"),
                                      append=True),
            *tensorboard,
            keras.callbacks.ModelCheckpoint(
                self.path("checkpoints", *sub, "epoch_{epoch:03d}.weights.h5"),
                save_weights_only=True,
            ),
        ]
        if not _is_terminal():
            from kzoo.eval.progress import ProgressLogger

            callbacks.append(ProgressLogger(
                getattr(self.args, "log_every", 50),
                batch_size=getattr(self.args, "batch_size", None)))
        if os.environ.get(FAULT_ENV):
            callbacks.append(_ExitAfterEpoch(int(os.environ[FAULT_ENV])))
        return callbacks

    def export_embeddings(self, model, image_shape, metrics):
        """Exports `model` as the run's embedding SavedModel (chief only).

        Does nothing when `--export-dir ''`. Writes
        `EXPORT_DIR/MODEL_NAME/<version>/` with `kzoo.export`'s uint8
        `images` -> L2-normalised `embeddings` signature, records its path
        in `metrics["saved_model"]` and prints a REST request example.

        On every backend (chief only) it saves `model` as
        `OUTPUT_DIR/backbone.keras` (recorded in `metrics["backbone"]`),
        what `python -m kzoo.presets build` makes a preset of. Off the
        TensorFlow backend (SavedModels are TensorFlow's) that file is the
        export: unless `--export-dir ''`, the command that exports it on a
        machine with TensorFlow (`python -m kzoo.export embedding`) is
        printed and recorded in `metrics["export_command"]`.

        Under `--mixed-precision bfloat16` both are float32 copies
        (`kzoo.models.float32_copy`).
        """
        # Exports compute in float32 whatever --mixed-precision trained.
        model = _float32(model)
        if not on_tensorflow():
            return self._save_backbone(model, metrics)
        if not self.chief:
            return None
        model.save(self.path("backbone.keras"))
        metrics["backbone"] = self.path("backbone.keras")
        if not self.args.export_dir:
            return None
        from kzoo import export

        version_dir = export.export_embedding_model(
            model, self.args.export_dir, self.args.model_name,
            image_shape=image_shape)
        metrics["saved_model"] = version_dir
        print(f"SavedModel: {version_dir}")
        print(export.rest_request_example(self.args.model_name, image_shape))
        return version_dir

    def export_model(self, kind, model, metrics, model_name=None,
                     key="saved_model", **options):
        """Exports `model` with `kzoo.export`'s writer of `kind` (chief only).

        Under the TensorFlow backend: `kzoo.export.<writer>(model,
        EXPORT_DIR, model_name, **options)` (`kind` -> writer:
        `kzoo._export_spec.KINDS`, e.g. `"detection"` ->
        `export_detection_model`); the version directory goes to
        `metrics[key]` and is returned. Nothing happens with
        `--export-dir ''`.

        On every backend (chief only) it saves `model` as
        `OUTPUT_DIR/MODEL_NAME.keras` (even with `--export-dir ''`; recorded
        in `metrics["keras_models"][model_name]`) and writes
        `OUTPUT_DIR/MODEL_NAME.export.json`, the spec (`kind`, options):
        what `python -m kzoo.presets build` makes a preset of. Off the
        TensorFlow backend (SavedModels are TensorFlow's) that is the
        export: unless `--export-dir ''`,
        `KERAS_BACKEND=tensorflow python -m kzoo.export spec FILE` replays
        it on a machine with TensorFlow; the command is printed and
        recorded in `metrics["export_commands"][model_name]`, and `None`
        is returned. Under `--mixed-precision bfloat16` the saved and
        exported models are float32 copies (`kzoo.models.float32_copy`).

        Args:
            kind: `"embedding"`, `"audio_embedding"`, `"text_embedding"`,
                `"fill_blanks"`, `"detection"` or `"landmarks"`.
            model: the model the writer takes.
            metrics: the run's metrics dict (updated).
            model_name: served model name. Defaults to `None`
                (`--model-name`).
            key: the metrics key of the version directory. Defaults to
                `"saved_model"`.
            **options: the writer's other keyword arguments
                (JSON-serialisable: they go into the spec).
        """
        from kzoo import _export_spec

        if kind not in _export_spec.KINDS:
            raise ValueError(f"`kind` must be one of "
                             f"{sorted(_export_spec.KINDS)}. Received: "
                             f"kind={kind!r}")
        model_name = model_name or self.args.model_name
        if not self.chief:
            return None
        model = _float32(model)
        try:
            json.dumps(options)
        except TypeError as e:
            raise ValueError(f"export options must be JSON-serialisable "
                             f"(they go into the spec): {e}. Received: "
                             f"options={options!r}") from None
        path = self.path(f"{model_name}.keras")
        model.save(path)
        metrics.setdefault("keras_models", {})[model_name] = path
        spec = _export_spec.write_spec(
            self.output_dir, kind, path, model_name,
            self.args.export_dir or "saved_models", options)
        if on_tensorflow():
            if not self.args.export_dir:
                return None
            from kzoo import export

            writer = getattr(export, _export_spec.KINDS[kind])
            version_dir = writer(model, export_dir=self.args.export_dir,
                                 model_name=model_name, **options)
            metrics[key] = version_dir
            return version_dir
        print(f"{kind} model saved: {path}")
        if self.args.export_dir:
            command = ("KERAS_BACKEND=tensorflow python -m kzoo.export spec "
                       + shlex.quote(spec))
            metrics.setdefault("export_commands", {})[model_name] = command
            print("export it for TF Serving on a machine with TensorFlow:\n"
                  f"  {command}")
        return None

    def save_keras(self, model, name, metrics):
        """Saves a float32 copy of `model` as `OUTPUT_DIR/NAME.keras`
        (chief only), recorded in `metrics["keras_models"][name]`: a
        model the run has no SavedModel writer for (e.g. SupCon's
        classifier), for `python -m kzoo.presets build`."""
        if not self.chief:
            return None
        path = self.path(f"{name}.keras")
        _float32(model).save(path)
        metrics.setdefault("keras_models", {})[name] = path
        return path

    def _save_backbone(self, model, metrics):
        if not self.chief:
            return None
        path = self.path("backbone.keras")
        model.save(path)
        metrics["backbone"] = path
        print(f"backbone saved: {path}")
        if self.args.export_dir:
            command = export_command(path, self.args.export_dir,
                                     self.args.model_name)
            metrics["export_command"] = command
            print("export it for TF Serving on a machine with TensorFlow:\n"
                  f"  {command}")
        return None

    def finish(self, metrics):
        """Writes `metrics.json` (adding the wall time) and prints it."""
        metrics = dict(metrics)
        metrics["wall_time_seconds"] = round(time.time() - self.start_time, 1)
        path = self.write_json("metrics.json", metrics)
        print(json.dumps(metrics, indent=2, sort_keys=True))
        print(f"metrics written to {path}")
        return metrics


def _float32(model):
    """`kzoo.models.float32_copy(model)`: exports compute in float32."""
    from kzoo.models.precision import float32_copy

    return float32_copy(model)


def export_command(path, export_dir, model_name):
    """The shell command exporting a saved `.keras` embedding model.

    `kzoo.export`'s command line, under the TensorFlow backend:
    `KERAS_BACKEND=tensorflow python -m kzoo.export embedding PATH
    --export-dir EXPORT_DIR --model-name MODEL_NAME`.
    """
    return ("KERAS_BACKEND=tensorflow python -m kzoo.export embedding "
            f"{shlex.quote(path)} --export-dir {shlex.quote(export_dir)} "
            f"--model-name {shlex.quote(model_name)}")


def _installed_version(name):
    """The installed version of the distribution `name`, or `None`."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _is_terminal():
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


class _ExitAfterEpoch:
    """Fault injection for tests: hard-exits the process after epoch N.

    Enabled only by the `KZOO_FAULT_EXIT_AFTER_EPOCH=N` environment
    variable. `os._exit` skips every cleanup, like a killed process; it runs
    after BackupAndRestore and the checkpoint of that epoch were written.
    """

    def __new__(cls, epoch):
        import keras

        class ExitAfterEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, e, logs=None):
                if e + 1 >= epoch:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(75)

        return ExitAfterEpoch()


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
