"""The flags of the recipes, grouped as every recipe shows them.

`add_common_args` (data, training, output, distribution) and the families'
groups (`add_ssl_args`, `add_pretext_args`, `add_dual_encoder_args`,
`add_representation_eval_args`, `add_backbone_args`); the argparse types and
the distribution group are in `kzoo.training.flags`.
"""

import argparse

from kzoo.training.backend import PRECISIONS
from kzoo.training.backend import keras_backend
from kzoo.training.backend import on_tensorflow
from kzoo.training.flags import BACKENDS
from kzoo.training.flags import add_distribution_flags
from kzoo.training.flags import non_negative_int
from kzoo.training.flags import positive_float
from kzoo.training.flags import positive_int
from kzoo.training.optimizers import add_optimizer_args


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


def add_backbone_args(group, reference):
    """`--backbone {resnet20,resnet18,vit_tiny}` and `--sync-bn` on an
    argparse group."""
    group.add_argument("--backbone", choices=["resnet20", "resnet18",
                                              "vit_tiny"],
                       default="resnet20",
                       help=f"CIFAR backbone ('vit_tiny': "
                       f"kzoo.models.vit_tiny_cifar, 4x4 patches). Default: "
                       f"resnet20 ({reference}).")
    group.add_argument("--sync-bn", action=argparse.BooleanOptionalAction,
                       default=None,
                       help="cross-replica batch statistics. Default: on when "
                       "training on more than one replica (the papers' "
                       "SyncBN).")


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


def add_pretext_args(parser, **kwargs):
    """`add_ssl_args` with `--augment` (the pretext-task recipes)."""
    return add_ssl_args(parser, augment_flag=True, **kwargs)


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
