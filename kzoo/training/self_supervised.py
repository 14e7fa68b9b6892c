"""The self-supervised recipes' shared training: views, evaluation, loops.

`train_self_supervised` is what every SSL recipe does around its own
`fit` (random-init baseline, kNN monitor, final evaluation, export,
`metrics.json`); `run_pretext` is a whole pretext-task recipe.
"""

import time

from kzoo.training.backend import on_tensorflow
from kzoo.training.optimizers import build_optimizer
from kzoo.training.run import fit_summary
from kzoo.training.run import print_metrics
from kzoo.training.session import start
from kzoo.training.session import steps_per_epoch
from kzoo.training.strategy import evaluation_scope
from kzoo.training.strategy import sync_bn


def build_backbone(args, input_shape, strategy):
    """The `--backbone` of `kzoo.models` (call it under `strategy.scope()`)."""
    from kzoo import models

    build = {"resnet20": models.resnet20_cifar,
             "resnet18": models.resnet18_cifar,
             "vit_tiny": models.vit_tiny_cifar}[args.backbone]
    return build(input_shape=input_shape,
                 synchronized_bn=sync_bn(args, strategy))


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


def two_view_input(args, images, augmentation, initial_epoch=0):
    """The training input of a two-view recipe.

    `kzoo.data.two_view_dataset(images, ...)` (`tf.data`, the views made
    there; all `--epochs` from `initial_epoch` on, each keyed on
    `(--seed, epoch)`) when `augmentation` is `None`, else
    `kzoo.arrays.TwoViewArrays(images, ...)`: uint8 batches the model
    augments itself (no TensorFlow). Both shuffle every epoch from
    `--seed` and drop the last partial batch.
    """
    if augmentation is None:
        from kzoo import data

        return data.two_view_dataset(images, args.batch_size, seed=args.seed,
                                     epochs=args.epochs,
                                     initial_epoch=initial_epoch)
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


def run_two_view(args, prefix, build_model, optimizer=None,
                 before_export=None):
    """The whole `main` of a two-view recipe (SimSiam, SimCLR, Barlow Twins).

    Starts the run, builds the backbone and, under the strategy's scope,
    `build_model(backbone, synchronized_bn=..., augmentation=...)` (the
    augmentation is `None` on TensorFlow, where `tf.data` makes the views,
    else the in-step `pixel_view_augmentation`), compiles it with the one
    optimizer builder (`optimizer` fixes the recipe's optimizer, else
    `--optimizer`), feeds it two views of the training images and hands
    over to `train_self_supervised` (which evaluates, trains, exports and
    writes the metrics; `before_export(metrics)` may add figures).
    """
    strategy, run, train, test = start(args, prefix=prefix)
    steps = steps_per_epoch(len(train.images), args.batch_size)
    with strategy.scope():
        backbone = build_backbone(args, train.images.shape[1:], strategy)
        augmentation = view_augmentation(args)
        model = build_model(backbone,
                            synchronized_bn=sync_bn(args, strategy),
                            augmentation=augmentation)
        model.compile(
            optimizer=build_optimizer(args, steps, optimizer=optimizer),
            jit_compile=args.jit)
    dataset = two_view_input(args, train.images, augmentation,
                             run.initial_epoch())
    return train_self_supervised(args, strategy, run, train, test, backbone,
                                 model, dataset, steps,
                                 before_export=before_export)


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


def run_pretext(args, prefix, transform, build_model, loss, metrics=(),
                backbone_input_shape=None, encoder=None, before_export=None):
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
        before_export: `callable(metrics, model, test)` run after the final
            evaluation (e.g. to draw reconstructions). Defaults to `None`.

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
                              seed=args.seed, epochs=args.epochs,
                              initial_epoch=run.initial_epoch())
    def hook(metrics):
        if before_export is not None:
            before_export(metrics, model, test)

    return train_self_supervised(args, strategy, run, train, test, evaluated,
                                 model, ds, steps, before_export=hook)


def _augmented(transform):
    """`transform` after a random flip and shift of each image."""
    import tensorflow as tf

    from kzoo import data

    def apply(images, seed):
        s1, s2 = tf.unstack(tf.random.experimental.stateless_split(
            tf.cast(seed, tf.int64), 2))
        return transform(data.random_flip_and_translate(images, s1), s2)

    return apply
