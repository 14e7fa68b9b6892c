"""Siamese network with a contrastive loss, on scikit-learn's digits or CIFAR-10.

Reproduces keras-io's Keras 3 example "Image similarity estimation using a
Siamese Network with a contrastive loss"
(https://keras.io/examples/vision/siamese_contrastive/) at its
hyper-parameters, trained with the course's contrastive loss
`kzoo.losses.ContrastiveLoss`:

    L = 1/2 (1 - y) d**2 + 1/2 y max(0, m - d**2)     y = 0 similar, 1 dissimilar

(keras-io's own loss is `(1 - y) d**2 + y max(m - d, 0)**2`, Hadsell et
al.'s form: `--margin-on distance` gives it, up to the factor 1/2.)

keras-io's settings, checked in keras-io's
examples/vision/md/siamese_contrastive.md ("Last modified: 2026/01/28"):
10 epochs, batch 16, margin 1, RMSprop (Keras defaults: learning rate 1e-3);
the tower is BatchNormalization -> Conv2D(4, 5, tanh) -> AveragePooling2D(2)
-> Conv2D(16, 5, tanh) -> AveragePooling2D(2) -> Flatten ->
BatchNormalization -> Dense(10, tanh) on raw 0..255 pixels (no rescaling:
the first BatchNormalization standardises them; this tower is exported as
is); the first half of the training set trains, the second half validates
(here: a seeded half of each class, `--val-fraction`); every image makes
one similar and one dissimilar pair (labels 0 / 1); the model outputs
the Euclidean distance of the two embeddings, and its `accuracy` metric
counts a pair dissimilar when the output is > 0.5. It reports
`model.evaluate` accuracy 0.9577 on MNIST test pairs. Before keras-io PR
#2261 (January 2026) the distance went through BatchNormalization ->
Dense(1, sigmoid) and the loss was applied to that output: `--head sigmoid`
is that model (keras-io removed it because a sigmoid output never reaches
the margin). Measured here on digits at the defaults, it collapses: the
head learns a constant 0.5, where the loss of a balanced batch no longer
depends on the embeddings (test accuracy 0.50, ROC AUC 0.55, below the
0.79 of the untrained tower).

This recipe trains on scikit-learn's digits (embedded, no download; 8x8
upsampled to 32x32x3 by `kzoo.data.load_digits`) by default, or CIFAR-10
with `--dataset cifar10`, never on MNIST, so its figures are not keras-io's:
metrics.json records the dataset beside keras-io's 0.9577 (MNIST). Training
pairs come from `kzoo.data.pair_dataset` (`--pairs-per-example` = 2 pairs
per training image and epoch, half similar, redrawn every epoch; keras-io
draws its pairs once), validation and test pairs are a fixed set drawn with
`--eval-pair-seed`. Reported on the test pairs, each beside the same
evaluation of the same model at random initialisation (`random_init_*`):

* `test_accuracy`: keras-io's metric, the model output thresholded at 0.5;
* `verification_accuracy`: the L2 distance of the tower's embeddings,
  thresholded at the distance that is best on the validation pairs
  (`kzoo.eval.verification_accuracy`), and `roc_auc` of those distances;
* `cosine_verification_accuracy` / `cosine_roc_auc`: the same with the
  cosine distance, i.e. with the L2-normalised embeddings the exported
  SavedModel serves.

Wall times on 2 shared CPU cores: digits ~1.5 minutes; CIFAR-10 with
`--limit 20000` (10,000 train / 10,000 validation / 10,000 test images)
~15 minutes, about 2.5 times that without `--limit`.

    python recipes/siamese_contrastive.py                  # digits
    python recipes/siamese_contrastive.py --head sigmoid   # keras-io before #2261
    python recipes/siamese_contrastive.py --dataset cifar10 \
        --data-dir ../shared/datasets --limit 20000
"""

import argparse
import time

if __name__ == "__main__":
    import _backend  # recipes/_backend.py: kzoo on sys.path, --backend

    _backend.from_argv()  # before kzoo imports Keras

from kzoo import runs  # noqa: E402  (Keras; TensorFlow on its backend only)

KERAS_IO = "keras-io siamese_contrastive example"
KERAS_IO_ACCURACY = 0.9577  # model.evaluate on MNIST test pairs (keras-io)
EVAL_BATCH_SIZE = 256


def fraction(text):
    """argparse type: a float strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value}")
    return value


def parse_args(argv=None):
    parser = runs.recipe_parser(__doc__)
    runs.add_common_args(
        parser, dataset="digits", datasets=("digits", "cifar10"), epochs=10,
        batch_size=16, seed=0, output_dir=None, model_name=None,
        reference=KERAS_IO,
    )
    pairs = parser.add_argument_group("pairs")
    pairs.add_argument(
        "--val-fraction", type=fraction, default=0.5,
        help=f"fraction of each class of the training split held out for "
        f"validation pairs (which also choose the verification threshold). "
        f"Default: 0.5 ({KERAS_IO}: 30,000 of MNIST's 60,000).")
    pairs.add_argument(
        "--pairs-per-example", type=runs.positive_int, default=2,
        help=f"training pairs per training image and epoch, half of them "
        f"similar; also the number of validation and test pairs per image. "
        f"Default: 2 ({KERAS_IO}: one similar and one dissimilar pair per "
        f"image).")
    pairs.add_argument(
        "--eval-pair-seed", type=int, default=0,
        help="seed of the train/validation split and of the fixed validation "
        "and test pairs (kept apart from --seed, so runs with different "
        "seeds are scored on the same pairs). Default: 0.")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--head", choices=["distance", "sigmoid"], default="distance",
        help=f"what the loss and keras-io's accuracy see: 'distance', the "
        f"Euclidean distance of the two embeddings ({KERAS_IO} since its "
        f"PR #2261, the version reporting {KERAS_IO_ACCURACY}); 'sigmoid', "
        f"that distance through BatchNormalization and Dense(1, sigmoid) "
        f"({KERAS_IO} before PR #2261). Default: distance.")
    model.add_argument(
        "--embedding-dim", type=runs.positive_int, default=10,
        help=f"width of the tower's last Dense(tanh) layer. Default: 10 "
        f"({KERAS_IO}).")
    model.add_argument(
        "--tower-width", type=runs.positive_int, default=1,
        help=f"multiplies the filters of the tower's two convolutions "
        f"(4 and 16 at 1). Default: 1 ({KERAS_IO}).")
    loss = parser.add_argument_group("loss")
    loss.add_argument(
        "--margin", type=runs.positive_float, default=1.0,
        help=f"contrastive margin m. Default: 1 ({KERAS_IO}).")
    loss.add_argument(
        "--margin-on", choices=["squared-distance", "distance"],
        default="squared-distance",
        help=f"'squared-distance': max(0, m - d**2), the course's form "
        f"(kzoo.losses.ContrastiveLoss(squared_margin=True)); 'distance': "
        f"max(0, m - d)**2, Hadsell et al.'s and {KERAS_IO}'s form. "
        f"Default: squared-distance (the course).")
    opt = parser.add_argument_group("optimizer")
    opt.add_argument(
        "--learning-rate", type=runs.positive_float, default=1e-3,
        help=f"RMSprop learning rate. Default: 1e-3 ({KERAS_IO} uses "
        f"optimizer='RMSprop', Keras' defaults).")
    return parser.parse_args(argv)


def build_tower(input_shape, embedding_dim=10, width=1):
    """keras-io's embedding network, on raw 0..255 pixels of `input_shape`
    (`width` multiplies its convolutions' filters)."""
    import keras
    from keras import layers

    from kzoo import layers as kz_layers

    inputs = keras.Input(input_shape, name="images")
    x = kz_layers.BatchNormalization()(inputs)
    x = layers.Conv2D(4 * width, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16 * width, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = kz_layers.BatchNormalization()(x)
    x = layers.Dense(embedding_dim, activation="tanh")(x)
    return keras.Model(inputs, x, name="embedding")


def build_model(tower, head="distance"):
    """The siamese model: L2 distance, optionally through keras-io's old head."""
    import keras

    from kzoo import layers as kz_layers
    from kzoo import models

    siamese = models.siamese_network(tower, distance="l2", name="siamese")
    if head == "distance":
        return siamese
    if head != "sigmoid":
        raise ValueError(
            f"`head` must be 'distance' or 'sigmoid'. Received: head={head!r}")
    x = kz_layers.BatchNormalization(name="distance_bn")(siamese.output)
    x = keras.layers.Dense(1, activation="sigmoid", name="sigmoid")(x)
    return keras.Model(siamese.inputs, x, name="siamese_sigmoid")


def make_loss(args):
    from kzoo import losses

    return losses.ContrastiveLoss(
        margin=args.margin,
        squared_margin=args.margin_on == "squared-distance")


def make_accuracy():
    """keras-io's `accuracy`: a pair is predicted dissimilar (1) when the
    model output is > 0.5, similar (0) otherwise; the fraction right."""
    import keras

    return keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.5)


def fixed_pairs(labels, seed, pairs_per_example):
    """`kzoo.data.fixed_pairs`: a fixed set of pair indices `(i1, i2, y)`."""
    from kzoo import data

    return data.fixed_pairs(labels, seed, pairs_per_example)


def pair_images_dataset(images, pairs, batch_size):
    """`((x1, x2), y)` float32 batches of the fixed pairs `(i1, i2, y)`."""
    import tensorflow as tf

    images_t = tf.convert_to_tensor(images)
    i1, i2, y = (tf.constant(v) for v in pairs)

    def gather(idx):
        a = tf.cast(tf.gather(images_t, tf.gather(i1, idx)), tf.float32)
        b = tf.cast(tf.gather(images_t, tf.gather(i2, idx)), tf.float32)
        t = tf.cast(tf.gather(y, idx), tf.float32)[:, None]
        return (a, b), t

    ds = tf.data.Dataset.range(len(pairs[2])).batch(batch_size)
    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


def stratified_split(labels, val_fraction, seed):
    """Indices `(train, val)`: `val_fraction` of each class to validation."""
    import numpy as np

    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_fraction))
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    return np.sort(np.asarray(train, "int64")), np.sort(np.asarray(val, "int64"))


def pair_distances(embeddings, pairs):
    """`kzoo.eval.pair_distances`: L2 (`""`) and cosine (`"cosine_"`)."""
    from kzoo import eval as kz_eval

    return kz_eval.pair_distances(embeddings, pairs)


def main(argv=None):
    args = parse_args(argv)
    strategy, run, train_val, test = runs.start(
        args, prefix="siamese_contrastive")

    import numpy as np

    from kzoo import data, eval as kz_eval

    train_idx, val_idx = stratified_split(train_val.labels, args.val_fraction,
                                          args.eval_pair_seed)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise SystemExit(
            f"error: --val-fraction {args.val_fraction} leaves no "
            f"{'training' if len(train_idx) == 0 else 'validation'} images "
            f"out of {len(train_val.labels)}")
    x_train, y_train = train_val.images[train_idx], train_val.labels[train_idx]
    x_val, y_val = train_val.images[val_idx], train_val.labels[val_idx]
    del train_val
    image_shape = x_train.shape[1:]
    print(f"data ({args.dataset}): {len(x_train)} train / {len(x_val)} "
          f"validation / {len(test.images)} test images {image_shape}, "
          f"{len(test.class_names)} classes")

    val_pairs = fixed_pairs(y_val, args.eval_pair_seed + 1,
                            args.pairs_per_example)
    test_pairs = fixed_pairs(test.labels, args.eval_pair_seed + 2,
                             args.pairs_per_example)
    train_pairs_per_epoch = args.pairs_per_example * len(x_train)
    print(f"pairs: {train_pairs_per_epoch} train per epoch (redrawn), "
          f"{len(val_pairs[2])} validation, {len(test_pairs[2])} test (fixed)")
    val_ds = pair_images_dataset(x_val, val_pairs, EVAL_BATCH_SIZE)
    test_ds = pair_images_dataset(test.images, test_pairs, EVAL_BATCH_SIZE)

    with strategy.scope():
        tower = build_tower(image_shape, args.embedding_dim,
                            args.tower_width)
        model = build_model(tower, args.head)
        model.compile(
            optimizer=runs.build_optimizer(args, 1, optimizer="rmsprop",
                                           schedule="constant"),
            loss=make_loss(args), metrics=[make_accuracy()], jit_compile=args.jit)

    def evaluate(prefix):
        result = model.evaluate(test_ds, verbose=0, return_dict=True)
        val_e = kz_eval.embed(tower, x_val)
        test_e = kz_eval.embed(tower, test.images)
        val_d = pair_distances(val_e, val_pairs)
        test_d = pair_distances(test_e, test_pairs)
        similar = test_pairs[2] == 0
        out = {f"{prefix}test_accuracy": float(result["accuracy"]),
               f"{prefix}test_loss": float(result["loss"])}
        for kind in ("", "cosine_"):
            _, threshold = kz_eval.verification_accuracy(val_d[kind],
                                                         val_pairs[2])
            accuracy = float(np.mean((test_d[kind] <= threshold) == similar))
            out[f"{prefix}{kind}verification_accuracy"] = accuracy
            out[f"{prefix}{kind}verification_threshold"] = threshold
            out[f"{prefix}{kind}roc_auc"] = kz_eval.roc_auc(test_d[kind],
                                                            test_pairs[2])
        label = "random init" if prefix else "trained"
        print(f"{label}: keras-io accuracy {out[prefix + 'test_accuracy']:.4f}"
              f", verification accuracy "
              f"{out[prefix + 'verification_accuracy']:.4f} (L2), "
              f"{out[prefix + 'cosine_verification_accuracy']:.4f} (cosine), "
              f"ROC AUC {out[prefix + 'roc_auc']:.4f}")
        return out

    # The baseline: the same evaluations of the same model before training.
    metrics = evaluate("random_init_")

    # A training epoch is --pairs-per-example passes of the sampler.
    passes = args.pairs_per_example
    initial_epoch = run.initial_epoch()
    train_ds = data.pair_dataset(
        x_train, y_train, args.batch_size, seed=args.seed,
        epochs=args.epochs * passes, initial_epoch=initial_epoch * passes)
    fit_start = time.time()
    history = model.fit(
        train_ds, epochs=args.epochs,
        steps_per_epoch=passes * data.steps_per_epoch(
            train_ds, args.epochs * passes, initial_epoch * passes),
        validation_data=val_ds, callbacks=run.callbacks(), shuffle=False,
        verbose=run.verbose)
    fit_seconds = time.time() - fit_start
    epochs_run = len(history.history.get("loss", []))

    metrics.update(evaluate(""))
    metrics.update({
        "dataset": args.dataset,
        "keras_io_reference_accuracy": KERAS_IO_ACCURACY,
        "keras_io_reference_dataset": "mnist",
        "head": args.head,
        "loss": (f"ContrastiveLoss(margin={args.margin}, squared_margin="
                 f"{args.margin_on == 'squared-distance'})"),
        "final_loss": (history.history["loss"][-1] if epochs_run else None),
        "final_val_accuracy": (history.history["val_accuracy"][-1]
                               if epochs_run else None),
        "epochs": args.epochs,
        "epochs_run_in_this_process": epochs_run,
        "train_images": int(len(x_train)),
        "val_images": int(len(x_val)),
        "test_images": int(len(test.images)),
        "train_pairs_per_epoch": int(train_pairs_per_epoch),
        "val_pairs": int(len(val_pairs[2])),
        "test_pairs": int(len(test_pairs[2])),
        "fit_seconds": round(fit_seconds, 1),
        "train_pairs_per_second": (
            round(epochs_run * train_pairs_per_epoch / fit_seconds, 1)
            if epochs_run else None),
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
    })
    run.export_embeddings(tower, image_shape, metrics)
    run.finish(metrics)
    return metrics


if __name__ == "__main__":
    runs.main_guard(main)
