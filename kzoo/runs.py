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

Where the code lives (this module gathers it; recipes and users keep
calling `kzoo.runs.<name>`): `kzoo.training.flags` (argparse types, strategy
names), `.args` (the recipes' flag groups), `.backend` (backend, precision),
`.strategy` (one strategy interface for every backend), `.optimizers`
(the one optimizer builder), `.session` (`open_run`, `start`,
`main_guard`), `.run` (`Run`: the output directory) and
`.self_supervised` (the SSL training loop and pretext runs).
"""

from kzoo.training.flags import (
    BACKENDS,
    STRATEGIES,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    unit_interval_float,
)
from kzoo.training.backend import (
    keras_backend,
    on_tensorflow,
    quiet_tensorflow,
    PRECISIONS,
    set_precision,
    check_backend,
)
from kzoo.training.strategy import (
    SingleDeviceStrategy,
    DataParallelStrategy,
    backend_strategy,
    describe_backend_strategy,
    resolve_strategy,
    describe_strategy,
    check_global_batch,
    evaluation_scope,
    sync_bn,
)
from kzoo.training.optimizers import (
    add_optimizer_args,
    add_scaled_sgd_args,
    build_optimizer,
    scaled_learning_rate,
)
from kzoo.training.args import (
    recipe_parser,
    add_common_args,
    add_backend_distribute_args,
    add_backbone_args,
    add_representation_eval_args,
    add_ssl_args,
    add_pretext_args,
    add_dual_encoder_args,
    parse_test_split_only,
)
from kzoo.training.session import (
    open_run,
    start,
    validation_split,
    steps_per_epoch,
    main_guard,
)
from kzoo.training.run import (
    FAULT_ENV,
    Run,
    export_command,
    fit_summary,
    print_metrics,
)
from kzoo.training.self_supervised import (
    build_backbone,
    knn_monitors,
    view_augmentation,
    pixel_view_augmentation,
    two_view_input,
    evaluate_encoder,
    run_two_view,
    train_self_supervised,
    gain_summary,
    run_pretext,
)

__all__ = [
    "BACKENDS",
    "STRATEGIES",
    "non_negative_float",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "unit_interval_float",
    "keras_backend",
    "on_tensorflow",
    "quiet_tensorflow",
    "PRECISIONS",
    "set_precision",
    "check_backend",
    "SingleDeviceStrategy",
    "DataParallelStrategy",
    "backend_strategy",
    "describe_backend_strategy",
    "resolve_strategy",
    "describe_strategy",
    "check_global_batch",
    "evaluation_scope",
    "sync_bn",
    "add_optimizer_args",
    "build_optimizer",
    "recipe_parser",
    "add_common_args",
    "add_backend_distribute_args",
    "add_backbone_args",
    "add_representation_eval_args",
    "add_ssl_args",
    "add_pretext_args",
    "add_dual_encoder_args",
    "parse_test_split_only",
    "open_run",
    "start",
    "validation_split",
    "steps_per_epoch",
    "main_guard",
    "FAULT_ENV",
    "Run",
    "export_command",
    "fit_summary",
    "print_metrics",
    "build_backbone",
    "knn_monitors",
    "view_augmentation",
    "pixel_view_augmentation",
    "two_view_input",
    "evaluate_encoder",
    "run_two_view",
    "train_self_supervised",
    "gain_summary",
    "run_pretext",
]
