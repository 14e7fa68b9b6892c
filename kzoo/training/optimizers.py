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
