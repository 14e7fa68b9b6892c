"""The one optimizer and learning-rate schedule builder of the recipes.

`add_optimizer_args` adds the flags with a recipe's defaults (cited in its
help); `build_optimizer` turns them into a Keras optimizer on a cosine
schedule with optional linear warm-up.
"""

from kzoo.training.flags import non_negative_float
from kzoo.training.flags import positive_float


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
    _add_momentum_and_decay(opt, momentum, weight_decay, ref, "SGD momentum",
                            "SGD, Adam, AdamW, LAMB")
    opt.add_argument("--warmup-epochs", type=non_negative_float,
                     default=warmup_epochs,
                     help=f"linear warm-up epochs before the cosine decay. "
                     f"Default: {warmup_epochs}.")
    return opt


def add_scaled_sgd_args(parser, *, rate_per_256, reference, momentum=0.9,
                        weight_decay=5e-4, nesterov=False):
    """`--learning-rate` (default: `rate_per_256 x batch-size / 256`, the
    linear scaling rule; `scaled_learning_rate` resolves it after parsing),
    `--momentum` and `--weight-decay` of an SGD recipe (SimCLR, NNCLR and
    fine-tuning share them)."""
    ref = f" ({reference})"
    opt = parser.add_argument_group("optimizer")
    opt.add_argument("--learning-rate", type=positive_float, default=None,
                     help=f"initial learning rate of the cosine decay. "
                     f"Default: {rate_per_256} x batch-size / 256{ref}.")
    _add_momentum_and_decay(
        opt, momentum, weight_decay, ref,
        "Nesterov momentum" if nesterov else "SGD momentum", "SGD")
    return opt


def _add_momentum_and_decay(group, momentum, weight_decay, ref, kind,
                            optimizers):
    """The `--momentum` and `--weight-decay` flags both builders add."""
    group.add_argument("--momentum", type=non_negative_float,
                       default=momentum,
                       help=f"{kind}. Default: {momentum}{ref}.")
    group.add_argument("--weight-decay", type=non_negative_float,
                       default=weight_decay,
                       help=f"decoupled weight decay ({optimizers}). "
                       f"Default: {weight_decay}{ref}.")


def scaled_learning_rate(args, rate_per_256):
    """Sets `args.learning_rate` to `rate_per_256 x args.batch_size / 256`
    where the flag was not given; returns `args`."""
    if args.learning_rate is None:
        args.learning_rate = rate_per_256 * args.batch_size / 256
    return args


OPTIMIZERS = ("sgd", "adam", "adamw", "lamb", "rmsprop")
SCHEDULES = ("cosine", "constant")


def build_optimizer(args, steps_per_epoch, *, optimizer=None, epochs=None,
                    schedule=None, warmup_epochs=None):
    """Every recipe's optimizer and learning-rate schedule.

    The learning rate `--learning-rate` warms up linearly from 0 over
    `--warmup-epochs`, then follows a cosine decay to 0 at the end of
    `epochs` (Keras' `CosineDecay` with `warmup_target`), or stays constant
    (`--lr-schedule constant`). Flags a recipe does not have take their
    defaults (`--optimizer sgd`, `--lr-schedule cosine`, no warm-up, no
    weight decay, no momentum); a recipe whose optimizer is fixed by its
    reference passes it. SGD uses Nesterov momentum where `args.nesterov`
    is true, Adam and AdamW `args.beta_1` where set (0.9 otherwise), as a
    recipe's reference does. Call under `strategy.scope()`.

    Args:
        args: the parsed flags.
        steps_per_epoch: optimizer steps of one epoch.
        optimizer: one of `OPTIMIZERS`, instead of `--optimizer`. SGD,
            Adam, AdamW and LAMB apply `--weight-decay` (decoupled);
            RMSprop takes none. Defaults to `None`.
        epochs: the epochs the schedule spans, instead of `--epochs` (a
            second `fit` of another length). Defaults to `None`.
        schedule: `"cosine"` or `"constant"`, instead of `--lr-schedule`.
            Defaults to `None`.
        warmup_epochs: instead of `--warmup-epochs`. Defaults to `None`.

    Returns:
        A `keras.optimizers.Optimizer`.
    """
    import keras

    name = optimizer or getattr(args, "optimizer", "sgd")
    if name not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}. "
                         f"Received: optimizer={name!r}")
    kind = schedule or getattr(args, "lr_schedule", "cosine")
    if kind not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}. "
                         f"Received: schedule={kind!r}")
    epochs = args.epochs if epochs is None else epochs
    if warmup_epochs is None:
        warmup_epochs = getattr(args, "warmup_epochs", 0)
    rate = args.learning_rate
    total = max(1, epochs * steps_per_epoch)
    warmup = min(int(round(warmup_epochs * steps_per_epoch)), total - 1)
    if kind == "constant":
        if warmup:
            raise ValueError("a warm-up needs the cosine schedule. Received: "
                             f"schedule='constant', warmup_epochs="
                             f"{warmup_epochs}")
        learning_rate = rate
    elif warmup:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=total - warmup, warmup_target=rate,
            warmup_steps=warmup)
    else:
        learning_rate = keras.optimizers.schedules.CosineDecay(
            rate, decay_steps=total)
    wd = getattr(args, "weight_decay", 0.0) or None
    if name == "sgd":
        return keras.optimizers.SGD(
            learning_rate, momentum=getattr(args, "momentum", 0.0),
            nesterov=bool(getattr(args, "nesterov", False)), weight_decay=wd)
    beta_1 = getattr(args, "beta_1", 0.9)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=wd or 0.0,
                                      beta_1=beta_1)
    if name == "lamb":
        # Layer-wise adaptive (You et al. 2019): each layer's step is scaled
        # by ||w|| / ||update||, so the loss's scale does not set the step.
        return keras.optimizers.Lamb(learning_rate, weight_decay=wd)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    return keras.optimizers.Adam(learning_rate, weight_decay=wd,
                                 beta_1=beta_1)
